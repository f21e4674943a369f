package gerrittest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// sshServer serves git-upload-pack over SSH, like Gerrit's sshd (read-only
// here), to accounts with a registered public key.
type sshServer struct {
	s       *Server
	signer  gossh.Signer
	hostKey gossh.PublicKey
	addr    string // fixed once listening
	ln      net.Listener
	srv     *ssh.Server
}

func newSSHServer(s *Server) (*sshServer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	addr := s.sshAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ss := &sshServer{s: s, signer: signer, hostKey: signer.PublicKey()}
	if err := ss.listen(addr); err != nil {
		return nil, err
	}
	ss.addr = ss.ln.Addr().String()
	return ss, nil
}

func (ss *sshServer) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ss.ln = ln
	return nil
}

// start serves on the current listener with a new ssh.Server (a closed
// one cannot serve again).
func (ss *sshServer) start(wg *sync.WaitGroup) {
	srv := &ssh.Server{
		Handler:          ss.handle,
		PublicKeyHandler: func(ctx ssh.Context, key ssh.PublicKey) bool { return ss.authorized(ctx.User(), key) },
		IdleTimeout:      2 * time.Minute,
	}
	srv.AddHostKey(ss.signer)
	ss.srv = srv
	ln := ss.ln
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Serve(ln)
	}()
}

func (ss *sshServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ss.srv.Shutdown(ctx); err != nil {
		ss.srv.Close()
	}
}

// authorized reports whether key is registered for the account username;
// nobody is while the server is down.
func (ss *sshServer) authorized(username string, key ssh.PublicKey) bool {
	if ss.s.down.Load() || key == nil {
		return false
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	a := ss.s.byName[username]
	if a == nil {
		return false
	}
	for _, k := range a.sshKeys {
		if bytes.Equal(k, key.Marshal()) {
			return true
		}
	}
	return false
}

func (ss *sshServer) handle(sess ssh.Session) {
	// Check the key again where it is used: a key removed since the
	// handshake no longer reads.
	if !ss.authorized(sess.User(), sess.PublicKey()) {
		io.WriteString(sess.Stderr(), "fatal: not authorized\n")
		sess.Exit(1)
		return
	}
	args := sess.Command()
	if len(args) == 2 && args[0] == "gerrit" && args[1] == "version" {
		fmt.Fprintf(sess, "gerrit version %s\n", Version)
		sess.Exit(0)
		return
	}
	if len(args) >= 2 && args[0] == "gerrit" && args[1] == "stream-events" {
		ss.s.streamEvents(sess)
		return
	}
	var service, path string
	switch {
	case len(args) == 2 && (args[0] == "git-upload-pack" || args[0] == "git-receive-pack"):
		service, path = args[0], args[1]
	case len(args) == 3 && args[0] == "git" && (args[1] == "upload-pack" || args[1] == "receive-pack"):
		service, path = "git-"+args[1], args[2]
	default:
		fmt.Fprintf(sess.Stderr(), "fatal: gerrittest: unsupported command %q\n", sess.RawCommand())
		sess.Exit(1)
		return
	}
	if service == "git-receive-pack" {
		io.WriteString(sess.Stderr(), "fatal: gerrittest does not accept pushes\n")
		sess.Exit(1)
		return
	}
	project := strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".git")
	ss.s.mu.Lock()
	_, ok := ss.s.projects[project]
	ss.s.mu.Unlock()
	if !ok {
		fmt.Fprintf(sess.Stderr(), "fatal: project not found: %s\n", project)
		sess.Exit(1)
		return
	}
	cmd := exec.CommandContext(sess.Context(), ss.s.gitPath, "upload-pack", ss.s.RepoDir(project))
	env := ss.s.gitEnv()
	for _, e := range sess.Environ() {
		if strings.HasPrefix(e, "GIT_PROTOCOL=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	cmd.Stdin = sess
	cmd.Stdout = sess
	cmd.Stderr = sess.Stderr()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = 1
	}
	sess.Exit(code)
}

// AddSSHKey registers an OpenSSH public key (an authorized_keys line) for
// an account, created if needed. SSH is served only with WithSSH.
func (s *Server) AddSSHKey(username string, authorizedKey []byte) error {
	pk, _, _, _, err := gossh.ParseAuthorizedKey(authorizedKey)
	if err != nil {
		return fmt.Errorf("gerrittest: ssh key for %s: %w", username, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.addAccountLocked(username)
	a.sshKeys = append(a.sshKeys, pk.Marshal())
	return nil
}

// SSHAddr is the host:port of the SSH server ("" without WithSSH).
func (s *Server) SSHAddr() string {
	if s.ssh == nil {
		return ""
	}
	return s.ssh.addr
}

// HostKey is the SSH server's host key (nil without WithSSH).
func (s *Server) HostKey() gossh.PublicKey {
	if s.ssh == nil {
		return nil
	}
	return s.ssh.hostKey
}

// KnownHosts is a known_hosts line for the SSH server ("" without WithSSH).
func (s *Server) KnownHosts() string {
	if s.ssh == nil {
		return ""
	}
	addr := s.SSHAddr()
	host, port, _ := net.SplitHostPort(addr)
	if port != "22" {
		host = "[" + host + "]:" + port
	}
	return host + " " + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.ssh.hostKey)))
}

// SSHURL is the ssh:// URL of a project for an account.
func (s *Server) SSHURL(username, project string) string {
	return "ssh://" + username + "@" + s.SSHAddr() + "/" + project
}
