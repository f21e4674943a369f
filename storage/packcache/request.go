package packcache

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/gerritgate/gerritgate/internal/gitid"
)

// Bounds on what a cached request may hold; past them a request is left
// to git, so a client cannot make the cache key (and keep) huge requests.
const (
	maxRequest = 64 << 10 // bytes
	maxWants   = 256
)

// Canonical returns the bytes an upload-pack request to protocol version
// (0, 1 or 2) is kept under, and whether it is one this package keeps: a
// request git answers in one round without looking at what the client
// has. That is, in protocol v0 and v1, want lines (capabilities on the
// first), then any shallow and deepen lines, a flush and "done"; in v2, a
// fetch command whose arguments are only want, shallow, deepen and the
// options thin-pack, no-progress, include-tag, ofs-delta and
// sideband-all, with "done". A request with haves (a fetch that
// negotiates), a filter or want-ref, more than 256 wants, more than 64 KiB,
// or anything else not named here is not kept. The canonical form is the
// request less its agent= and session-id= capabilities and the newlines
// ending its lines, none of which changes git's answer.
func Canonical(version int, req []byte) ([]byte, bool) {
	if len(req) > maxRequest {
		return nil, false
	}
	pkts, ok := split(req)
	if !ok {
		return nil, false
	}
	if version == 2 {
		return canonicalV2(pkts)
	}
	return canonicalV0(pkts)
}

// canonicalV0: want lines (capabilities on the first), then shallow and
// deepen lines, a flush, "done\n" and nothing after.
func canonicalV0(pkts []pkt) ([]byte, bool) {
	var out []byte
	wants := 0
	i := 0
	for ; i < len(pkts) && !pkts[i].flush; i++ {
		l := chomp(pkts[i])
		switch {
		case strings.HasPrefix(l, "want "):
			if wants++; wants > maxWants || !oidLine(l, "want ", wants == 1) {
				return nil, false
			}
			if wants == 1 {
				l = dropCaps(l)
			}
		case strings.HasPrefix(l, "shallow "):
			if wants == 0 || !oidLine(l, "shallow ", false) {
				return nil, false
			}
		case strings.HasPrefix(l, "deepen "):
			if wants == 0 || !deepen(l) {
				return nil, false
			}
		default:
			return nil, false
		}
		out = appendPkt(out, l)
	}
	if wants == 0 || i+2 != len(pkts) || chomp(pkts[i+1]) != "done" {
		return nil, false
	}
	out = append(out, "0000"...)
	return appendPkt(out, "done"), true
}

// canonicalV2: "command=fetch", capabilities, a delimiter, the arguments
// with "done" among them, a flush.
func canonicalV2(pkts []pkt) ([]byte, bool) {
	if len(pkts) < 3 || chomp(pkts[0]) != "command=fetch" || !pkts[len(pkts)-1].flush {
		return nil, false
	}
	out := appendPkt(nil, "command=fetch")
	i := 1
	for ; i < len(pkts) && !pkts[i].special(); i++ {
		l := chomp(pkts[i])
		switch {
		case strings.HasPrefix(l, "agent="), strings.HasPrefix(l, "session-id="):
			continue
		case l == "object-format=sha1":
		default:
			return nil, false
		}
		out = appendPkt(out, l)
	}
	if i == len(pkts) || !pkts[i].delim {
		return nil, false
	}
	out = append(out, "0001"...)
	wants, done := 0, false
	for _, p := range pkts[i+1 : len(pkts)-1] {
		l := chomp(p)
		switch {
		case p.special() || done:
			return nil, false
		case strings.HasPrefix(l, "want "):
			if wants++; wants > maxWants || !oidLine(l, "want ", false) {
				return nil, false
			}
		case strings.HasPrefix(l, "shallow "):
			if !oidLine(l, "shallow ", false) {
				return nil, false
			}
		case strings.HasPrefix(l, "deepen "):
			if !deepen(l) {
				return nil, false
			}
		case l == "done":
			done = true
		case l == "thin-pack", l == "no-progress", l == "include-tag", l == "ofs-delta", l == "sideband-all":
		default:
			return nil, false
		}
		out = appendPkt(out, l)
	}
	if wants == 0 || !done {
		return nil, false
	}
	return append(out, "0000"...), true
}

// chomp returns a line without its newline: git reads requests so
// (PACKET_READ_CHOMP_NEWLINE), and clients differ in sending one.
func chomp(p pkt) string { return strings.TrimSuffix(string(p.data), "\n") }

// oidLine reports whether l (chomped) is prefix and a hex object id (with
// caps, then perhaps a space and capabilities).
func oidLine(l, prefix string, caps bool) bool {
	oid, _, hasCaps := strings.Cut(l[len(prefix):], " ")
	return gitid.IsObjectID(oid) && (caps || !hasCaps)
}

func deepen(l string) bool {
	n := strings.TrimPrefix(l, "deepen ")
	d, err := strconv.Atoi(n)
	return err == nil && d > 0 && strconv.Itoa(d) == n
}

// dropCaps removes agent= and session-id= from the capabilities of a
// first want line.
func dropCaps(l string) string {
	f := strings.Fields(l)
	kept := f[:0]
	for _, w := range f {
		if !strings.HasPrefix(w, "agent=") && !strings.HasPrefix(w, "session-id=") {
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, " ")
}

// pkt is one pkt-line: data, a flush (0000) or a delimiter (0001).
type pkt struct {
	data         []byte
	flush, delim bool
}

func (p pkt) special() bool { return p.flush || p.delim }

// split splits b into pkt-lines; a response-end packet, or anything but a
// sequence of well-formed pkt-lines, is refused.
func split(b []byte) ([]pkt, bool) {
	var out []pkt
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, false
		}
		n, err := strconv.ParseUint(string(b[:4]), 16, 16)
		switch {
		case err != nil:
			return nil, false
		case n == 0:
			out, b = append(out, pkt{flush: true}), b[4:]
			continue
		case n == 1:
			out, b = append(out, pkt{delim: true}), b[4:]
			continue
		case n < 5 || int(n) > len(b):
			return nil, false
		}
		out, b = append(out, pkt{data: bytes.Clone(b[4:n])}), b[n:]
	}
	return out, true
}

func pktHeader(n int) string { return fmt.Sprintf("%04x", n+4) }

func appendPkt(b []byte, s string) []byte {
	return append(append(b, pktHeader(len(s))...), s...)
}
