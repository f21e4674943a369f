package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// buildGate builds cmd/gerritgate of this module into dir.
func buildGate(ctx context.Context, dir string) (string, error) {
	mod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(mod)) == "" || strings.TrimSpace(string(mod)) == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside the gerritgate module (%v)", err)
	}
	bin := filepath.Join(dir, "gerritgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gerritgate")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gerritgate: %v\n%s", err, out)
	}
	return bin, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// server is a process serving git over HTTP: gerritgate or the reference.
type server struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// cpu is the server's CPU time so far, its exited git children included.
func (s *server) cpu() (time.Duration, error) { return procCPU(s.pid()) }

// start runs cmd, logging into logPath, and waits until GET url+probe
// answers 200.
func startServer(ctx context.Context, name, url, probe, logPath string, cmd *exec.Cmd) (*server, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	s := &server{name: name, url: url, cmd: cmd, log: log, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(url + probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited: %v\n%s", name, s.err, tail(logPath))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not answer %s within 2m\n%s", name, probe, tail(logPath))
		}
	}
}

// stop ends the server with SIGTERM, and SIGKILL after 30s.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.log.Close()
}

// tail is the end of a log file, for an error.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// gateSetup is one gerritgate serve: its directory, policy and the
// simulated Gerrit it reads.
type gateSetup struct {
	dir       string
	gerritURL string
	password  string
	policy    string
}

// webhookSecret is what the bench's gates require of nudges: they poll
// only when nudged (their schedule is hourly), so each figure decides when
// a poll runs and nothing else competes with it.
const webhookSecret = "bench-nudge-secret-0123456789"

func startGate(ctx context.Context, bin string, s gateSetup) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"policy.yaml":     s.policy,
		"gerrit-password": s.password + "\n",
		"webhook-secret":  webhookSecret + "\n",
		"gerritgate.yaml": fmt.Sprintf("dataDir: ./data\npoll: \"@every 1h\"\nhttp:\n  listen: %s\n  webhookSecretFile: ./webhook-secret\npolicy: ./policy.yaml\ngerrit:\n  url: %s\n  username: gate\n  passwordFile: ./gerrit-password\n", addr, s.gerritURL),
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", filepath.Join(s.dir, "gerritgate.yaml"))
	cmd.Env = gitexec.Env()
	return startServer(ctx, "gerritgate", "http://"+addr, "/healthz", filepath.Join(s.dir, "gerritgate.log"), cmd)
}

// nudgeAndWait asks the gate to poll now and waits until that poll has
// finished.
func nudgeAndWait(ctx context.Context, g *server, timeout time.Duration) error {
	before, err := polls(g)
	if err != nil {
		return err
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, "POST", g.url+"/api/v1/hooks/gerrit", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+webhookSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("nudge: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("nudge: %s", resp.Status)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The status API is asked only once the gate has gone quiet (less
	// than a clock tick of CPU since the last look): with a big fleet its
	// answer is large (3.5 MB and about 180 ms of the gate's CPU at 3,000
	// environments), and asked every 100 ms it would compete with the
	// poll being measured.
	last, err := g.cpu()
	if err != nil {
		return err
	}
	return waitUntil(ctx, timeout, "a nudged poll", func() (bool, error) {
		now, err := g.cpu()
		if err != nil {
			return false, err
		}
		busy := now-last >= 10*time.Millisecond
		last = now
		if busy {
			return false, nil
		}
		n, err := polls(g)
		last, _ = g.cpu() // the answer's own cost is not the poll's
		return n > before, err
	})
}

func polls(g *server) (int64, error) {
	var st struct {
		Polls int64 `json:"polls"`
	}
	return st.Polls, getJSON(g.url+"/api/v1/status", &st)
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitUntil calls ok every 100ms until it says true, fails or timeout
// passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := ok()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cgiEnv, when set in the environment, makes the bench's own executable
// the reference server: git http-backend behind net/http/cgi, serving
// GIT_PROJECT_ROOT=$cgiEnv on the address given as cgiAddrEnv.
const (
	cgiEnv     = "GERRITGATE_BENCH_CGI_ROOT"
	cgiAddrEnv = "GERRITGATE_BENCH_CGI_ADDR"
)

// serveCGIIfAsked runs the reference server and exits when the process
// was started as one (startReference); otherwise it returns.
func serveCGIIfAsked() {
	root := os.Getenv(cgiEnv)
	if root == "" {
		return
	}
	git, err := exec.LookPath("git")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Env:  gitexec.Env("GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1"),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/", h)
	srv := &http.Server{Addr: os.Getenv(cgiAddrEnv), Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startReference starts C git's http-backend serving root (a directory
// of <project>.git repositories), in a process of its own so that its CPU
// is measured as gerritgate's is.
func startReference(ctx context.Context, root, logPath string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), cgiEnv+"="+root, cgiAddrEnv+"="+addr)
	return startServer(ctx, "git http-backend", "http://"+addr, "/healthz", logPath, cmd)
}
