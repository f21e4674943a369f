package gitssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fluxgit "github.com/fluxcd/pkg/git"
	"github.com/fluxcd/pkg/git/gogit"
	"github.com/fluxcd/pkg/git/repository"
	"github.com/go-git/go-git/v5/plumbing"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/gitssh"
	"github.com/gerritgate/gerritgate/storage/storagetest"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

func gitRun(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	return storagetest.Git(t, dir, env, args...)
}

// served makes a store with platform/fleet served at deploy/prod and an
// ungated commit in its upstream, and returns the store and the deployed
// SHA.
func served(t *testing.T) (*storage.Store, string) {
	t.Helper()
	s := storagetest.Serve(t, "platform/fleet")
	return s.Store, s.Gated
}

// fakeAuth is an Authorizer whose keys and grants a test can change.
type fakeAuth struct {
	mu     sync.Mutex
	keys   map[string]string        // marshalled key -> reader
	grants map[string][]string      // reader -> projects
	envs   map[string]storage.Grant // reader -> environments; absent: all
}

func (a *fakeAuth) AuthorizeKey(k gossh.PublicKey) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.keys[string(k.Marshal())]
	return r, ok
}

func (a *fakeAuth) CanRead(reader, project string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.grants[reader] {
		if p == project {
			return true
		}
	}
	return false
}

func (a *fakeAuth) Environments(reader, project string) storage.Grant {
	if !a.CanRead(reader, project) {
		return storage.Grant{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if g, ok := a.envs[reader]; ok {
		return g
	}
	return storage.Grant{All: true}
}

func (a *fakeAuth) grantEnvs(reader string, g storage.Grant) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.envs == nil {
		a.envs = map[string]storage.Grant{}
	}
	a.envs[reader] = g
}

func (a *fakeAuth) removeKey(k gossh.PublicKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.keys, string(k.Marshal()))
}

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clientKey is a key pair with its private half in a file for ssh -i.
type clientKey struct {
	signer gossh.Signer
	file   string
}

func newClientKey(t *testing.T) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return clientKey{signer: signer, file: file}
}

// env is one running server with what clients need to reach it.
type env struct {
	addr       string
	port       string
	knownHosts string // a known_hosts file with the server's key
	hostKey    gossh.PublicKey
	flux       clientKey // reader "flux": may read platform/fleet
	other      clientKey // reader "other": may read nothing
	auth       *fakeAuth
	logs       *syncBuffer
	sha        string
	store      *storage.Store
}

func start(t *testing.T, opts ...gitssh.Option) *env {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("these tests need OpenSSH's ssh client: install openssh-client")
	}
	store, sha := served(t)
	e := &env{flux: newClientKey(t), other: newClientKey(t), logs: &syncBuffer{}, sha: sha, store: store}
	e.auth = &fakeAuth{
		keys: map[string]string{
			string(e.flux.signer.PublicKey().Marshal()):  "flux",
			string(e.other.signer.PublicKey().Marshal()): "other",
		},
		grants: map[string][]string{"flux": {"platform/fleet"}},
	}
	hostKey := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	if err := gitssh.EnsureHostKey(hostKey); err != nil {
		t.Fatal(err)
	}
	opts = append([]gitssh.Option{
		gitssh.WithHostKeyFile(hostKey),
		gitssh.WithAuthorizer(e.auth),
		gitssh.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))),
	}, opts...)
	srv, err := gitssh.New(store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.hostKey = srv.PublicKeys()[0]
	e.serve(t, srv)
	return e
}

// serve runs srv on a loopback port until the test ends.
func (e *env) serve(t *testing.T, srv *gitssh.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	_, e.port, _ = net.SplitHostPort(e.addr)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
			srv.Close()
		}
		if err := <-done; !errors.Is(err, gitssh.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		for _, k := range []clientKey{e.flux, e.other} {
			if k.signer == nil {
				continue
			}
			pub := strings.Fields(string(gossh.MarshalAuthorizedKey(k.signer.PublicKey())))[1]
			if strings.Contains(e.logs.String(), pub) || strings.Contains(e.logs.String(), gossh.FingerprintSHA256(k.signer.PublicKey())) {
				t.Errorf("the log shows a client key:\n%s", e.logs.String())
			}
		}
	})
	e.knownHosts = writeKnownHosts(t, e.addr, srv.PublicKeys()...)
}

