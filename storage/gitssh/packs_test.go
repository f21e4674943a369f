package gitssh_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/gitssh"
	"github.com/gerritgate/gerritgate/storage/packcache"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// cachedEnv serves over SSH with ref checks from memory and a pack cache,
// both told of every ref change, and counts the upload-packs the SSH
// server itself runs (the cache and the advertiser run their own git).
type cachedEnv struct {
	*env
	cache *packcache.Cache
	dir   string // the served repository
	runs  string // one line per upload-pack the server ran

	mu       sync.Mutex
	outcomes []string
}

func startCached(t *testing.T, l *uploadpack.Limiter, opts ...gitssh.Option) *cachedEnv {
	t.Helper()
	c := &cachedEnv{runs: filepath.Join(t.TempDir(), "runs")}
	wrapper := filepath.Join(t.TempDir(), "git")
	script := fmt.Sprintf("#!/bin/sh\necho run >>%q\nexec git \"$@\"\n", c.runs)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	c.cache, err = packcache.Open(filepath.Join(t.TempDir(), "packs"), 64<<20, packcache.WithObserver(func(o string) {
		c.mu.Lock()
		c.outcomes = append(c.outcomes, o)
		c.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	refs := refadv.New()
	c.env = start(t, append([]gitssh.Option{gitssh.WithLimiter(l), gitssh.WithAdvertiser(refs), gitssh.WithPackCache(c.cache), gitssh.WithGit(wrapper)}, opts...)...)
	c.store.NotifyRefs(func(dir string) {
		refs.Invalidate(dir)
		c.cache.Invalidate(dir)
	})
	if c.dir, err = c.store.ServedPath("platform/fleet"); err != nil {
		t.Fatal(err)
	}
	return c
}

// seen returns the pack cache's outcomes since the last call, less
// bypasses (requests it does not keep).
func (c *cachedEnv) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := slices.DeleteFunc(c.outcomes, func(o string) bool { return o == packcache.Bypass })
	c.outcomes = nil
	return o
}

// gitRuns is how many upload-packs the SSH server has run.
func (c *cachedEnv) gitRuns() int {
	b, _ := os.ReadFile(c.runs)
	return bytes.Count(b, []byte("run\n"))
}

func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// exchange is a conversation's input in parts: the client sends a part,
// then reads as much as git writes before it reads the next one.
type exchange []string

// transcript runs the exchange with git upload-pack itself (the
// reference), then over SSH, sending each part once the answer to the
// one before has been read whole, and returns both outputs.
func (c *cachedEnv) transcript(t *testing.T, protocol string, x exchange) (got, want []byte) {
	t.Helper()
	// How many flushes git has written after each part: run it with the
	// parts so far and a closed input, which ends every conversation where
	// it stands.
	var ends []int
	for i := range x {
		cmd := uploadpack.Command(context.Background(), "git", c.dir, protocol, uploadpack.Conversation)
		cmd.Stdin = strings.NewReader(strings.Join(x[:i+1], ""))
		want, _ = cmd.Output()
		ends = append(ends, flushes(want))
	}
	s, err := c.dial(t, c.flux).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if protocol != "" {
		s.Setenv("GIT_PROTOCOL", protocol)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
		t.Fatal(err)
	}
	// The advertisement comes before anything is sent.
	adv := reference(t, c.dir, protocol)
	got = make([]byte, len(adv))
	if _, err := io.ReadFull(stdout, got); err != nil {
		t.Fatalf("advertisement: %v", err)
	}
	for i, part := range x {
		io.WriteString(stdin, part)
		if i == len(x)-1 {
			stdin.Close()
			rest, _ := io.ReadAll(stdout)
			got = append(got, rest...)
			break
		}
		for flushes(got) < ends[i] {
			hdr := make([]byte, 4)
			if _, err := io.ReadFull(stdout, hdr); err != nil {
				t.Fatalf("after part %d: %v", i+1, err)
			}
			var n int
			fmt.Sscanf(string(hdr), "%04x", &n)
			b := make([]byte, max(n-4, 0))
			if _, err := io.ReadFull(stdout, b); err != nil {
				t.Fatalf("after part %d: %v", i+1, err)
			}
			got = append(append(got, hdr...), b...)
		}
	}
	s.Wait()
	return got, want
}

// checkTranscript runs the exchange (see transcript) and checks the
// outcomes of the pack cache and the upload-packs the server ran.
func (c *cachedEnv) checkTranscript(t *testing.T, name, protocol string, x exchange, outcomes []string, runs int) {
	t.Helper()
	before := c.gitRuns()
	got, want := c.transcript(t, protocol, x)
	if !bytes.Equal(demux(t, got), demux(t, want)) {
		t.Errorf("%s: read over SSH differs from git's\n got: %q\nwant: %q", name, trim(got), trim(want))
	}
	if !bytes.Contains(want, []byte("PACK")) && !bytes.Contains(want, []byte("ERR ")) && !strings.Contains(name, "ls-refs") {
		t.Errorf("%s: git's answer has neither a pack nor an error: %q", name, trim(want))
	}
	if o := c.seen(); !slices.Equal(o, outcomes) {
		t.Errorf("%s: pack cache outcomes %v, want %v", name, o, outcomes)
	}
	if n := c.gitRuns() - before; n != runs {
		t.Errorf("%s: the server ran %d upload-packs, want %d", name, n, runs)
	}
}

// demux returns a conversation's pkt-lines with each run of side-band 1
// packets (the pack) joined into one: how git cuts a pack into packets
// depends on how its pack-objects' output reached it, which varies from
// run to run of git itself, while every other byte does not.
func demux(t *testing.T, b []byte) []byte {
	t.Helper()
	var out, band []byte
	end := func() {
		if band != nil {
			out = fmt.Appendf(out, "[side-band 1: %d bytes]%s", len(band), band)
			band = nil
		}
	}
	for len(b) > 0 {
		var n uint64
		if len(b) < 4 {
			t.Fatalf("truncated pkt-line %q", b)
		}
		if _, err := fmt.Sscanf(string(b[:4]), "%04x", &n); err != nil || n == 3 || n > uint64(len(b)) {
			t.Fatalf("bad pkt-line %q", b[:min(len(b), 40)])
		}
		if n >= 5 && b[4] == 1 {
			band = append(band, b[5:n]...)
			b = b[n:]
			continue
		}
		end()
		out = append(out, b[:max(n, 4)]...)
		b = b[max(n, 4):]
	}
	end()
	return out
}

// flushes counts the flush packets of a conversation's pkt-lines.
func flushes(b []byte) int {
	n := 0
	for len(b) >= 4 {
		var l int
		fmt.Sscanf(string(b[:4]), "%04x", &l)
		if l == 0 {
			n++
		}
		b = b[min(max(l, 4), len(b)):]
	}
	return n
}

func trim(b []byte) []byte {
	if i := bytes.Index(b, []byte("PACK")); i >= 0 {
		return append(b[:i:i], "PACK..."...)
	}
	return b
}

// TestSSHConversationMatchesGit: a conversation answered from memory and
// the pack cache reads, byte for byte, what git upload-pack writes for
// the same input, whether the cache answers it (a clone, its repeat) or
// git (a negotiation, a want git refuses), and clients that wait for the
// shallow lines before saying "done" get them first.
func TestSSHConversationMatchesGit(t *testing.T) {
	c := startCached(t, uploadpack.NewLimiter(4, 4, 4))
	repo, err := c.store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	tip := c.sha
	parent, err := gitRun(t, repo.Dir(), nil, "rev-parse", tip+"^")
	if err != nil {
		t.Fatal(err)
	}
	parent = strings.TrimSpace(parent)
	flux := pkt("want "+tip+" multi_ack_detailed side-band-64k ofs-delta shallow no-progress\n") + pkt("deepen 1\n") + "0000"
	cgit := pkt("want "+tip+" multi_ack_detailed side-band-64k thin-pack no-progress ofs-delta deepen-since deepen-not agent=git/2.39.5\n") + pkt("deepen 1\n") + "0000"
	done := pkt("done\n")
	caps := pkt("command=ls-refs\n") + pkt("agent=git/2.39.5\n") + pkt("object-format=sha1\n") + "0001"
	lsClone := caps + pkt("peel\n") + pkt("symrefs\n") + pkt("unborn\n") + pkt("ref-prefix HEAD\n") + pkt("ref-prefix refs/heads/\n") + pkt("ref-prefix refs/tags/\n") + "0000"
	lsRemote := caps + pkt("symrefs\n") + "0000"
	fetch := func(args ...string) string {
		s := pkt("command=fetch") + pkt("agent=git/2.39.5") + pkt("object-format=sha1") + "0001"
		for _, a := range args {
			s += pkt(a)
		}
		return s + "0000"
	}
	clone := fetch("thin-pack", "no-progress", "include-tag", "ofs-delta", "deepen 1", "want "+tip+"\n", "done\n")
	const hit, miss = packcache.Hit, packcache.Miss
	tests := []struct {
		name, protocol string
		x              exchange
		outcomes       []string
		runs           int
	}{
		{"Flux's clone (go-git sends it all at once)", "", exchange{flux + done}, []string{miss}, 0},
		{"Flux's clone again", "", exchange{flux + done}, []string{hit}, 0},
		{"C git v0 clone, waiting for its shallow lines", "", exchange{cgit, done}, []string{miss}, 0},
		{"C git v0 clone again", "", exchange{cgit, done}, []string{hit}, 0},
		{"protocol v1 clone", "version=1", exchange{flux + done}, []string{miss}, 0},
		{"v0 full clone", "", exchange{pkt("want "+tip+" side-band-64k no-progress\n") + "0000" + done}, []string{miss}, 0},
		{"v0 shallow lines, then haves: git goes on", "", exchange{cgit, pkt("have "+parent+"\n") + done}, []string{hit}, 1},
		{"v0 want of a commit no ref points at: git refuses", "", exchange{pkt("want "+parent+" side-band-64k no-progress\n") + pkt("deepen 1\n") + "0000" + done}, nil, 1},
		{"v0 negotiation", "", exchange{pkt("want "+tip+" multi_ack_detailed side-band-64k no-progress\n") + "0000" + pkt("have "+parent+"\n") + "0000" + done}, nil, 1},
		{"v2 ls-refs", "version=2", exchange{lsRemote, lsClone, "0000"}, nil, 0},
		{"v2 clone: ls-refs and fetch", "version=2", exchange{lsClone, clone, "0000"}, []string{miss}, 0},
		{"v2 clone again", "version=2", exchange{lsClone, clone, "0000"}, []string{hit}, 0},
		{"v2 ls-refs longer than what is read before deciding: git", "version=2", exchange{caps + strings.Repeat(pkt("ref-prefix refs/heads/"+strings.Repeat("x", 100)+"\n"), 700) + "0000", "0000"}, nil, 1},
		{"v2 fetch with haves: git from there on", "version=2", exchange{lsClone, fetch("no-progress", "ofs-delta", "want "+tip+"\n", "have "+parent+"\n", "done\n"), lsRemote, "0000"}, nil, 1},
	}
	for _, tt := range tests {
		c.checkTranscript(t, tt.name, tt.protocol, tt.x, tt.outcomes, tt.runs)
	}
}

// cgitClone clones deploy/prod at depth 1 over SSH with C git speaking
// protocol proto, and returns the commit cloned.
func (c *cachedEnv) cgitClone(t *testing.T, proto, dst string) (string, error) {
	t.Helper()
	ssh := gitSSH(c.flux.file, c.knownHosts)
	if out, err := gitRun(t, "", []string{ssh}, "-c", "protocol.version="+proto, "clone", "-q", "--depth", "1", "-b", "deploy/prod", c.url("platform/fleet"), dst); err != nil {
		return out, err
	}
	out, err := gitRun(t, dst, nil, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

// advance moves deploy/prod from e.sha to a new child commit through
// storage (which tells what listens of the change) and returns it.
func (e *env) advance(t *testing.T) string {
	t.Helper()
	repo, err := e.store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := gitRun(t, repo.Dir(), nil, "hash-object", "-t", "tree", "-w", "/dev/null")
	next, err := gitRun(t, repo.Dir(), nil, "commit-tree", strings.TrimSpace(tree), "-p", e.sha, "-m", "advance")
	if err != nil {
		t.Fatal(err)
	}
	next = strings.TrimSpace(next)
	if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: plumbing.NewHash(e.sha), New: plumbing.NewHash(next)}); err != nil {
		t.Fatal(err)
	}
	return next
}

// TestSSHClonesFromTheCache: Flux and C git (protocols 0 and 2) clone at
// depth 1 over SSH twice each; the first computes the answer in the pack
// cache, the second reads it, and the server never runs upload-pack.
func TestSSHClonesFromTheCache(t *testing.T) {
	c := startCached(t, uploadpack.NewLimiter(4, 4, 4))
	clone := map[string]func() (string, error){
		"C git v0": func() (string, error) { return c.cgitClone(t, "0", filepath.Join(t.TempDir(), "c")) },
		"C git v2": func() (string, error) { return c.cgitClone(t, "2", filepath.Join(t.TempDir(), "c")) },
		"Flux": func() (string, error) {
			got, _, err := fluxCheck(t, c.env, "")
			return got, err
		},
	}
	for _, name := range []string{"Flux", "C git v0", "C git v2"} {
		for i, want := range []string{packcache.Miss, packcache.Hit} {
			got, err := clone[name]()
			if err != nil || got != c.sha {
				t.Fatalf("%s, clone %d: %s, %v; want %s", name, i+1, got, err, c.sha)
			}
			if o := c.seen(); !slices.Equal(o, []string{want}) {
				t.Errorf("%s, clone %d: pack outcomes %v, want [%s]", name, i+1, o, want)
			}
		}
	}
	if n := c.gitRuns(); n != 0 {
		t.Errorf("the server ran upload-pack %d times, want none", n)
	}
}

// TestSSHAfterAdvanceNoOldTip: with the old tip's clones in the pack
// cache, an advance; from then on every SSH client (ls-remote, Flux's
// clone, C git's clones and fetch, in protocols 0 and 2) gets the new tip,
// and the clones the service prepares at the advance are read from the
// cache.
func TestSSHAfterAdvanceNoOldTip(t *testing.T) {
	c := startCached(t, uploadpack.NewLimiter(4, 4, 4))
	old := c.sha
	v2 := filepath.Join(t.TempDir(), "v2")
	if got, err := c.cgitClone(t, "2", v2); err != nil || got != old {
		t.Fatalf("C git v2 clone before the advance: %s, %v", got, err)
	}
	if got, _, err := fluxCheck(t, c.env, ""); err != nil || got != old {
		t.Fatalf("Flux clone before the advance: %s, %v", got, err)
	}
	next := c.advance(t)
	if err := c.cache.Prepare(context.Background(), c.dir); err != nil {
		t.Fatal(err)
	}
	c.seen()
	ssh := gitSSH(c.flux.file, c.knownHosts)
	for _, proto := range []string{"0", "2"} {
		out, err := gitRun(t, "", []string{ssh}, "-c", "protocol.version="+proto, "ls-remote", c.url("platform/fleet"), "deploy/prod")
		if err != nil || strings.TrimSpace(out) != next+"\trefs/heads/deploy/prod" {
			t.Errorf("protocol %s ls-remote after the advance: %q, %v; want %s", proto, out, err, next)
		}
	}
	if got, cloned, err := fluxCheck(t, c.env, old); err != nil || !cloned || got != next {
		t.Errorf("Flux, having seen the old tip, after the advance: %s (cloned %v), %v; want a clone of %s", got, cloned, err, next)
	}
	if o := c.seen(); !slices.Equal(o, []string{packcache.Hit}) {
		t.Errorf("Flux's first clone after the advance: pack outcomes %v, want [hit] (prepared)", o)
	}
	if got, err := c.cgitClone(t, "2", filepath.Join(t.TempDir(), "c")); err != nil || got != next {
		t.Errorf("C git v2 clone after the advance: %s, %v; want %s", got, err, next)
	}
	if o := c.seen(); !slices.Equal(o, []string{packcache.Hit}) {
		t.Errorf("C git v2's first clone after the advance: pack outcomes %v, want [hit] (prepared)", o)
	}
	if got, err := c.cgitClone(t, "0", filepath.Join(t.TempDir(), "c")); err != nil || got != next {
		t.Errorf("C git v0 clone after the advance: %s, %v; want %s", got, err, next)
	}
	if out, err := gitRun(t, v2, []string{ssh}, "-c", "protocol.version=2", "fetch", "-q", "--depth", "1", "origin", "deploy/prod"); err != nil {
		t.Errorf("C git v2 fetch after the advance: %v\n%s", err, out)
	}
	if got, _ := gitRun(t, v2, nil, "rev-parse", "FETCH_HEAD"); strings.TrimSpace(got) != next {
		t.Errorf("C git v2 fetch after the advance fetched %q, want %s", got, next)
	}
	t.Logf("pack cache outcomes of the v0 clone and the v2 fetch: %v", c.seen())
}

// TestSSHStalledRequestHoldsNothing: a client that sends part of its
// wants (v0) or of a command (v2) and then nothing is cut off after the
// idle timeout, holding no clone slot and starting no git meanwhile,
// though SSH keepalives keep its connection busy.
func TestSSHStalledRequestHoldsNothing(t *testing.T) {
	for _, tt := range []struct{ protocol, part string }{
		{"", pkt("want 0123456789012345678901234567890123456789 side-band-64k\n") + "0032want 01234"},
		{"version=2", pkt("command=fetch") + "0001" + pkt("deepen 1")},
	} {
		l := uploadpack.NewLimiter(1, 1, 1)
		var mu sync.Mutex
		var outcomes []string
		c := startCached(t, l, gitssh.WithIdleTimeout(time.Second), gitssh.WithObserver(func(_, o string) {
			mu.Lock()
			outcomes = append(outcomes, o)
			mu.Unlock()
		}))
		cl := c.dial(t, c.flux)
		s, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if tt.protocol != "" {
			s.Setenv("GIT_PROTOCOL", tt.protocol)
		}
		stdin, _ := s.StdinPipe()
		defer stdin.Close()
		stdout, _ := s.StdoutPipe()
		if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
			t.Fatal(err)
		}
		io.WriteString(stdin, tt.part)
		ended := make(chan struct{})
		go func() { io.Copy(io.Discard, stdout); s.Wait(); close(ended) }()
		keepAliveUntil(t, cl, ended, l, fmt.Sprintf("protocol %q: a client still sending its request", tt.protocol))
		eventually(t, "the outcome is observed", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(outcomes) > 0
		})
		mu.Lock()
		if len(outcomes) != 1 || outcomes[0] != "timeout" {
			t.Errorf("protocol %q: outcomes %q, want [timeout]", tt.protocol, outcomes)
		}
		mu.Unlock()
		if n := c.gitRuns(); n != 0 {
			t.Errorf("protocol %q: %d upload-packs ran for a request never finished", tt.protocol, n)
		}
	}
}

