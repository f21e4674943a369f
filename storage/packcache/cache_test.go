package packcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/packcache"
	"github.com/gerritgate/gerritgate/storage/storagetest"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// fixture is a served repository at deploy/prod and a cache told of its
// changes.
type fixture struct {
	served storagetest.Served
	repo   *storage.Repo
	cache  *packcache.Cache
	dir    string // the cache's
	mu     sync.Mutex
	seen   []string // outcomes observed
}

func newFixture(t *testing.T, max int64, opts ...packcache.Option) *fixture {
	t.Helper()
	f := &fixture{served: storagetest.Serve(t, "platform/fleet"), dir: filepath.Join(t.TempDir(), "packs")}
	var err error
	if f.repo, err = f.served.Store.Served("platform/fleet"); err != nil {
		t.Fatal(err)
	}
	opts = append([]packcache.Option{packcache.WithObserver(func(o string) {
		f.mu.Lock()
		f.seen = append(f.seen, o)
		f.mu.Unlock()
	})}, opts...)
	if f.cache, err = packcache.Open(f.dir, max, opts...); err != nil {
		t.Fatal(err)
	}
	f.served.Store.NotifyRefs(f.cache.Invalidate)
	return f
}

// outcomes returns the outcomes observed since the last call.
func (f *fixture) outcomes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.seen
	f.seen = nil
	return o
}

// fluxRequest is Flux's depth-1 clone of tip.
func fluxRequest(tip string) []byte {
	return bytes.ReplaceAll(fluxClone, []byte(tipConst), []byte(tip))
}

func gitV2Request(tip string) []byte { return bytes.ReplaceAll(gitV2, []byte(tipConst), []byte(tip)) }

const tipConst = tip

// direct is what git upload-pack itself answers.
func direct(t *testing.T, dir, protocol string, req []byte) []byte {
	t.Helper()
	cmd := uploadpack.Command(context.Background(), "git", dir, protocol, uploadpack.Request)
	cmd.Stdin = bytes.NewReader(req)
	var stderr uploadpack.Stderr
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("upload-pack: %v", stderr.Wrap(err))
	}
	return out
}

// same reports whether two answers of upload-pack say the same: the same
// lines and the same pack and progress once the side bands are joined.
// Two runs of git on the same request may cut the pack into side-band
// packets at different places (how fast pack-objects' output arrives), so
// only an answer kept and served again is the same bytes.
func same(a, b []byte) bool {
	da, oka := demux(a)
	db, okb := demux(b)
	return oka && okb && slices.Equal(da, db)
}

// demux returns an answer's text lines, then its band 1 (pack) and band 2
// (progress) data joined.
func demux(b []byte) ([]string, bool) {
	var lines []string
	var bands [4][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, false
		}
		var n int
		if _, err := fmt.Sscanf(string(b[:4]), "%04x", &n); err != nil {
			return nil, false
		}
		if n < 4 {
			lines, b = append(lines, string(b[:4])), b[4:]
			continue
		}
		if n > len(b) {
			return nil, false
		}
		d := b[4:n]
		if len(d) > 0 && d[0] >= 1 && d[0] <= 3 {
			bands[d[0]] = append(bands[d[0]], d[1:]...)
		} else {
			lines = append(lines, string(d))
		}
		b = b[n:]
	}
	return append(lines, string(bands[1]), string(bands[2]), string(bands[3])), true
}

// advance moves deploy/prod to the commit the upstream has beyond it.
func (f *fixture) advance(t *testing.T) {
	t.Helper()
	up, err := f.served.Store.Upstream("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	h := plumbing.NewHash(f.served.Ungated)
	if err := storage.CopyObjects(context.Background(), f.repo, up, h); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: plumbing.NewHash(f.served.Gated), New: h}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) serve(t *testing.T, protocol string, req []byte) (bool, []byte) {
	t.Helper()
	var out bytes.Buffer
	served, err := f.cache.Serve(context.Background(), f.repo.Dir(), protocol, req, &out)
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !served && out.Len() > 0 {
		t.Fatalf("Serve returned false having written %d bytes", out.Len())
	}
	return served, out.Bytes()
}