func writeKnownHosts(t *testing.T, addr string, keys ...gossh.PublicKey) string {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, k) + "\n")
	}
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// sshOpts are the ssh options of every client here: nothing from the
// user's configuration or agent, and strict host key checking.
func sshOpts(key, knownHosts string) []string {
	return []string{
		"-F", "/dev/null",
		"-i", key,
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=10",
	}
}

// gitSSH is the GIT_SSH_COMMAND for a key and known_hosts file.
func gitSSH(key, knownHosts string, extra ...string) string {
	var q []string
	for _, a := range append(sshOpts(key, knownHosts), extra...) {
		q = append(q, "'"+a+"'")
	}
	return "GIT_SSH_COMMAND=ssh " + strings.Join(q, " ")
}

// ssh runs the ssh client as flux and returns its combined output.
func (e *env) ssh(t *testing.T, key clientKey, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	all := append(sshOpts(key.file, e.knownHosts), "-p", e.port)
	all = append(all, args...)
	cmd := exec.CommandContext(ctx, "ssh", all...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *env) url(path string) string { return "ssh://git@127.0.0.1:" + e.port + "/" + path }

func TestCloneWithCGit(t *testing.T) {
	e := start(t)
	tests := []struct {
		what, url string
		sshArgs   []string
	}{
		{"ssh URL with .git", e.url("platform/fleet.git"), nil},
		{"ssh URL without .git", e.url("platform/fleet"), nil},
		{"scp-like with port in GIT_SSH_COMMAND", "git@127.0.0.1:platform/fleet.git", []string{"-p", e.port}},
		{"any user name", "ssh://flux@127.0.0.1:" + e.port + "/platform/fleet", nil},
	}
	for _, proto := range []string{"0", "2"} {
		for _, tt := range tests {
			dst := filepath.Join(t.TempDir(), "c")
			env := []string{gitSSH(e.flux.file, e.knownHosts, tt.sshArgs...)}
			out, err := gitRun(t, "", env, "-c", "protocol.version="+proto, "clone", "-q", "--depth", "1", "-b", "deploy/prod", tt.url, dst)
			if err != nil {
				t.Fatalf("protocol %s, %s: clone: %v\n%s", proto, tt.what, err, out)
			}
			got, _ := gitRun(t, dst, nil, "rev-parse", "HEAD")
			if strings.TrimSpace(got) != e.sha {
				t.Errorf("protocol %s, %s: cloned %q, want %s", proto, tt.what, got, e.sha)
			}
			if out, err := gitRun(t, dst, env, "-c", "protocol.version="+proto, "fetch", "-q", "--unshallow"); err != nil {
				t.Errorf("protocol %s, %s: fetch --unshallow: %v\n%s", proto, tt.what, err, out)
			}
			if n, _ := gitRun(t, dst, nil, "rev-list", "--count", "HEAD"); strings.TrimSpace(n) != "2" {
				t.Errorf("protocol %s, %s: %s commits after unshallow, want 2", proto, tt.what, strings.TrimSpace(n))
			}
		}
	}
	logs := e.logs.String()
	for _, want := range []string{
		`msg="git request" transport=ssh reader=flux project=platform/fleet command=git-upload-pack outcome=ok exit=0`,
		`protocol="version=2"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
}

func TestWrongHostKey(t *testing.T) {
	e := start(t)
	_, impostor, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := gossh.NewSignerFromKey(impostor)
	wrong := writeKnownHosts(t, e.addr, s.PublicKey())
	out, err := gitRun(t, "", []string{gitSSH(e.flux.file, wrong)}, "clone", "-q", e.url("platform/fleet.git"), filepath.Join(t.TempDir(), "c"))
	if err == nil || !strings.Contains(out, "Host key verification failed") {
		t.Errorf("clone with a wrong known_hosts entry: err=%v\n%s", err, out)
	}
}

func TestUnknownClientKey(t *testing.T) {
	e := start(t)
	stranger := newClientKey(t)
	out, err := gitRun(t, "", []string{gitSSH(stranger.file, e.knownHosts)}, "clone", "-q", e.url("platform/fleet.git"), filepath.Join(t.TempDir(), "c"))
	if err == nil || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("clone with an unknown key: err=%v\n%s", err, out)
	}
	// Nothing but public keys is offered.
	out, err = e.ssh(t, stranger, "-v", "git@127.0.0.1", "git-upload-pack", "'platform/fleet'")
	if err == nil || !strings.Contains(out, "Authentications that can continue: publickey") ||
		strings.Contains(out, "password") || strings.Contains(out, "keyboard-interactive") {
		t.Errorf("ssh with an unknown key: err=%v\n%s", err, out)
	}
}

func TestPushRefused(t *testing.T) {
	e := start(t)
	env := []string{gitSSH(e.flux.file, e.knownHosts)}
	dst := filepath.Join(t.TempDir(), "c")
	if out, err := gitRun(t, "", env, "clone", "-q", "-b", "deploy/prod", e.url("platform/fleet.git"), dst); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	gitRun(t, dst, nil, "commit", "-q", "--allow-empty", "-m", "evil")
	out, err := gitRun(t, dst, env, "push", "origin", "HEAD:refs/heads/deploy/prod")
	if err == nil || !strings.Contains(out, "gerritgate is read-only: push to Gerrit") {
		t.Errorf("push: err=%v\n%s", err, out)
	}
	if !strings.Contains(e.logs.String(), "outcome=push_refused") {
		t.Errorf("the log does not record the refused push:\n%s", e.logs.String())
	}
}

func TestArchiveRefused(t *testing.T) {
	e := start(t)
	out, err := gitRun(t, t.TempDir(), []string{gitSSH(e.flux.file, e.knownHosts)}, "archive", "--remote="+e.url("platform/fleet.git"), "deploy/prod")
	if err == nil || !strings.Contains(out, "git archive is not served") {
		t.Errorf("git archive --remote: err=%v\n%s", err, out)
	}
}

func TestNoShell(t *testing.T) {
	e := start(t)
	tests := []struct {
		what string
		args []string
		want string
	}{
		{"command", []string{"git@127.0.0.1", "sh", "-c", "'id'"}, "only git-upload-pack"},
		{"upload-pack behind a shell", []string{"git@127.0.0.1", "git-upload-pack 'platform/fleet'; id"}, "malformed command"},
		{"shell", []string{"-T", "git@127.0.0.1"}, "no shell here"},
		{"shell with a pty", []string{"-tt", "git@127.0.0.1"}, "PTY allocation request failed"},
		{"pty with a command", []string{"-tt", "git@127.0.0.1", "id"}, "PTY allocation request failed"},
		{"pty if possible", []string{"-t", "git@127.0.0.1"}, "no shell here"},
		{"sftp subsystem", []string{"-s", "git@127.0.0.1", "sftp"}, "no subsystems"},
		{"scp", []string{"git@127.0.0.1", "scp", "-f", "/etc/passwd"}, "only git-upload-pack"},
	}
	for _, tt := range tests {
		out, err := e.ssh(t, e.flux, tt.args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(out, tt.want) {
			t.Errorf("%s: err=%v, want a failure and %q in:\n%s", tt.what, err, tt.want, out)
		}
		if strings.Contains(out, "uid=") {
			t.Errorf("%s: a command ran:\n%s", tt.what, out)
		}
	}
	// sftp itself fails too.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if sftp, err := exec.LookPath("sftp"); err == nil {
		cmd := exec.CommandContext(ctx, sftp, append(sshOpts(e.flux.file, e.knownHosts), "-P", e.port, "-b", "/dev/null", "git@127.0.0.1")...)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("sftp succeeded:\n%s", out)
		}
	}
}

// target is a TCP listener that must never see a connection.
func target(t *testing.T) (string, func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestForwardingRefusedWithOpenSSH(t *testing.T) {
	e := start(t)
	dst, accepted := target(t)

	// ssh -W: stdio forwarding, a direct-tcpip channel.
	if out, err := e.ssh(t, e.flux, "-W", dst, "git@127.0.0.1"); err == nil {
		t.Errorf("ssh -W succeeded:\n%s", out)
	}

	// ssh -R: a tcpip-forward global request.
	if out, err := e.ssh(t, e.flux, "-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:"+dst, "git@127.0.0.1"); err == nil || !strings.Contains(out, "remote port forwarding failed") {
		t.Errorf("ssh -R: err=%v\n%s", err, out)
	}

	// ssh -L: the listener is local; the server refuses each channel.
	local := net.JoinHostPort("127.0.0.1", freePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	args := append(sshOpts(e.flux.file, e.knownHosts), "-p", e.port, "-N", "-L", local+":"+dst, "git@127.0.0.1")
	cmd := exec.CommandContext(ctx, "ssh", args...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	var conn net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if conn, err = net.Dial("tcp", local); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh -L never listened: %v\n%s", err, stderr.String())
		}
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("hello\n"))
	if n, err := conn.Read(make([]byte, 10)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection through ssh -L read %d bytes, %v; want it closed at once", n, err)
	}
	conn.Close()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "open failed") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "open failed") {
		t.Errorf("ssh -L did not report the refused channel:\n%s", stderr.String())
	}
	if n := accepted(); n != 0 {
		t.Errorf("the forwarding target saw %d connections", n)
	}
}

// dial connects with the Go client as key.
func (e *env) dial(t *testing.T, key clientKey) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", e.addr, &gossh.ClientConfig{
		User:            "git",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(key.signer)},
		HostKeyCallback: gossh.FixedHostKey(e.hostKey),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs a raw command in a new session and returns its exit status
// and stderr.
func run(t *testing.T, c *gossh.Client, cmd, stdin string) (int, string, string) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdin, s.Stdout, s.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err = s.Run(cmd)
	var exit *gossh.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitStatus(), stdout.String(), stderr.String()
	}
	t.Fatalf("%s: %v", cmd, err)
	return 0, "", ""
}

func TestRequestsRefused(t *testing.T) {
	e := start(t)
	dst, accepted := target(t)
	c := e.dial(t, e.flux)

	if conn, err := c.Dial("tcp", dst); err == nil {
		conn.Close()
		t.Error("direct-tcpip (local forwarding) was accepted")
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Error("tcpip-forward (reverse forwarding) was accepted")
	}
	if accepted() != 0 {
		t.Error("the forwarding target saw a connection")
	}
	if ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil || ok {
		t.Errorf("an unknown global request got %v, %v; want a refusal", ok, err)
	}

	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err == nil {
		t.Error("a pty was granted")
	}
	if err := agent.RequestAgentForwarding(s); err == nil {
		t.Error("agent forwarding was granted")
	}
	x11 := struct {
		Single           bool
		Protocol, Cookie string
		Screen           uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00", 0}
	if ok, err := s.SendRequest("x11-req", true, gossh.Marshal(&x11)); err != nil || ok {
		t.Errorf("x11-req got %v, %v; want a refusal", ok, err)
	}
	if err := s.Setenv("LD_PRELOAD", "/tmp/evil.so"); err == nil {
		t.Error("LD_PRELOAD was accepted")
	}
	if err := s.Setenv("GIT_PROTOCOL", "version=2"); err != nil {
		t.Errorf("GIT_PROTOCOL was refused: %v", err)
	}
}

func TestProjectNames(t *testing.T) {
	e := start(t)
	c := e.dial(t, e.flux)
	tests := []struct {
		cmd      string
		wantCode int
		wantErr  string
	}{
		{"git-upload-pack 'platform/fleet.git'", 0, ""},
		{"git-upload-pack '/platform/fleet.git'", 0, ""},
		{"git-upload-pack '/platform/fleet'", 0, ""},
		{"git upload-pack 'platform/fleet'", 0, ""},
		{"git-upload-pack '../upstream/platform/fleet.git'", 1, "repository not found"},
		{"git-upload-pack '/../upstream/platform/fleet.git'", 1, "repository not found"},
		{"git-upload-pack 'platform/../../upstream/platform/fleet'", 1, "repository not found"},
		{"git-upload-pack '%2e%2e/upstream/platform/fleet.git'", 1, "repository not found"},
		{"git-upload-pack 'platform%2ffleet'", 1, "repository not found"},
		{"git-upload-pack '" + e.store.Dir() + "/served/platform/fleet.git'", 1, "repository not found"},
		{"git-upload-pack '//etc'", 1, "repository not found"},
		{"git-upload-pack '/etc/passwd'", 1, "repository not found"},
		{"git-upload-pack '~git/platform/fleet'", 1, "repository not found"},
		{"git-upload-pack 'platform/fleet.git' 'other'", 1, "malformed command"},
		{"git-upload-pack 'platform/fleet.git'; touch /tmp/pwned", 1, "malformed command"},
		{"git-upload-pack 'platform/fleet.git' --help", 1, "malformed command"},
		{"git-upload-pack --advertise-refs 'platform/fleet.git'", 1, "malformed command"},
		{"git-upload-pack $(id)", 1, "repository not found"},
	}
	for _, tt := range tests {
		code, stdout, stderr := run(t, c, tt.cmd, "0000")
		if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", tt.cmd, code, stderr, tt.wantCode, tt.wantErr)
		}
		if code == 0 && !strings.Contains(stdout, e.sha+" refs/heads/deploy/prod") {
			t.Errorf("%s: no advertisement of deploy/prod in %q", tt.cmd, stdout)
		}
		if code != 0 && stdout != "" {
			t.Errorf("%s: refused, yet wrote %q", tt.cmd, stdout)
		}
	}

	// The same with C git: nothing of the upstream repository leaks.
	for _, path := range []string{"../upstream/platform/fleet.git", "%2e%2e/upstream/platform/fleet.git", "/" + e.store.Dir() + "/upstream/platform/fleet.git"} {
		out, err := gitRun(t, "", []string{gitSSH(e.flux.file, e.knownHosts)}, "ls-remote", e.url(path))
		if err == nil || !strings.Contains(out, "repository not found") {
			t.Errorf("ls-remote %s: err=%v\n%s", path, err, out)
		}
	}
}

func TestDeniedLooksLikeMissing(t *testing.T) {
	e := start(t)
	other := e.dial(t, e.other)
	_, _, denied := run(t, other, "git-upload-pack 'platform/fleet.git'", "0000")
	_, _, missing := run(t, other, "git-upload-pack 'platform/missing.git'", "0000")
	if denied != missing || !strings.Contains(denied, "repository not found") {
		t.Errorf("denied: %q, missing: %q; want the same not-found message", denied, missing)
	}
	// Not even a push tells them apart.
	_, _, pushDenied := run(t, other, "git-receive-pack 'platform/fleet.git'", "")
	_, _, pushMissing := run(t, other, "git-receive-pack 'platform/missing.git'", "")
	if pushDenied != pushMissing {
		t.Errorf("push denied: %q, push missing: %q", pushDenied, pushMissing)
	}
	logs := e.logs.String()
	for _, want := range []string{"reader=other project=platform/fleet command=git-upload-pack outcome=denied", "reader=other project=platform/missing command=git-upload-pack outcome=denied"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
}

func TestKeyCheckedAgainForEachCommand(t *testing.T) {
	e := start(t)
	c := e.dial(t, e.flux)
	if code, _, stderr := run(t, c, "git-upload-pack 'platform/fleet'", "0000"); code != 0 {
		t.Fatalf("first command: exit %d, %s", code, stderr)
	}
	e.auth.removeKey(e.flux.signer.PublicKey())
	code, _, stderr := run(t, c, "git-upload-pack 'platform/fleet'", "0000")
	if code != 1 || !strings.Contains(stderr, "permission denied") {
		t.Errorf("after the key was removed, on the open connection: exit %d, %q", code, stderr)
	}
	if !strings.Contains(e.logs.String(), "outcome=unauthenticated") {
		t.Errorf("the log does not record the refusal:\n%s", e.logs.String())
	}
}

func TestSeveralHostKeys(t *testing.T) {
	store, _ := served(t)
	dir := t.TempDir()
	ed := filepath.Join(dir, "ed25519")
	if err := gitssh.EnsureHostKey(ed); err != nil {
		t.Fatal(err)
	}
	rsaFile, ecFile := filepath.Join(dir, "rsa"), filepath.Join(dir, "ecdsa")
	for _, k := range []struct{ file, typ string }{{rsaFile, "rsa"}, {ecFile, "ecdsa"}} {
		// PEM keys as older tooling writes them.
		if out, err := exec.Command("ssh-keygen", "-q", "-m", "PEM", "-t", k.typ, "-N", "", "-f", k.file).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	e := &env{flux: newClientKey(t), logs: &syncBuffer{}}
	e.auth = &fakeAuth{keys: map[string]string{string(e.flux.signer.PublicKey().Marshal()): "flux"}}
	srv, err := gitssh.New(store, gitssh.WithHostKeyFile(ed), gitssh.WithHostKeyFile(rsaFile), gitssh.WithHostKeyFile(ecFile), gitssh.WithAuthorizer(e.auth))
	if err != nil {
		t.Fatal(err)
	}
	keys := srv.PublicKeys()
	if len(keys) != 3 {
		t.Fatalf("%d host keys, want 3", len(keys))
	}
	e.serve(t, srv)
	// A client that knows only one of the keys (Flux offers only the types
	// in its known_hosts) connects.
	for _, k := range keys {
		e.knownHosts = writeKnownHosts(t, e.addr, k)
		out, err := e.ssh(t, e.flux, "git@127.0.0.1", "true")
		if !strings.Contains(out, "only git-upload-pack") {
			t.Errorf("client knowing only the %s key: err=%v\n%s", k.Type(), err, out)
		}
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	gitssh.EnsureHostKey(a)
	gitssh.EnsureHostKey(b)
	enc := filepath.Join(dir, "enc")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "passphrase", "-f", enc).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	tests := []struct {
		what string
		opts []gitssh.Option
		want string
	}{
		{"no host key", nil, "no host key"},
		{"missing file", []gitssh.Option{gitssh.WithHostKeyFile(filepath.Join(dir, "none"))}, "no such file"},
		{"two of a type", []gitssh.Option{gitssh.WithHostKeyFile(a), gitssh.WithHostKeyFile(b)}, "one key per type"},
		{"encrypted", []gitssh.Option{gitssh.WithHostKeyFile(enc)}, "encrypted"},
		{"not a key", []gitssh.Option{gitssh.WithHostKeyFile(garbage)}, "host key"},
	}
	for _, tt := range tests {
		_, err := gitssh.New(nil, tt.opts...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error saying %q", tt.what, err, tt.want)
		}
	}
}

func TestEnsureHostKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "ssh_host_ed25519_key")
	if err := gitssh.EnsureHostKey(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	if err := gitssh.EnsureHostKey(path); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(first, again) {
		t.Error("EnsureHostKey replaced an existing key")
	}
	if out, err := exec.Command("ssh-keygen", "-l", "-f", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "ED25519") {
		t.Errorf("ssh-keygen does not read the key: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("EnsureHostKey left %d files behind", len(entries))
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("junk"), 0o600)
	if err := gitssh.EnsureHostKey(bad); err == nil {
		t.Error("EnsureHostKey accepted a file that is not a key")
	}
}

func TestShutdownWaitsForClone(t *testing.T) {
	store, _ := served(t)
	hostKey := filepath.Join(t.TempDir(), "k")
	gitssh.EnsureHostKey(hostKey)
	key := newClientKey(t)
	auth := &fakeAuth{keys: map[string]string{string(key.signer.PublicKey().Marshal()): "flux"}, grants: map[string][]string{"flux": {"platform/fleet"}}}
	srv, err := gitssh.New(store, gitssh.WithHostKeyFile(hostKey), gitssh.WithAuthorizer(auth))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	c, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{
		User: "git", Auth: []gossh.AuthMethod{gossh.PublicKeys(key.signer)},
		HostKeyCallback: gossh.FixedHostKey(srv.PublicKeys()[0]),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.NewSession()
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
		t.Fatal(err)
	}
	// Wait for the advertisement: upload-pack is running.
	if _, err := stdout.Read(make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a command ran", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
	go io.Copy(io.Discard, stdout)
	stdin.Write([]byte("0000"))
	stdin.Close()
	if err := s.Wait(); err != nil {
		t.Errorf("the running command failed: %v", err)
	}
	c.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last connection closed")
	}
	if err := <-done; !errors.Is(err, gitssh.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// The Go client (go-git, which Flux uses, speaks the same way) gets a
// protocol v0 advertisement whose capabilities allow a shallow fetch.
func TestAdvertisementForFlux(t *testing.T) {
	e := start(t)
	c := e.dial(t, e.flux)
	_, stdout, _ := run(t, c, "git-upload-pack '/platform/fleet.git'", "0000")
	for _, capability := range []string{"shallow", "side-band-64k", "multi_ack_detailed", "no-progress", "ofs-delta"} {
		if !strings.Contains(stdout, capability) {
			t.Errorf("advertisement lacks %s: %q", capability, stdout)
		}
	}
	if strings.Contains(stdout, "refs/heads/main") {
		t.Errorf("an ungated ref is advertised: %q", stdout)
	}
}

// TestFluxClone clones as source-controller does for a GitRepository with
// an ssh:// URL: fluxcd/pkg/git/gogit, shallow, single branch, the
// identity and known_hosts of its secret, user git.
func TestFluxClone(t *testing.T) {
	e := start(t)
	identity, err := os.ReadFile(e.flux.file)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts, err := os.ReadFile(e.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	clone := func(identity, knownHosts []byte) (string, error) {
		u, err := url.Parse(e.url("platform/fleet.git"))
		if err != nil {
			t.Fatal(err)
		}
		auth, err := fluxgit.NewAuthOptions(*u, map[string][]byte{"identity": identity, "known_hosts": knownHosts})
		if err != nil {
			t.Fatal(err)
		}
		client, err := gogit.NewClient(t.TempDir(), auth, gogit.WithDiskStorage(), gogit.WithSingleBranch(true))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		c, err := client.Clone(ctx, u.String(), repository.CloneConfig{
			CheckoutStrategy: repository.CheckoutStrategy{Branch: "deploy/prod"},
			ShallowClone:     true,
		})
		if err != nil {
			return "", err
		}
		return c.Hash.String(), nil
	}
	got, err := clone(identity, knownHosts)
	if err != nil || got != e.sha {
		t.Errorf("flux clone = %q, %v; want %s", got, err, e.sha)
	}
	if !strings.Contains(e.logs.String(), "reader=flux project=platform/fleet command=git-upload-pack outcome=ok") {
		t.Errorf("the log does not record the clone:\n%s", e.logs.String())
	}

	_, impostor, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := gossh.NewSignerFromKey(impostor)
	wrong, _ := os.ReadFile(writeKnownHosts(t, e.addr, s.PublicKey()))
	if _, err := clone(identity, wrong); err == nil {
		t.Error("flux cloned with a wrong known_hosts")
	}
	stranger, _ := os.ReadFile(newClientKey(t).file)
	if _, err := clone(stranger, knownHosts); err == nil {
		t.Error("flux cloned with an unknown key")
	}
}

var (
	_ gitssh.Authorizer = (*access.Watcher)(nil)
	_ gitssh.Authorizer = (*access.List)(nil)
)

// TestAccessFileReload runs the server on a real access file: a key taken
// out of the file stops working for new connections within the watcher's
// interval, without a restart.
func TestAccessFileReload(t *testing.T) {
	store, sha := served(t)
	key := newClientKey(t)
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key.signer.PublicKey())))
	accessFile := filepath.Join(t.TempDir(), "access.yaml")
	write := func(keys string) {
		tmp := accessFile + ".tmp"
		os.WriteFile(tmp, []byte("readers:\n  - name: flux-prod\n    projects: [\"platform/*\"]\n    sshKeys: ["+keys+"]\n"), 0o600)
		if err := os.Rename(tmp, accessFile); err != nil {
			t.Fatal(err)
		}
	}
	write(`"` + line + `"`)
	w, err := access.NewWatcher(accessFile, nil, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	watched := make(chan error)
	go func() { watched <- w.Run(ctx) }()
	defer func() { cancel(); <-watched }()

	hostKey := filepath.Join(t.TempDir(), "k")
	if err := gitssh.EnsureHostKey(hostKey); err != nil {
		t.Fatal(err)
	}
	e := &env{flux: key, logs: &syncBuffer{}}
	srv, err := gitssh.New(store, gitssh.WithHostKeyFile(hostKey), gitssh.WithAuthorizer(w),
		gitssh.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	e.serve(t, srv)

	clone := func() (string, error) {
		dst := filepath.Join(t.TempDir(), "c")
		out, err := gitRun(t, "", []string{gitSSH(key.file, e.knownHosts)}, "clone", "-q", "--depth", "1", "-b", "deploy/prod", e.url("platform/fleet.git"), dst)
		if err != nil {
			return out, err
		}
		got, _ := gitRun(t, dst, nil, "rev-parse", "HEAD")
		return strings.TrimSpace(got), nil
	}
	if got, err := clone(); err != nil || got != sha {
		t.Fatalf("clone with the key in the access file: %v\n%s", err, got)
	}
	if !strings.Contains(e.logs.String(), "reader=flux-prod project=platform/fleet") {
		t.Errorf("the log does not name the reader:\n%s", e.logs.String())
	}

	write("")
	for deadline := time.Now().Add(5 * time.Second); w.Generation() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not reload the access file")
		}
	}
	if out, err := clone(); err == nil || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("clone after the key was removed from the access file: err=%v\n%s", err, out)
	}
}

func TestObserver(t *testing.T) {
	var mu sync.Mutex
	var got []string
	e := start(t, gitssh.WithObserver(func(project, outcome string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, project+" "+outcome)
	}))
	flux, other := e.dial(t, e.flux), e.dial(t, e.other)
	run(t, flux, "git-upload-pack 'platform/fleet'", "0000")
	run(t, flux, "git-upload-pack 'made/up/name-1'", "0000")
	run(t, other, "git-upload-pack 'platform/fleet'", "0000")
	run(t, flux, "git-receive-pack 'platform/fleet'", "")
	run(t, flux, "rm -rf /", "")
	want := []string{"platform/fleet ok", " denied", " denied", " push_refused", " refused"}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("observed %q, want %q", got, want)
	}
}

// A session over the shared upload-pack bound is refused at once, and
// served again once a slot is free.
func TestLimiter(t *testing.T) {
	l := uploadpack.NewLimiter(1, 1, 1)
	e := start(t, gitssh.WithLimiter(l))
	c := e.dial(t, e.flux)
	release, ok := l.TryAcquire(uploadpack.Peer{Reader: "other", Addr: netip.MustParseAddr("192.0.2.1")}) // another clone holds the only slot
	if !ok {
		t.Fatal("fresh limiter has no slot")
	}
	code, _, stderr := run(t, c, "git-upload-pack 'platform/fleet.git'", "0000")
	if code == 0 || !strings.Contains(stderr, "busy") {
		t.Errorf("over the bound: exit %d, stderr %q; want a refusal saying busy", code, stderr)
	}
	release()
	code, stdout, stderr := run(t, c, "git-upload-pack 'platform/fleet.git'", "0000")
	if code != 0 || !strings.Contains(stdout, e.sha) {
		t.Errorf("with a free slot: exit %d, stderr %q", code, stderr)
	}
}

// A reader is served the repository of its grant: one environment's own
// (its refs only), a refusal saying why for some environments but not
// all, and "unavailable" (logged) when the environment's repository
// cannot be brought in step.
func TestServesTheRepositoryOfTheGrant(t *testing.T) {
	e := start(t)
	served, err := e.store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if err := served.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/staging", New: plumbing.NewHash(e.sha)}); err != nil {
		t.Fatal(err)
	}
	env := []string{gitSSH(e.flux.file, e.knownHosts)}
	lsRemote := func() (string, error) {
		return gitRun(t, "", env, "ls-remote", e.url("platform/fleet.git"))
	}
	e.auth.grantEnvs("flux", storage.Grant{Envs: []string{"staging"}})
	if out, err := lsRemote(); err != nil || !strings.Contains(out, "refs/heads/deploy/staging") || strings.Contains(out, "deploy/prod") {
		t.Errorf("a reader of staging lists: %v\n%s", err, out)
	}
	e.auth.grantEnvs("flux", storage.Grant{Envs: []string{"staging", "qa"}})
	if out, err := lsRemote(); err == nil || !strings.Contains(out, "ask for one environment, or all of them") || strings.Contains(out, "refs/") {
		t.Errorf("a reader of staging and qa lists: %v\n%s", err, out)
	}
	e.auth.grantEnvs("flux", storage.Grant{Envs: []string{"staging"}})
	if err := os.WriteFile(filepath.Join(served.Dir(), "gerritgate-txn"), []byte("refs/heads/deploy/staging\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := lsRemote(); err == nil || !strings.Contains(out, "temporarily unavailable") || strings.Contains(out, "refs/") {
		t.Errorf("a reader of staging during an unrecovered transaction lists: %v\n%s", err, out)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "outcome=error") || !strings.Contains(logs, "awaits recovery") {
		t.Errorf("the log does not say why staging was not served:\n%s", logs)
	}
}