// TestSSHSlowCacheComputationKeepsConnection: while the pack cache
// computes an answer for longer than the idle timeout, the client hears
// nothing of git; SSH keepalives keep the connection open and the clone
// succeeds.
func TestSSHSlowCacheComputationKeepsConnection(t *testing.T) {
	slow := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\ncase \"$*\" in *upload-pack*) sleep 3;; esac\nexec git \"$@\"\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache, err := packcache.Open(filepath.Join(t.TempDir(), "packs"), 64<<20, packcache.WithGit(slow))
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, gitssh.WithLimiter(uploadpack.NewLimiter(4, 4, 4)), gitssh.WithAdvertiser(refadv.New()),
		gitssh.WithPackCache(cache), gitssh.WithIdleTimeout(time.Second))
	c := &cachedEnv{env: e}
	if got, err := c.cgitClone(t, "2", filepath.Join(t.TempDir(), "c")); err != nil || got != e.sha {
		t.Errorf("C git v2 clone while the cache computes for 3s, idle timeout 1s: %s, %v; want %s", got, err, e.sha)
	}
	if got, _, err := fluxCheck(t, e, ""); err != nil || got != e.sha {
		t.Errorf("Flux clone while the cache computes for 3s, idle timeout 1s: %s, %v; want %s", got, err, e.sha)
	}
}

