package poll_test

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/mirror"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/poll"
	"github.com/gerritgate/gerritgate/storage"
)

// fleetGit is a fake Gerrit for fleets of projects: C git repositories
// under root served over smart HTTP on loopback, the ref advertisement
// kept in memory (so the fake costs little next to the gate), packs by
// C git upload-pack. Every other request (REST) is counted and refused:
// a poll that needs none must make none.
type fleetGit struct {
	root  string
	url   string
	rest  atomic.Int64 // REST calls seen
	packs atomic.Int64 // upload-pack requests (fetches that transfer)
	lists atomic.Int64 // ref list requests (info/refs)
	adv   sync.Map     // project -> []byte info/refs answer
	srv   *http.Server
}

func newFleetGit(tb testing.TB, root string) *fleetGit {
	tb.Helper()
	f := &fleetGit{root: root}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f.url = "http://" + ln.Addr().String()
	f.srv = &http.Server{Handler: f}
	go f.srv.Serve(ln)
	tb.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fleetGit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack":
		project := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/info/refs")
		f.lists.Add(1)
		b, err := f.advertise(r.Context(), project)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		w.Write(b)
	case strings.HasSuffix(path, "/git-upload-pack") && r.Method == http.MethodPost:
		project := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/git-upload-pack")
		f.packs.Add(1)
		cmd := exec.CommandContext(r.Context(), "git", "upload-pack", "--stateless-rpc", f.dir(project))
		cmd.Env = gitexec.Env()
		cmd.Stdin = r.Body
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		cmd.Stdout = w
		cmd.Run()
	case path == "/changes/":
		f.rest.Add(1) // no commit has a change: pending commits are NotApproved
		w.Write([]byte(")]}'\n[]"))
	default:
		f.rest.Add(1)
		http.Error(w, "not served by this fake", http.StatusNotImplemented)
	}
}

func (f *fleetGit) dir(project string) string {
	return filepath.Join(f.root, filepath.FromSlash(project)+".git")
}

func (f *fleetGit) advertise(ctx context.Context, project string) ([]byte, error) {
	if b, ok := f.adv.Load(project); ok {
		return b.([]byte), nil
	}
	cmd := exec.CommandContext(ctx, "git", "upload-pack", "--stateless-rpc", "--advertise-refs", f.dir(project))
	cmd.Env = gitexec.Env()
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	b := append([]byte("001e# service=git-upload-pack\n0000"), out...)
	f.adv.Store(project, b)
	return b, nil
}

