package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the gerritgate binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gerritgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gerritgate")
	out, err := exec.Command("go", "build", "-o", binary, "../cmd/gerritgate").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build gerritgate: %v\n%s", err, out)
		os.Exit(1)
	}
	if other := os.Getenv("GERRITGATE_E2E_BINARY"); other != "" {
		binary = other // to measure an older build (see attack_test.go)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// useBinary is called by every test that runs the binary. go test caches a
// package's result by the files the tests themselves read (from m.Run on);
// the binary is built by a subprocess it does not see. Reading every source
// file here makes any change to them rerun the tests that use the binary.
func useBinary(t testing.TB) {
	t.Helper()
	if err := readSources(".."); err != nil {
		t.Fatal(err)
	}
}

func readSources(root string) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			_, err := os.ReadFile(p)
			return err
		}
		return nil
	})
}

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateProc is one running `gerritgate serve`.
type gateProc struct {
	t       testing.TB
	dir     string // holds config, policy, secrets, data
	url     string // http://127.0.0.1:port
	cmd     *exec.Cmd
	hook    string // the webhook secret, if any
	log     *syncBuffer
	done    chan struct{}
	exitErr error
}

// gateSetup is what a test says about the gate it wants.
type gateSetup struct {
	gerritURL string
	gitURL    string
	username  string
	password  string
	policy    string
	// policyKey, when set, is the config's policy: value in place of
	// ./policy.yaml (a policy reviewed in Gerrit).
	policyKey string
	extra     string // more top-level config YAML
	httpExtra string // more keys of the http section, indented two spaces
	// webhookSecret, when set, is written to a file named as
	// http.webhookSecretFile: nudges must carry it.
	webhookSecret string
	sshExtra      string // more keys of the ssh section (startAccessGateWith), indented two spaces
	// sshKey and knownHosts, when set, are written to files and named
	// as gerrit.sshKeyFile and gerrit.knownHostsFile (for an ssh gitURL).
	sshKey     []byte
	knownHosts string
	pageSize   int
	poll       string // default "@every 1s"
	// gerritExtra: more keys of the gerrit section, indented two spaces.
	gerritExtra string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeGateConfig writes gerritgate.yaml and friends into dir.
func writeGateConfig(t testing.TB, dir, addr string, s gateSetup) string {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(s.policy), 0o644))
	poll := s.poll
	if poll == "" {
		poll = "@every 1s"
	}
	httpExtra := s.httpExtra
	if s.webhookSecret != "" {
		registerSecret(s.webhookSecret)
		must(os.WriteFile(filepath.Join(dir, "webhook-secret"), []byte(s.webhookSecret+"\n"), 0o600))
		httpExtra += "  webhookSecretFile: ./webhook-secret\n"
	}
	policyKey := s.policyKey
	if policyKey == "" {
		policyKey = "./policy.yaml"
	}
	cfg := fmt.Sprintf("dataDir: ./data\npoll: %q\nhttp:\n  listen: %s\n%spolicy: %s\ngerrit:\n  url: %s\n", poll, addr, httpExtra, policyKey, s.gerritURL)
	if s.gitURL != "" {
		cfg += fmt.Sprintf("  gitURL: %s\n", s.gitURL)
	}
	if s.username != "" {
		must(os.WriteFile(filepath.Join(dir, "gerrit-password"), []byte(s.password+"\n"), 0o600))
		cfg += fmt.Sprintf("  username: %s\n  passwordFile: ./gerrit-password\n", s.username)
	}
	if s.sshKey != nil {
		must(os.WriteFile(filepath.Join(dir, "id_ed25519"), s.sshKey, 0o600))
		must(os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(s.knownHosts), 0o644))
		cfg += "  sshKeyFile: ./id_ed25519\n  knownHostsFile: ./known_hosts\n"
	}
	if s.pageSize != 0 {
		cfg += fmt.Sprintf("  pageSize: %d\n", s.pageSize)
	}
	cfg += s.gerritExtra + s.extra
	path := filepath.Join(dir, "gerritgate.yaml")
	must(os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// startGate writes a config into a fresh dir and starts the binary.
func startGate(t testing.TB, s gateSetup) *gateProc {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	writeGateConfig(t, dir, addr, s)
	g := &gateProc{t: t, dir: dir, url: "http://" + addr, hook: s.webhookSecret}
	g.start()
	t.Cleanup(g.stop)
	return g
}

// start (re)starts the process on the same dir and waits until it answers.
func (g *gateProc) start() {
	g.t.Helper()
	useBinary(g.t)
	g.log = &syncBuffer{}
	g.cmd = exec.Command(binary, "serve", "--config", filepath.Join(g.dir, "gerritgate.yaml"))
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	g.cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func() { g.exitErr = g.cmd.Wait(); close(g.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(g.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-g.done:
			g.t.Fatalf("gerritgate exited: %v\n%s", g.exitErr, g.log)
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gerritgate did not answer /healthz within 20s\n%s", g.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secrets holds every credential a test handed out, so that every gate's
// log in the whole run can be checked for them.
var secrets sync.Map

func registerSecret(s ...string) {
	for _, v := range s {
		secrets.Store(v, true)
	}
}

// checkLog fails the test if the gate's log holds any registered secret.
func (g *gateProc) checkLog() {
	log := g.log.String()
	secrets.Range(func(k, _ any) bool {
		if s := k.(string); s != "" && strings.Contains(log, s) {
			g.t.Errorf("gerritgate's log contains a secret (%.6s...)", s)
		}
		return true
	})
}

// stop sends SIGTERM and waits for a graceful exit.
func (g *gateProc) stop() {
	defer g.checkLog()
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.done:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
		if g.exitErr != nil {
			g.t.Errorf("gerritgate did not exit cleanly on SIGTERM: %v\n%s", g.exitErr, g.log)
		}
	case <-time.After(20 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		g.t.Errorf("gerritgate ignored SIGTERM for 20s\n%s", g.log)
	}
	if g.t.Failed() {
		g.t.Logf("gerritgate log:\n%s", g.log)
	}
}

// kill9 kills the process without warning.
func (g *gateProc) kill9() {
	g.checkLog()
	g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.done
}

type envStatus struct {
	Project string    `json:"project"`
	Env     string    `json:"environment"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	To      string    `json:"to"`
	Head    string    `json:"head"`
	Until   time.Time `json:"until"`
	Debt    *struct { // an override's unpaid debt (deploy.Debt)
		Since      time.Time `json:"since"`
		AgeSeconds int64     `json:"ageSeconds"`
		Overdue    bool      `json:"overdue"`
		By         string    `json:"by"`
		Ticket     string    `json:"ticket"`
		Commits    []string  `json:"commits"`
		Unapproved []string  `json:"unapproved"`
	} `json:"debt"`
	Decision *struct {
		Target    string `json:"target"`
		BlockedAt string `json:"blockedAt"`
		Verdicts  []struct {
			SHA      string `json:"sha"`
			Approved bool   `json:"approved"`
			Rules    []struct {
				Name   string `json:"name"`
				Pass   bool   `json:"pass"`
				Detail string `json:"detail"`
			} `json:"rules"`
		} `json:"verdicts"`
	} `json:"decision"`
}

type status struct {
	Polls        int64       `json:"polls"`
	Environments []envStatus `json:"environments"`
}

func (g *gateProc) status() status {
	g.t.Helper()
	resp, err := http.Get(g.url + "/api/v1/status")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var s status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		g.t.Fatal(err)
	}
	return s
}

func (g *gateProc) env(project, env string) envStatus {
	g.t.Helper()
	resp, err := http.Get(g.url + "/api/v1/projects/" + url.PathEscape(project) + "/environments/" + env)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var s envStatus
	json.NewDecoder(resp.Body).Decode(&s)
	return s
}

// within calls ok every interval until it returns true, or d has passed,
// and says whether it did. The one polling loop of the tests: waitFor when
// the wait failing ends the test, within itself when the caller says what
// it last saw.
func within(d, every time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// waitFor waits up to d for ok, and fails the test naming what it waited
// for if it does not come.
func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	if !within(d, 200*time.Millisecond, ok) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// settle waits until two full polls have finished after now, so whatever
// the gate will do with the current Gerrit state it has done.
func (g *gateProc) settle() {
	g.t.Helper()
	start := g.status().Polls
	if !within(30*time.Second, 100*time.Millisecond, func() bool { return g.status().Polls >= start+2 }) {
		g.t.Fatalf("gate did not finish two polls in 30s\n%s", g.log)
	}
}

// deployed returns what the gate serves for deploy/<env>, asked with C git.
func (g *gateProc) deployed(project, env string) string {
	g.t.Helper()
	out, err := git(g.t, "", "ls-remote", g.url+"/"+project+".git", "refs/heads/deploy/"+env)
	if err != nil && strings.Contains(out, "not found") {
		return "" // no served repository yet: nothing was ever deployed
	}
	if err != nil {
		g.t.Fatalf("ls-remote: %v\n%s", err, out)
	}
	sha, _, _ := strings.Cut(out, "\t")
	return strings.TrimSpace(sha)
}

// waitDeployed waits until deploy/<env> is at want.
func (g *gateProc) waitDeployed(project, env, want string) {
	g.t.Helper()
	var got string
	if !within(30*time.Second, 100*time.Millisecond, func() bool { got = g.deployed(project, env); return got == want }) {
		g.t.Fatalf("deploy/%s = %q, want %s after 30s; status: %+v\n%s", env, got, want, g.env(project, env), g.log)
	}
}

// waitDeployedFast is waitDeployed polling every 10ms, for latency
// measurements.
func (g *gateProc) waitDeployedFast(project, env, want string) {
	g.t.Helper()
	if !within(30*time.Second, 10*time.Millisecond, func() bool { return g.deployed(project, env) == want }) {
		g.t.Fatalf("deploy/%s not at %s after 30s", env, want)
	}
}

// cloneServed clones project from the gate with C git (anonymously) into
// a new folder and returns it; args come before the URL ("-b",
// "deploy/prod").
func (g *gateProc) cloneServed(t testing.TB, project string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	args = append(append([]string{"clone", "-q"}, args...), g.url+"/"+project+".git", dir)
	if out, err := git(t, "", args...); err != nil {
		t.Fatalf("git clone of %s: %v\n%s", project, err, out)
	}
	return dir
}

// git runs C git with a clean, predictable environment.
func git(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	return gitEnv(t, dir, nil, args...)
}

func gitEnv(t testing.TB, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=tester", "GIT_AUTHOR_EMAIL=tester@example.com",
		"GIT_COMMITTER_NAME=tester", "GIT_COMMITTER_EMAIL=tester@example.com",
	}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// runCmd runs a command with a clean environment and a time limit.
func runCmd(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	return string(out), err
}