// TestSSHClientGoneDuringCacheComputation: a client that hangs up while
// the pack cache computes its answer ends its session at once, not when
// the computation does.
func TestSSHClientGoneDuringCacheComputation(t *testing.T) {
	slow := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\ncase \"$*\" in *upload-pack*) sleep 5;; esac\nexec git \"$@\"\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache, err := packcache.Open(filepath.Join(t.TempDir(), "packs"), 64<<20, packcache.WithGit(slow))
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan string, 1)
	e := start(t, gitssh.WithLimiter(uploadpack.NewLimiter(4, 4, 4)), gitssh.WithAdvertiser(refadv.New()),
		gitssh.WithPackCache(cache), gitssh.WithObserver(func(_, o string) { ended <- o }))
	cl := e.dial(t, e.flux)
	s, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
		t.Fatal(err)
	}
	dir, err := e.store.ServedPath("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	adv := make([]byte, len(reference(t, dir, "")))
	io.ReadFull(stdout, adv)
	io.WriteString(stdin, pkt("want "+e.sha+" side-band-64k no-progress\n")+pkt("deepen 1\n")+"0000")
	time.Sleep(500 * time.Millisecond) // the computation has begun
	start := time.Now()
	cl.Close()
	select {
	case o := <-ended:
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("session ended %v after the client hung up (outcome %s), want at once (the computation takes 5s)", d.Round(time.Millisecond), o)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("session never ended")
	}
}
