package mirror

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
	"github.com/gerritgate/gerritgate/storage"
)

const (
	testProject  = "platform/fleet"
	testUser     = "gate"
	testPassword = "Sup3r-s3cret-pw-71b2a9"
)

// newTestGerrit starts a simulated Gerrit with testProject and the
// gate's account.
func newTestGerrit(t *testing.T) *gerrittest.Server {
	t.Helper()
	srv, err := gerrittest.New(gerrittest.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.SetCredentials(testUser, testPassword)
	if err := srv.CreateProject(testProject, gerrittest.MergeIfNecessary); err != nil {
		t.Fatal(err)
	}
	return srv
}

// push writes a commit on branch in the simulated Gerrit and returns it.
func push(t *testing.T, srv *gerrittest.Server, branch, file string) string {
	t.Helper()
	alice, ok := srv.Account("alice")
	if !ok {
		alice = srv.AddAccount("alice")
	}
	if tip, _ := srv.BranchTip(testProject, branch); tip == "" {
		if err := srv.CreateBranch(testProject, branch, "main"); err != nil {
			t.Fatal(err)
		}
	}
	sha, err := srv.DirectPush(testProject, branch, alice, "change "+file, map[string]string{file: file + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// gerritGit runs C git on the simulated Gerrit's repository of testProject.
func gerritGit(t *testing.T, srv *gerrittest.Server, args ...string) string {
	t.Helper()
	cmd := gitexec.Command(context.Background(), srv.RepoDir(testProject), args...)
	cmd.Env = append(cmd.Env, "GIT_COMMITTER_NAME=Tagger", "GIT_COMMITTER_EMAIL=tagger@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newTestMirror opens a fresh data directory and a Mirror of url.
func newTestMirror(t testing.TB, url, password string) (*Mirror, *storage.Repo) {
	t.Helper()
	store, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := New(store, Options{URL: url, Username: testUser, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := store.Upstream(testProject)
	if err != nil {
		t.Fatal(err)
	}
	return m, repo
}

// allRefs lists every ref of the repository at dir (symbolic HEAD
// included) as C git sees it.
func allRefs(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := gitexec.Command(context.Background(), dir, "for-each-ref", "--format=%(objectname) %(refname)").Output()
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if sha, name, ok := strings.Cut(line, " "); ok {
			refs[name] = sha
		}
	}
	head, _ := os.ReadFile(filepath.Join(dir, "HEAD"))
	refs["HEAD"] = strings.TrimSpace(string(head))
	return refs
}

// TestGitFetchWritesWhatGoGitWrote: for each change in Gerrit, C git's
// fetch leaves the mirror's refs exactly as go-git's fetch leaves them
// (branches and tags forced and pruned, nothing else, HEAD untouched),
// and go-git reads the commits C git fetched through the same Repo.
func TestGitFetchWritesWhatGoGitWrote(t *testing.T) {
	srv := newTestGerrit(t)
	steps := []struct {
		name   string
		change func()
	}{
		{"only main", func() {}},
		{"branches, tags, refs Gerrit keeps for itself", func() {
			a := push(t, srv, "main", "a.yaml")
			push(t, srv, "release/1", "b.yaml")
			gerritGit(t, srv, "tag", "-a", "-m", "v1", "v1", a)
			gerritGit(t, srv, "tag", "light", a)
			gerritGit(t, srv, "update-ref", "refs/changes/01/1/1", a)
			gerritGit(t, srv, "update-ref", "refs/meta/config", a)
			gerritGit(t, srv, "update-ref", "refs/heads/deploy/prod", a)
		}},
		{"branch deleted, tag moved", func() {
			gerritGit(t, srv, "update-ref", "-d", "refs/heads/release/1")
			gerritGit(t, srv, "tag", "-f", "light", "refs/heads/main~1")
		}},
		{"main rewritten (not a fast-forward)", func() {
			gerritGit(t, srv, "update-ref", "refs/heads/main", "refs/heads/main~1")
			push(t, srv, "main", "c.yaml")
		}},
		{"every branch and tag deleted", func() {
			for _, r := range strings.Fields(gerritGit(t, srv, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags")) {
				gerritGit(t, srv, "update-ref", "-d", r)
			}
		}},
	}
	ctx := context.Background()
	gm, grepo := newTestMirror(t, srv.URL(), testPassword)
	im, irepo := newTestMirror(t, srv.URL(), testPassword)
	for _, step := range steps {
		step.change()
		// go-git into the same data directory at each step, as later
		// fetches over HTTP; C git into a fresh one (a first fetch over
		// HTTP) and into the same one (every fetch over SSH).
		cm, crepo := newTestMirror(t, srv.URL(), testPassword)
		if err := cm.fetchGit(ctx, crepo, testProject); err != nil {
			t.Fatalf("%s: C git: %v", step.name, err)
		}
		if err := im.fetchGit(ctx, irepo, testProject); err != nil {
			t.Fatalf("%s: C git again: %v", step.name, err)
		}
		if err := gm.fetchGoGit(ctx, grepo, testProject); err != nil {
			t.Fatalf("%s: go-git: %v", step.name, err)
		}
		want := allRefs(t, grepo.Dir())
		for what, got := range map[string]map[string]string{"a first fetch": allRefs(t, crepo.Dir()), "fetches at every step": allRefs(t, irepo.Dir())} {
			if !maps.Equal(got, want) {
				t.Errorf("%s: refs after C git's %s\n%v\nwant go-git's\n%v", step.name, what, got, want)
			}
		}
		heads, err := crepo.Refs("refs/heads/")
		if err != nil {
			t.Fatal(err)
		}
		for name, h := range heads {
			if _, err := crepo.Commit(h); err != nil {
				t.Errorf("%s: go-git reads %s (%s) after C git's fetch: %v", step.name, name, h, err)
			}
		}
		if step.name == "branches, tags, refs Gerrit keeps for itself" && len(heads) < 3 {
			t.Fatalf("%s: %d branches mirrored, want main, release/1, deploy/prod", step.name, len(heads))
		}
	}
}

// TestFetchOverHTTPWithAuth: the mirror's first fetch (C git) and the
// later ones (go-git) from the simulated Gerrit over HTTP with its
// credentials; go-git, already holding the repository open, reads what C
// git wrote; no temporary files are left.
func TestFetchOverHTTPWithAuth(t *testing.T) {
	srv := newTestGerrit(t)
	var anonymous, authenticated atomic.Int32
	srv.SetRequestHook(func(r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok && strings.HasPrefix(r.URL.Path, "/a/") {
			authenticated.Add(1)
		} else {
			anonymous.Add(1)
		}
	})
	m, repo := newTestMirror(t, srv.URL(), testPassword)
	// go-git opens the empty repository and caches what it found.
	if _, err := repo.Commit(plumbing.NewHash(push(t, srv, "main", "a.yaml"))); err == nil {
		t.Fatal("the commit is there before any fetch")
	}
	for i, file := range []string{"b.yaml", "c.yaml"} {
		want := push(t, srv, "main", file)
		heads, err := m.Fetch(context.Background(), testProject)
		if err != nil {
			t.Fatalf("fetch %d: %v", i+1, err)
		}
		if got := heads["main"].String(); got != want {
			t.Errorf("fetch %d: main = %s, want %s", i+1, got, want)
		}
		if _, err := repo.Commit(plumbing.NewHash(want)); err != nil {
			t.Errorf("fetch %d: go-git does not read the fetched commit: %v", i+1, err)
		}
	}
	if n := anonymous.Load(); n != 0 || authenticated.Load() == 0 {
		t.Errorf("%d anonymous and %d authenticated requests, want only authenticated ones", n, authenticated.Load())
	}
	if left, _ := filepath.Glob(filepath.Join(repo.Dir(), "objects", "pack", "tmp_*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestFetchSecretNotOnCommandLine: while C git fetches, no process on the
// machine shows the password or the Basic credential on its command line,
// and the git processes do run (so the look is not vacuous).
func TestFetchSecretNotOnCommandLine(t *testing.T) {
	srv := newTestGerrit(t)
	push(t, srv, "main", "a.yaml")
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	var mu sync.Mutex
	var leaks, gits []string
	srv.SetRequestHook(func(r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			return
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil {
				continue // gone
			}
			cmdline := strings.ReplaceAll(string(b), "\x00", " ")
			if strings.Contains(cmdline, testPassword) || strings.Contains(cmdline, basic) {
				leaks = append(leaks, p+": "+cmdline)
			}
			if strings.Contains(cmdline, "remote-http") && strings.Contains(cmdline, srv.URL()) {
				gits = append(gits, cmdline)
			}
		}
	})
	m, _ := newTestMirror(t, srv.URL(), testPassword)
	if _, err := m.Fetch(context.Background(), testProject); err != nil {
		t.Fatal(err)
	}
	if len(gits) == 0 {
		t.Fatal("no git remote-http process seen during the fetch: the look proves nothing")
	}
	for _, l := range leaks {
		t.Errorf("secret on a command line: %s", l)
	}
}

// TestFetchWrongPassword: Gerrit refusing the credentials is a clear error
// that does not repeat them, whether the ref list (go-git) or C git's
// fetch is refused, and leaves the mirror empty.
func TestFetchWrongPassword(t *testing.T) {
	srv := newTestGerrit(t)
	push(t, srv, "main", "a.yaml")
	wrong := "Wr0ng-pw-for-the-gate-5e1f"
	m, repo := newTestMirror(t, srv.URL(), wrong)
	check := func(what string, err error, want string) {
		t.Helper()
		var fe *FetchError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want a FetchError saying %q", what, err, want)
		}
		for _, s := range []string{wrong, base64.StdEncoding.EncodeToString([]byte(testUser + ":" + wrong))} {
			if err != nil && strings.Contains(err.Error(), s) {
				t.Errorf("%s: error shows the secret: %v", what, err)
			}
		}
	}
	_, err := m.Fetch(context.Background(), testProject)
	check("ref list", err, "authentication required")
	err = m.fetchGit(context.Background(), repo, testProject)
	check("C git", err, `gerrit refused the credentials (HTTP 401) for user "gate"`)
	if !errors.Is(err, ErrAuth) {
		t.Errorf("C git's error %v is not ErrAuth", err)
	}
	if refs := allRefs(t, repo.Dir()); len(refs) != 1 {
		t.Errorf("refs after refused fetches: %v, want none", refs)
	}
}

// TestFetchStalledServerHitsDeadline: a server that sends part of the
// pack and then nothing stops C git at the fetch's deadline, with git and
// its children killed, the mirror's refs unchanged and no temporary pack
// left behind; reads of the repository wait while git writes it.
func TestFetchStalledServerHitsDeadline(t *testing.T) {
	srv := newTestGerrit(t)
	alice := srv.AddAccount("alice")
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		files := map[string]string{}
		for j := range 20 {
			b := make([]byte, 4096)
			for k := range b {
				b[k] = 'a' + byte(rnd.IntN(26))
			}
			files[fmt.Sprintf("apps/%d/%d.yaml", i, j)] = string(b)
		}
		if _, err := srv.DirectPush(testProject, "main", alice, fmt.Sprint("commit ", i), files); err != nil {
			t.Fatal(err)
		}
	}
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	stalled, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(req))
		if !strings.HasSuffix(r.URL.Path, "/git-upload-pack") || !bytes.Contains(req, []byte("want ")) {
			proxy.ServeHTTP(w, r) // the ref list
			return
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		once.Do(func() { close(stalled) })
		select { // say nothing more until git goes away
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer hostile.Close()
	defer close(done) // (first) a git still running would hold Close for ever
	m, repo := newTestMirror(t, hostile.URL, testPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// A read of the repository while git writes it waits for git.
	read := make(chan time.Time, 1)
	go func() {
		<-stalled
		repo.Refs("refs/")
		read <- time.Now()
	}()
	start := time.Now()
	err := m.fetchGit(ctx, repo, testProject)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("fetch from a stalled server: %v, want the deadline", err)
	}
	deadline, _ := ctx.Deadline()
	select {
	case at := <-read:
		if at.Before(deadline) {
			t.Errorf("a read of the repository went ahead %v before the deadline, while git was writing it", deadline.Sub(at))
		}
	case <-time.After(time.Minute):
		t.Error("a read of the repository still waits after the fetch")
	}
	select {
	case <-stalled:
	default:
		t.Fatal("the server never stalled mid-pack: the test proves nothing")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("fetch returned after %v, long after its deadline", d)
	}
	if refs := allRefs(t, repo.Dir()); len(refs) != 1 {
		t.Errorf("refs after the stalled fetch: %v, want none", refs)
	}
	if left, _ := filepath.Glob(filepath.Join(repo.Dir(), "objects", "pack", "*")); len(left) > 0 {
		t.Errorf("files left in objects/pack: %v", left)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), hostile.URL) {
			t.Errorf("still running after the deadline: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// TestFetchFollowsNoRedirect: a Gerrit URL that redirects fails the
// fetch, and the other host hears nothing from C git (no credentials
// sent where they were not configured for).
func TestFetchFollowsNoRedirect(t *testing.T) {
	srv := newTestGerrit(t)
	push(t, srv, "main", "a.yaml")
	var heard atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		heard.Add(1)
		http.Error(w, "not here", http.StatusNotFound)
	}))
	defer other.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer redirecting.Close()
	m, repo := newTestMirror(t, redirecting.URL, testPassword)
	err := m.fetchGit(context.Background(), repo, testProject)
	if err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("fetch through a redirect: %v, want it refused with the 302", err)
	}
	if n := heard.Load(); n != 0 {
		t.Errorf("the host redirected to got %d requests", n)
	}
}

// TestGitConfigAllowsOnlyTheURLsTransport: with the mirror's git
// configuration C git refuses any transport but the URL's own (a file://
// or ext:: URL that a redirect or a submodule could bring), while the
// same command without it works (so the refusal is the configuration's).
func TestGitConfigAllowsOnlyTheURLsTransport(t *testing.T) {
	src := t.TempDir()
	if out, err := gitexec.Command(context.Background(), src, "init", "--bare", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	m, err := New(nil, Options{URL: "http://127.0.0.1:1/", Username: testUser, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	for _, remote := range []string{"file://" + src, "ext::git-upload-pack " + src} {
		cmd := gitexec.Command(context.Background(), src, "ls-remote", remote)
		cmd.Env = append(cmd.Env, m.gitEnv...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not allowed") {
			t.Errorf("git ls-remote %s with the mirror's configuration: %v: %s; want transport not allowed", remote, err, out)
		}
	}
	cmd := gitexec.Command(context.Background(), src, "ls-remote", "file://"+src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git ls-remote file:// without the mirror's configuration: %v: %s", err, out)
	}
}

// TestTail keeps the last max bytes written, however they arrive.
func TestTail(t *testing.T) {
	for _, tc := range []struct {
		writes []string
		max    int
		want   string
	}{
		{[]string{"abc"}, 5, "abc"},
		{[]string{"abc", "def"}, 5, "bcdef"},
		{[]string{"abcdefgh"}, 5, "defgh"},
		{[]string{"ab", "cdefghij", "k"}, 5, "ghijk"},
		{[]string{"", "a"}, 1, "a"},
	} {
		tl := &tail{max: tc.max}
		for _, w := range tc.writes {
			if n, err := tl.Write([]byte(w)); n != len(w) || err != nil {
				t.Errorf("Write(%q) = %d, %v", w, n, err)
			}
		}
		if got := string(tl.b); got != tc.want {
			t.Errorf("writes %q with max %d kept %q, want %q", tc.writes, tc.max, got, tc.want)
		}
	}
}

var _ io.Writer = (*tail)(nil)

// TestFetchThroughProxy: C git fetches through the proxy the service's
// HTTP client would use for the gitURL (a host only the proxy knows, so
// the fetch works only through it), with the CA file Go would read.
func TestFetchThroughProxy(t *testing.T) {
	srv := newTestGerrit(t)
	want := push(t, srv, "main", "a.yaml")
	sim, _ := url.Parse(srv.URL())
	var proxied atomic.Int32
	fwd := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if r.In.URL.Host == "gerrit.invalid" {
			proxied.Add(1)
			r.SetURL(sim)
		}
	}})
	defer fwd.Close()
	via, _ := url.Parse(fwd.URL)
	t.Setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
	m, repo := newTestMirror(t, "http://gerrit.invalid", testPassword)
	kv, err := httpConfig(m.base, testUser, testPassword, func(*http.Request) (*url.URL, error) { return via, nil })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(kv, "\n"), "http.sslCAInfo\n/nonexistent/ca.pem") {
		t.Errorf("SSL_CERT_FILE is not passed on: %q", kv)
	}
	m.gitEnv = configEnv(append(gitConfig("http"), kv...))
	if err := m.fetchGit(context.Background(), repo, testProject); err != nil {
		t.Fatal(err)
	}
	if got, _ := repo.Ref("refs/heads/main"); got.String() != want || proxied.Load() == 0 {
		t.Errorf("main = %s after %d requests through the proxy, want %s", got, proxied.Load(), want)
	}
}