// kept lists the cache directory's files.
func (f *fixture) kept(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestServeIsGitsAnswer: the first request computes and keeps the answer,
// the second is served from the file, and both are byte for byte what git
// upload-pack answers, for Flux's and C git's requests; a request that is
// not kept is left to git.
func TestServeIsGitsAnswer(t *testing.T) {
	f := newFixture(t, 1<<20)
	tests := []struct {
		name, protocol string
		req            []byte
	}{
		{"flux v0", "", fluxRequest(f.served.Gated)},
		{"C git v2", "version=2", gitV2Request(f.served.Gated)},
	}
	for _, tt := range tests {
		want := direct(t, f.repo.Dir(), tt.protocol, tt.req)
		if !bytes.Contains(want, []byte("PACK")) {
			t.Fatalf("%s: git's answer has no pack: %q", tt.name, want)
		}
		var first []byte
		for i, wantOutcome := range []string{packcache.Miss, packcache.Hit} {
			served, got := f.serve(t, tt.protocol, tt.req)
			if first == nil {
				first = got
			}
			if !bytes.Equal(got, first) {
				t.Errorf("%s: the kept answer served is not byte for byte the one computed:\n%q\n%q", tt.name, got, first)
			}
			if !served || !same(got, want) {
				t.Errorf("%s, request %d: served %v, %d bytes equal to git's %d: %v\n%q\n%q", tt.name, i+1, served, len(got), len(want), same(got, want), got, want)
			}
			if o := f.outcomes(); !slices.Equal(o, []string{wantOutcome}) {
				t.Errorf("%s, request %d: outcomes %v, want [%s]", tt.name, i+1, o, wantOutcome)
			}
		}
	}
	if served, _ := f.serve(t, "", pkts("want "+f.served.Gated+"\n", "0000", "have "+f.served.Gated+"\n", "done\n")); served {
		t.Error("a request with haves was served from the cache")
	}
	if o := f.outcomes(); !slices.Equal(o, []string{packcache.Bypass}) {
		t.Errorf("request with haves: outcomes %v, want [bypass]", o)
	}
}

// TestAdvanceChangesTheKey: after deploy/prod moves, the same request is
// not answered from the answer kept before but computed again at the new
// state of the refs (git serves the old tip still, reachable from the new
// one, in a stateless request), and the new tip's clone is computed at
// the new state.
func TestAdvanceChangesTheKey(t *testing.T) {
	f := newFixture(t, 1<<20)
	old := fluxRequest(f.served.Gated)
	if served, _ := f.serve(t, "", old); !served {
		t.Fatal("first clone not served")
	}
	f.advance(t)
	f.outcomes()
	f.serve(t, "", old)
	if o := f.outcomes(); !slices.Equal(o, []string{packcache.Miss}) {
		t.Errorf("old request after the advance: outcomes %v, want [miss]: the answer kept before the advance was used", o)
	}
	served, got := f.serve(t, "", fluxRequest(f.served.Ungated))
	if want := direct(t, f.repo.Dir(), "", fluxRequest(f.served.Ungated)); !served || !same(got, want) {
		t.Errorf("new tip: served %v, same as git's answer %v", served, same(got, want))
	}
}

// TestRefsChangedWhileGitRanAreNotKept: when the refs on disk change
// while git computes (here git itself is made to move a ref first),
// the answer is not kept under the state read before.
func TestRefsChangedWhileGitRanAreNotKept(t *testing.T) {
	f := newFixture(t, 1<<20, packcache.WithGit(wrapGit(t, `case "$*" in *upload-pack*) git --git-dir "${@: -1}" update-ref refs/heads/other HEAD ;; esac`)))
	if served, _ := f.serve(t, "", fluxRequest(f.served.Gated)); served {
		t.Error("an answer computed while the refs changed was served from the cache")
	}
	if k := f.kept(t); len(k) != 0 {
		t.Errorf("cache holds %v after refs changed during the computation, want nothing", k)
	}
}

// wrapGit writes a git that runs script (bash, with git's arguments) and
// then the real git.
func wrapGit(t *testing.T, script string) string {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "git")
	body := fmt.Sprintf("#!/bin/bash\nPATH=%s:$PATH\n%s\nexec %s \"$@\"\n", filepath.Dir(real), script, real)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConcurrentIdenticalRequestsComputeOnce: of many identical requests
// at once, one runs git, the others wait and get the same bytes.
func TestConcurrentIdenticalRequestsComputeOnce(t *testing.T) {
	log := filepath.Join(t.TempDir(), "runs")
	f := newFixture(t, 1<<20, packcache.WithGit(wrapGit(t, `case "$*" in *upload-pack*) echo run >> `+log+`; sleep 0.5 ;; esac`)))
	req := fluxRequest(f.served.Gated)
	want := direct(t, f.repo.Dir(), "", req)
	const n = 8
	var wg sync.WaitGroup
	got := make([][]byte, n)
	for i := range n {
		wg.Go(func() {
			var out bytes.Buffer
			if served, err := f.cache.Serve(context.Background(), f.repo.Dir(), "", req, &out); !served || err != nil {
				t.Errorf("request %d: served %v, %v", i, served, err)
			}
			got[i] = out.Bytes()
		})
	}
	wg.Wait()
	for i, g := range got {
		if !bytes.Equal(g, got[0]) || !same(g, want) {
			t.Errorf("request %d: %d bytes, not git's %d", i, len(g), len(want))
		}
	}
	runs, _ := os.ReadFile(log)
	if c := strings.Count(string(runs), "run"); c != 1 {
		t.Errorf("git upload-pack ran %d times for %d identical requests, want 1", c, n)
	}
	o := f.outcomes()
	slices.Sort(o)
	if want := append([]string{packcache.Hit, packcache.Hit, packcache.Hit, packcache.Hit, packcache.Hit, packcache.Hit, packcache.Hit}, packcache.Miss); !slices.Equal(o, want) {
		t.Errorf("outcomes %v, want %v", o, want)
	}
}

// TestFailedComputationIsNotKept: when git fails, no request is served
// from the cache (each caller runs git itself) and nothing is kept.
func TestFailedComputationIsNotKept(t *testing.T) {
	f := newFixture(t, 1<<20, packcache.WithGit(wrapGit(t, `case "$*" in *upload-pack*) sleep 0.3; echo broken; exit 1 ;; esac`)))
	req := fluxRequest(f.served.Gated)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			var out bytes.Buffer
			if served, err := f.cache.Serve(context.Background(), f.repo.Dir(), "", req, &out); served || err != nil || out.Len() > 0 {
				t.Errorf("request %d: served %v, %v, %d bytes written; want false and nothing written", i, served, err, out.Len())
			}
		})
	}
	wg.Wait()
	if k := f.kept(t); len(k) != 0 {
		t.Errorf("cache holds %v after a failed computation", k)
	}
}