// commit adds a commit on main in project's repository (the first, with
// no parent, when main does not exist) and forgets its advertisement.
func (f *fleetGit) commit(tb testing.TB, project, msg string) string {
	tb.Helper()
	dir := f.dir(project)
	run := func(stdin string, args ...string) (string, error) {
		cmd := gitexec.Command(context.Background(), dir, args...)
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	must := func(stdin string, args ...string) string {
		out, err := run(stdin, args...)
		if err != nil {
			tb.Fatalf("git %v in %s: %v", args, dir, err)
		}
		return out
	}
	blob := must(msg, "hash-object", "-w", "--stdin")
	tree := must("100644 blob "+blob+"\tversion.yaml\n", "mktree")
	args := []string{"commit-tree", tree}
	parent, err := run("", "rev-parse", "--verify", "-q", "refs/heads/main")
	if err == nil {
		args = append(args, "-p", parent)
	}
	c := must(msg+"\n", args...)
	must("", "update-ref", "refs/heads/main", c, parent)
	f.adv.Delete(project)
	return c
}

// makeFleet makes n projects fleet/pNNNN under root, each a copy of one
// small repository (two commits on main, the second returned).
func makeFleet(tb testing.TB, root string, n int) ([]string, string) {
	tb.Helper()
	tmpl := filepath.Join(tb.TempDir(), "tmpl.git")
	if out, err := exec.Command("git", "init", "--quiet", "--bare", tmpl).CombinedOutput(); err != nil {
		tb.Fatalf("git init: %v %s", err, out)
	}
	f := &fleetGit{root: filepath.Dir(tmpl)}
	f.commit(tb, "tmpl", "replicas: 1")
	head := f.commit(tb, "tmpl", "replicas: 2")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("fleet/p%04d", i)
		if err := copyDir(tmpl, filepath.Join(root, filepath.FromSlash(names[i])+".git")); err != nil {
			tb.Fatal(err)
		}
	}
	return names, head
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// fleetPolicy gates every project with three environments: dev, then
// staging after dev, then prod after staging, all started at baseline.
func fleetPolicy(tb testing.TB, projects []string, baseline string) *gate.Config {
	tb.Helper()
	var b strings.Builder
	b.WriteString("repos:\n")
	for _, p := range projects {
		fmt.Fprintf(&b, `  - project: %s
    branch: main
    environments:
      - {name: dev, policy: reviewed, baseline: %[2]s}
      - {name: staging, policy: reviewed, baseline: %[2]s, after: dev}
      - {name: prod, policy: reviewed, baseline: %[2]s, after: staging}
`, p, baseline)
	}
	b.WriteString("policies:\n  reviewed:\n    labels: {Code-Review: {min: 2}}\n")
	pc, err := gate.ParsePolicy("fleet.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return pc
}

// board is a Recorder that keeps the last result per environment.
type board struct {
	mu      sync.Mutex
	results map[string]deploy.Result
	failed  []string
}

func (b *board) Record(res deploy.Result) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.results[res.Project+" "+res.Env] = res
	if res.Reason == deploy.Failed {
		b.failed = append(b.failed, res.Project+" "+res.Env+": "+res.Message)
	}
	return true
}
func (b *board) Result(project, env string) (deploy.Result, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.results[project+" "+env]
	return r, ok
}
func (b *board) Retain(func(project, env string) bool)           {}
func (b *board) Polled(time.Duration)                            {}
func (b *board) Fetched(project string, at time.Time, err error) {}

// A poll where nothing changed transfers nothing, writes nothing in the
// mirrors (go-git's fetch rewrote every ref file each time) and asks
// Gerrit's REST API nothing; a project that changed is fetched at the next
// poll (the ref list check never hides a change), and only it.
func TestPollFetchesOnlyWhatChanged(t *testing.T) {
	f := newFleet(t, 6)
	f.poll(t)
	if got := f.reasons()[deploy.Initialized]; got != 18 {
		t.Fatalf("first poll initialized %d environments, want 18", got)
	}
	written := f.upstreamFiles(t)
	time.Sleep(20 * time.Millisecond) // a rewrite shows in the mtime
	for i := range 2 {
		packs, rest := f.git.packs.Load(), f.git.rest.Load()
		f.poll(t)
		if got := f.git.packs.Load() - packs; got != 0 {
			t.Errorf("unchanged poll %d: %d pack requests, want none", i+1, got)
		}
		if got := f.git.rest.Load() - rest; got != 0 {
			t.Errorf("unchanged poll %d: %d REST calls, want none", i+1, got)
		}
	}
	for name, mtime := range f.upstreamFiles(t) {
		if was, ok := written[name]; !ok || !was.Equal(mtime) {
			t.Errorf("unchanged polls wrote %s in the mirror", name)
		}
	}
	changed := map[string]string{}
	for _, p := range []string{f.projects[1], f.projects[4]} {
		changed[p] = f.git.commit(t, p, "replicas: 3")
	}
	packs := f.git.packs.Load()
	f.poll(t)
	if got := f.git.packs.Load() - packs; got != int64(len(changed)) {
		t.Errorf("poll after %d projects changed: %d pack requests, want %d", len(changed), got, len(changed))
	}
	for _, p := range f.projects {
		up, err := f.store.ExistingUpstream(p)
		if err != nil {
			t.Fatal(err)
		}
		head, err := up.Ref("refs/heads/main")
		if err != nil {
			t.Fatal(err)
		}
		want := f.baseline
		if c, ok := changed[p]; ok {
			want = c
		}
		if head.String() != want {
			t.Errorf("%s: mirror at %s after the poll, want %s", p, head, want)
		}
		if res, _ := f.board.Result(p, "dev"); (res.Reason == deploy.NotApproved) != (want != f.baseline) {
			t.Errorf("%s dev: %s (%s), want NotApproved only for a project that changed", p, res.Reason, res.Message)
		}
	}
}

// The ref list check is trusted 10 minutes at most: a project unchanged
// for longer is fetched in full (a second ref list request, go-git's
// own), then checked again.
func TestMirrorFetchesInFullEvery10Minutes(t *testing.T) {
	f := newFleet(t, 3)
	f.poll(t)
	for _, step := range []struct {
		what  string
		after time.Duration
		lists int64 // per project
	}{
		{"at once", time.Minute, 1},
		{"9 minutes after the full fetch", 8 * time.Minute, 1},
		{"10 minutes after it", time.Minute, 2},
		{"just after that full fetch", time.Minute, 1},
	} {
		f.clock.Add(int64(step.after / time.Second))
		lists := f.git.lists.Load()
		f.poll(t)
		if got := f.git.lists.Load() - lists; got != step.lists*int64(len(f.projects)) {
			t.Errorf("%s: %d ref list requests for %d projects, want %d each", step.what, got, len(f.projects), step.lists)
		}
	}
}

// fleet is a gate (mirror, deployer, poller) over a fleetGit.
type fleet struct {
	git      *fleetGit
	projects []string
	baseline string       // every project's upstream head at start
	clock    atomic.Int64 // the mirror's clock, Unix seconds
	store    *storage.Store
	poller   *poll.Poller
	board    *board
	calls    atomic.Int64 // REST calls the gate's client made
}

func newFleet(tb testing.TB, n int, opts ...func(*poll.Config)) *fleet {
	tb.Helper()
	root := tb.TempDir()
	f := &fleet{board: &board{results: map[string]deploy.Result{}}}
	f.projects, f.baseline = makeFleet(tb, root, n)
	f.git = newFleetGit(tb, root)
	store, err := storage.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	f.store = store
	client, err := gerrit.New(f.git.url, gerrit.WithObserver(func(op, outcome string) { f.calls.Add(1) }))
	if err != nil {
		tb.Fatal(err)
	}
	f.clock.Store(time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC).Unix())
	m, err := mirror.New(store, mirror.Options{URL: f.git.url, Clock: func() time.Time { return time.Unix(f.clock.Load(), 0) }})
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	c := poll.Config{
		Schedule: "@every 1h", FetchTimeout: time.Minute, DataDir: store.Dir(), Policy: fleetPolicy(tb, f.projects, f.baseline),
		Fetcher: poll.FetchFunc(func(ctx context.Context, project string) error {
			_, err := m.Fetch(ctx, project)
			return err
		}),
		Reconciler: deploy.New(store, client, deploy.WithLogger(logger)),
		Recorder:   f.board, Lister: client, Logger: logger,
		Concurrency: 8, Release: store.Release, // the service's defaults
	}
	for _, o := range opts {
		o(&c)
	}
	if f.poller, err = poll.New(c); err != nil {
		tb.Fatal(err)
	}
	return f
}

