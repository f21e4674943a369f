package packcache_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/storage/packcache"
)

const tip = "022f6321a7db98b50c84e221a9a8ca322269c0a4"

func pkts(lines ...string) []byte {
	var b []byte
	for _, l := range lines {
		switch l {
		case "0000", "0001", "0002":
			b = append(b, l...)
		default:
			b = fmt.Appendf(b, "%04x%s", len(l)+4, l)
		}
	}
	return b
}

// What the clients send for a depth-1 clone (captured from Flux's go-git
// and C git 2.39; TestPreparedRequestsAreTheClients' checks them again).
var (
	fluxClone = pkts("want "+tip+" multi_ack_detailed side-band-64k ofs-delta agent=go-git/5.x shallow no-progress\n", "deepen 1\n", "0000", "done\n")
	gitV0     = pkts("want "+tip+" multi_ack_detailed no-done side-band-64k thin-pack no-progress include-tag ofs-delta deepen-since deepen-not agent=git/2.39.5\n", "deepen 1\n", "0000", "done\n")
	gitV2     = pkts("command=fetch", "agent=git/2.39.5", "object-format=sha1", "0001", "thin-pack", "no-progress", "include-tag", "ofs-delta", "deepen 1", "want "+tip+"\n", "done\n", "0000")
)

func TestCanonical(t *testing.T) {
	manyWants := []string{}
	for i := 0; i < 257; i++ {
		manyWants = append(manyWants, "want "+tip+"\n")
	}
	tests := []struct {
		name    string
		version int
		req     []byte
		kept    bool
	}{
		{"flux depth-1 clone", 0, fluxClone, true},
		{"C git v0 depth-1 clone, second round", 0, gitV0, true},
		{"C git v0 first round (no done: shallow info only)", 0, pkts("want "+tip+" side-band-64k\n", "deepen 1\n", "0000"), false},
		{"C git v2 depth-1 clone", 2, gitV2, true},
		{"v1 is v0's format", 1, fluxClone, true},
		{"full clone without deepen", 0, pkts("want "+tip+" ofs-delta\n", "0000", "done\n"), true},
		{"v0 with a have (negotiation)", 0, pkts("want "+tip+"\n", "0000", "have "+tip+"\n", "done\n"), false},
		{"v2 with a have", 2, pkts("command=fetch", "0001", "want "+tip+"\n", "have "+tip+"\n", "done\n", "0000"), false},
		{"v2 without done", 2, pkts("command=fetch", "0001", "want "+tip+"\n", "0000"), false},
		{"v2 filter", 2, pkts("command=fetch", "0001", "want "+tip+"\n", "filter blob:none\n", "done\n", "0000"), false},
		{"v2 want-ref", 2, pkts("command=fetch", "0001", "want-ref refs/heads/x\n", "done\n", "0000"), false},
		{"v2 ls-refs", 2, pkts("command=ls-refs", "0001", "peel\n", "0000"), false},
		{"v2 unknown capability", 2, pkts("command=fetch", "object-format=sha256", "0001", "want "+tip+"\n", "done\n", "0000"), false},
		{"v2 after done", 2, pkts("command=fetch", "0001", "want "+tip+"\n", "done\n", "thin-pack\n", "0000"), false},
		{"v0 deepen-since", 0, pkts("want "+tip+"\n", "deepen-since 1\n", "0000", "done\n"), false},
		{"v0 deepen 0", 0, pkts("want "+tip+"\n", "deepen 0\n", "0000", "done\n"), false},
		{"v0 deepen 01", 0, pkts("want "+tip+"\n", "deepen 01\n", "0000", "done\n"), false},
		{"v0 short oid", 0, pkts("want 022f\n", "0000", "done\n"), false},
		{"v0 capabilities on a second want", 0, pkts("want "+tip+"\n", "want "+tip+" ofs-delta\n", "0000", "done\n"), false},
		{"v0 anything after done", 0, append(bytes.Clone(fluxClone), "0000"...), false},
		{"v0 shallow before any want", 0, pkts("shallow "+tip+"\n", "want "+tip+"\n", "0000", "done\n"), false},
		{"256 wants", 2, pkts(append(append([]string{"command=fetch", "0001"}, manyWants[:256]...), "done\n", "0000")...), true},
		{"257 wants", 2, pkts(append(append([]string{"command=fetch", "0001"}, manyWants...), "done\n", "0000")...), false},
		{"over 64 KiB", 2, pkts("command=fetch", "0001", "want "+tip+"\n", strings.Repeat("x", 65000), strings.Repeat("x", 1000), "done\n", "0000"), false},
		{"response-end packet", 2, pkts("command=fetch", "0001", "want "+tip+"\n", "done\n", "0002"), false},
		{"truncated", 0, fluxClone[:len(fluxClone)-1], false},
		{"empty", 0, nil, false},
	}
	for _, tt := range tests {
		_, kept := packcache.Canonical(tt.version, tt.req)
		if kept != tt.kept {
			t.Errorf("%s: Canonical kept = %v, want %v", tt.name, kept, tt.kept)
		}
	}
}

// TestCanonicalLeavesOutTheAgentOnly: two clients differing only in their
// agent (and session id) share a key; any other difference does not.
func TestCanonicalLeavesOutTheAgentOnly(t *testing.T) {
	tests := []struct {
		name    string
		version int
		a, b    []byte
		same    bool
	}{
		{"v0 agents", 0, fluxClone, bytes.Replace(fluxClone, []byte("agent=go-git/5.x"), []byte("agent=go-git/6.0"), 1), true},
		{"v0 session id", 0, pkts("want "+tip+" ofs-delta agent=a\n", "0000", "done\n"), pkts("want "+tip+" ofs-delta session-id=x\n", "0000", "done\n"), true},
		{"v2 agents", 2, gitV2, bytes.Replace(gitV2, []byte("0014agent=git/2.39.5"), []byte("0014agent=git/2.47.1"), 1), true},
		{"v2 without agent", 2, gitV2, bytes.Replace(gitV2, []byte("0014agent=git/2.39.5"), nil, 1), true},
		{"v0 depth", 0, fluxClone, bytes.Replace(fluxClone, []byte("000ddeepen 1\n"), []byte("000ddeepen 2\n"), 1), false},
		{"v0 capabilities", 0, fluxClone, bytes.Replace(fluxClone, []byte(" no-progress"), []byte(" include-tag"), 1), false},
		{"v2 include-tag", 2, gitV2, bytes.Replace(gitV2, []byte("000finclude-tag"), nil, 1), false},
		{"v2 newlines", 2, gitV2, bytes.Replace(gitV2, []byte("000fno-progress"), []byte("0010no-progress\n"), 1), true},
		{"v0 newlines", 0, fluxClone, bytes.Replace(fluxClone, []byte("0009done\n"), []byte("0008done"), 1), true},
	}
	for _, tt := range tests {
		a, okA := packcache.Canonical(tt.version, tt.a)
		b, okB := packcache.Canonical(tt.version, tt.b)
		if !okA || !okB {
			t.Fatalf("%s: not kept (%v, %v)", tt.name, okA, okB)
		}
		if got := bytes.Equal(a, b); got != tt.same {
			t.Errorf("%s: same canonical form = %v, want %v:\n%q\n%q", tt.name, got, tt.same, a, b)
		}
	}
}