// TestEvictionKeepsTheBound: answers beyond the bound push out the least
// recently used; the directory never holds more than the bound.
func TestEvictionKeepsTheBound(t *testing.T) {
	probe := newFixture(t, 1<<20)
	probe.serve(t, "", fluxRequest(probe.served.Gated))
	one := probe.cache.Used()
	if one == 0 {
		t.Fatal("nothing kept")
	}
	f := newFixture(t, 2*one+one/2) // room for two answers of about that size
	depth := func(d int) []byte {
		return pkts("want "+f.served.Gated+" side-band-64k ofs-delta no-progress\n", fmt.Sprintf("deepen %d\n", d), "0000", "done\n")
	}
	for d := 1; d <= 5; d++ {
		if served, _ := f.serve(t, "", depth(d)); !served {
			t.Fatalf("depth %d not served", d)
		}
		var size int64
		for _, name := range f.kept(t) {
			info, err := os.Stat(filepath.Join(f.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			size += info.Size()
		}
		if size > 2*one+one/2 || size != f.cache.Used() {
			t.Errorf("after %d answers: %d bytes on disk (Used %d), bound %d", d, size, f.cache.Used(), 2*one+one/2)
		}
	}
	f.outcomes()
	f.serve(t, "", depth(5))
	f.serve(t, "", depth(1))
	if o := f.outcomes(); !slices.Equal(o, []string{packcache.Hit, packcache.Miss}) {
		t.Errorf("most recent answer then the first: outcomes %v, want [hit miss] (the first was evicted)", o)
	}
	// An answer larger than the whole bound is computed but not kept.
	tiny := newFixture(t, 10)
	if served, _ := tiny.serve(t, "", fluxRequest(tiny.served.Gated)); served {
		t.Error("an answer larger than the cache was served from it")
	}
	if k := tiny.kept(t); len(k) != 0 {
		t.Errorf("a cache of 10 bytes holds %v", k)
	}
	// ... and not computed again: git alone answers it from then on.
	tiny.outcomes()
	if served, _ := tiny.serve(t, "", fluxRequest(tiny.served.Gated)); served {
		t.Error("an answer larger than the cache was served from it")
	}
	if o := tiny.outcomes(); !slices.Equal(o, []string{packcache.Bypass}) {
		t.Errorf("the too large answer asked again: outcomes %v, want [bypass]", o)
	}
}

// TestDamagedFileIsComputedAgain: a kept file changed on disk (one byte of
// the pack, or cut short as by a crash) is detected before anything is
// sent, removed, and the answer computed again.
func TestDamagedFileIsComputedAgain(t *testing.T) {
	damage := []struct {
		name string
		do   func(p string) error
	}{
		{"one byte flipped", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			i := bytes.Index(b, []byte("PACK")) + 20
			b[i] ^= 0x40
			return os.WriteFile(p, b, 0o600)
		}},
		{"cut short", func(p string) error {
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, info.Size()/2)
		}},
		{"emptied", func(p string) error { return os.Truncate(p, 0) }},
	}
	for _, d := range damage {
		f := newFixture(t, 1<<20)
		req := fluxRequest(f.served.Gated)
		want := direct(t, f.repo.Dir(), "", req)
		f.serve(t, "", req)
		k := f.kept(t)
		if len(k) != 1 {
			t.Fatalf("%s: kept %v, want one file", d.name, k)
		}
		if err := d.do(filepath.Join(f.dir, k[0])); err != nil {
			t.Fatal(err)
		}
		f.outcomes()
		served, got := f.serve(t, "", req)
		if !served || !same(got, want) {
			t.Errorf("%s: served %v, %d bytes the same as git's: %v", d.name, served, len(got), same(got, want))
		}
		if o := f.outcomes(); !slices.Equal(o, []string{packcache.Miss}) {
			t.Errorf("%s: outcomes %v, want [miss]: the damaged file must not count as a hit", d.name, o)
		}
		// A cache opened on the damaged file (a restart) does the same.
		if err := d.do(filepath.Join(f.dir, k[0])); err != nil {
			t.Fatal(err)
		}
		c, err := packcache.Open(f.dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if served, err := c.Serve(context.Background(), f.repo.Dir(), "", req, &out); !served || err != nil || !same(out.Bytes(), want) {
			t.Errorf("%s, reopened: served %v, %v, the same as git's %v", d.name, served, err, same(out.Bytes(), want))
		}
	}
}

// TestOpenRemovesHalfWrittenFiles: what a crash left being written is
// removed on Open and never counted; a file that is not ours is left
// alone.
func TestOpenRemovesHalfWrittenFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tmp-123"), []byte("PACK half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := packcache.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tmp-123 after Open: %v, want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("README after Open: %v, want it left alone", err)
	}
	if c.Used() != 0 {
		t.Errorf("Used = %d, want 0", c.Used())
	}
}