// poll runs one poll and fails on any Failed result.
func (f *fleet) poll(tb testing.TB) {
	tb.Helper()
	f.poller.Poll(context.Background())
	f.board.mu.Lock()
	defer f.board.mu.Unlock()
	if len(f.board.failed) > 0 {
		tb.Fatalf("%d environments failed, first: %s", len(f.board.failed), f.board.failed[0])
	}
}

// upstreamFiles lists the files of the upstream mirrors with their
// modification times.
func (f *fleet) upstreamFiles(tb testing.TB) map[string]time.Time {
	tb.Helper()
	out := map[string]time.Time{}
	err := filepath.WalkDir(filepath.Join(f.store.Dir(), "upstream"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fi.ModTime()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// reasons counts the results by reason.
func (f *fleet) reasons() map[deploy.Reason]int {
	f.board.mu.Lock()
	defer f.board.mu.Unlock()
	out := map[deploy.Reason]int{}
	for _, r := range f.board.results {
		out[r.Reason]++
	}
	return out
}

// rssKiB is this process's resident set.
func rssKiB(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// profile writes, when GERRITGATE_PROFILE names a directory, the CPU
// profile of what runs until the returned function is called (cpu.out)
// and then the live heap (heap.out): go test's own profiles would cover
// the set-up too.
func profile(tb testing.TB) (stop func()) {
	dir := os.Getenv("GERRITGATE_PROFILE")
	if dir == "" {
		return func() {}
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.out"))
	if err != nil {
		tb.Fatal(err)
	}
	pprof.StartCPUProfile(cpu)
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		runtime.GC()
		heap, err := os.Create(filepath.Join(dir, "heap.out"))
		if err != nil {
			tb.Fatal(err)
		}
		defer heap.Close()
		pprof.Lookup("heap").WriteTo(heap, 0)
	}
}

// BenchmarkSteadyPoll polls a fleet of 1,000 projects x 3 environments,
// every one deployed at its upstream head, where nothing changed since the
// last poll: the poll a large installation runs every interval. Reported:
// ms per poll, REST calls per poll, and the resident set after the first
// steady poll and after the last (MB), which must not keep rising.
//
//	go test ./poll -run '^$' -bench SteadyPoll -benchtime 10x
func BenchmarkSteadyPoll(b *testing.B) {
	n := 1000
	if s := os.Getenv("GERRITGATE_FLEET"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	f := newFleet(b, n)
	f.poll(b) // the first: mirrors and deploys every project
	if got := f.reasons()[deploy.Initialized]; got != 3*n {
		b.Fatalf("first poll initialized %d environments, want %d", got, 3*n)
	}
	f.poll(b)
	first := rssKiB(b)
	calls := f.calls.Load() + f.git.rest.Load()
	stop := profile(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.poll(b)
	}
	b.StopTimer()
	stop()
	if got := f.reasons()[deploy.UpToDate]; got != 3*n {
		b.Fatalf("steady polls left %d environments up to date, want %d", got, 3*n)
	}
	b.ReportMetric(float64(f.calls.Load()+f.git.rest.Load()-calls)/float64(b.N), "rest/poll")
	b.ReportMetric(float64(first)/1024, "rss-first-MB")
	b.ReportMetric(float64(rssKiB(b))/1024, "rss-last-MB")
}