// TestPrepare: after Prepare, Flux's and C git's depth-1 clones of the
// deploy branch's tip are answered from the cache, with git's bytes.
func TestPrepare(t *testing.T) {
	f := newFixture(t, 1<<20)
	f.advance(t)
	if err := f.cache.Prepare(context.Background(), f.repo.Dir()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		protocol string
		req      []byte
	}{{"", fluxRequest(f.served.Ungated)}, {"version=2", gitV2Request(f.served.Ungated)}} {
		served, got := f.serve(t, tt.protocol, tt.req)
		if !served || !same(got, direct(t, f.repo.Dir(), tt.protocol, tt.req)) {
			t.Errorf("protocol %q: served %v, not git's answer", tt.protocol, served)
		}
	}
	if o := f.outcomes(); !slices.Equal(o, []string{packcache.Hit, packcache.Hit}) {
		t.Errorf("outcomes %v, want [hit hit]", o)
	}
}

// TestScheduleAndRun: a directory scheduled is prepared by Run.
func TestScheduleAndRun(t *testing.T) {
	f := newFixture(t, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.cache.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	f.cache.Schedule(f.repo.Dir())
	deadline := time.Now().Add(30 * time.Second)
	for len(f.kept(t)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if served, _ := f.serve(t, "", fluxRequest(f.served.Gated)); !served {
		t.Fatal("not served")
	}
	if o := f.outcomes(); !slices.Equal(o, []string{packcache.Hit}) {
		t.Errorf("Flux clone after Schedule: outcomes %v, want [hit]", o)
	}
}

// TestNoAnswerForAnotherRepository: two repositories with the same
// commits and refs, asked the same request, each get an answer computed
// on their own: the first one's is never served for the second.
func TestNoAnswerForAnotherRepository(t *testing.T) {
	s := storagetest.Serve(t, "team-a/fleet", "team-b/fleet")
	var outcomes []string
	c, err := packcache.Open(t.TempDir(), 1<<20, packcache.WithObserver(func(o string) { outcomes = append(outcomes, o) }))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"team-a/fleet", "team-b/fleet", "team-a/fleet"} {
		repo, err := s.Store.Served(p)
		if err != nil {
			t.Fatal(err)
		}
		if served, err := c.Serve(context.Background(), repo.Dir(), "", fluxRequest(s.Gated), io.Discard); !served || err != nil {
			t.Fatalf("%s: served %v, %v", p, served, err)
		}
	}
	if want := []string{packcache.Miss, packcache.Miss, packcache.Hit}; !slices.Equal(outcomes, want) {
		t.Errorf("team-a, team-b, team-a: outcomes %v, want %v", outcomes, want)
	}
}

// TestWhatCanonicalDropsDoesNotChangeGitsAnswer: requests Canonical takes
// for one (another agent, no agent, newlines added or dropped) get the
// same answer from git, which is what makes sharing their key sound.
func TestWhatCanonicalDropsDoesNotChangeGitsAnswer(t *testing.T) {
	f := newFixture(t, 1<<20)
	flux, v2 := fluxRequest(f.served.Gated), gitV2Request(f.served.Gated)
	tests := []struct {
		protocol string
		a, b     []byte
	}{
		{"", flux, bytes.Replace(flux, []byte("agent=go-git/5.x"), []byte("agent=other/9.99"), 1)},
		{"", flux, pkts("want "+f.served.Gated+" multi_ack_detailed side-band-64k ofs-delta shallow no-progress", "deepen 1", "0000", "done")},
		{"version=2", v2, bytes.Replace(v2, []byte("0014agent=git/2.39.5"), nil, 1)},
		{"version=2", v2, pkts("command=fetch\n", "object-format=sha1\n", "0001", "thin-pack\n", "no-progress\n", "include-tag\n", "ofs-delta\n", "deepen 1\n", "want "+f.served.Gated, "done", "0000")},
	}
	for i, tt := range tests {
		v := map[string]int{"": 0, "version=2": 2}[tt.protocol]
		ca, okA := packcache.Canonical(v, tt.a)
		cb, okB := packcache.Canonical(v, tt.b)
		if !okA || !okB || !bytes.Equal(ca, cb) {
			t.Fatalf("case %d: canonical forms differ or not kept (%v, %v)", i, okA, okB)
		}
		if a, b := direct(t, f.repo.Dir(), tt.protocol, tt.a), direct(t, f.repo.Dir(), tt.protocol, tt.b); !same(a, b) {
			t.Errorf("case %d: git answers differently:\n%q\n%q", i, a, b)
		}
	}
}

// TestConversationAnswersAdvertisedWantsOnly: in protocol v0 and v1,
// Conversation answers (with the bytes Serve keeps, under the same key)
// only a request whose every want is an advertised ref: git in an SSH
// conversation refuses any other want, while stateless git sends what
// the refs reach. In protocol v2 git checks no wants, and neither does it.
func TestConversationAnswersAdvertisedWantsOnly(t *testing.T) {
	f := newFixture(t, 64<<20)
	dir := f.repo.Dir()
	git := func(args ...string) string {
		out, err := storagetest.Git(t, dir, nil, args...)
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	tip := f.served.Gated
	parent := git("rev-parse", tip+"^")
	git("tag", "-a", "-m", "a tag", "t", parent)
	tag := git("rev-parse", "refs/tags/t")
	git("update-ref", "refs/gerritgate/baseline/prod", parent)
	f.cache.Invalidate(dir) // refs written behind storage's back
	tests := []struct {
		name, protocol, want string
		answered             bool
	}{
		{"the tip of deploy/prod", "", tip, true},
		{"the tip of deploy/prod, protocol v1", "version=1", tip, true},
		{"an annotated tag", "", tag, true},
		{"an ancestor of the tip", "", parent, false},
		{"an ancestor, protocol v1", "version=1", parent, false},
		{"an ancestor a hidden ref points at", "", parent, false},
		{"an ancestor of the tip, protocol v2", "version=2", parent, true},
	}
	for _, tt := range tests {
		req := fluxRequest(tt.want)
		if tt.protocol == "version=2" {
			req = gitV2Request(tt.want)
		}
		r, ok := f.cache.Conversation(context.Background(), dir, tt.protocol, req)
		if ok != tt.answered {
			t.Errorf("%s: answered %v, want %v", tt.name, ok, tt.answered)
		}
		if !ok {
			continue
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		served, kept := f.serve(t, tt.protocol, req)
		if !served || !bytes.Equal(got, kept) {
			t.Errorf("%s: Conversation's %d bytes are not Serve's %d under the same key", tt.name, len(got), len(kept))
		}
	}
}
