package gitssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// Resolver maps a project name and the environments a reader is granted
// to the directory of the served repository to run upload-pack on.
// *storage.Store satisfies it; it must refuse unsafe names, fail for
// unknown ones (answered "repository not found"), and return
// storage.ErrGrant for a grant it cannot serve (answered with why).
type Resolver interface {
	ReaderPath(project string, g storage.Grant) (string, error)
}

// Authorizer decides who a public key belongs to and what they may read.
// It is asked at the handshake and again for every command, so a key taken
// out of the access list stops working for the next command. It must be
// safe for concurrent use. *access.Watcher satisfies it.
type Authorizer interface {
	AuthorizeKey(key gossh.PublicKey) (reader string, ok bool)
	CanRead(reader, project string) bool
	// Environments says which environments of project reader may read.
	Environments(reader, project string) storage.Grant
}

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown
// or Close.
var ErrServerClosed = ssh.ErrServerClosed

// Server serves git-upload-pack over SSH.
type Server struct {
	resolver     Resolver
	auth         Authorizer
	logger       *slog.Logger
	gitPath      string
	idleTimeout  time.Duration
	maxTimeout   time.Duration
	hostKeyFiles []string
	onSession    func(project, outcome string)
	onConn       func(event string)
	limit        *uploadpack.Limiter
	adv          Advertiser
	packs        PackCache

	handshakeTimeout time.Duration
	sessions         *uploadpack.Limiter // open session channels, all and per reader
	maxFailedLogins  int
	failedLoginsFor  time.Duration
	peers            *peers

	srv     *ssh.Server
	signers []gossh.Signer

	mu       sync.Mutex
	closing  bool
	active   sync.WaitGroup // session handlers, which gliderlabs/ssh does not wait for
	kill     chan struct{}  // closed by Close: stop every git at once
	killOnce sync.Once
}

// Option configures a Server.
type Option func(*Server)

// WithHostKeyFile adds a host key (an unencrypted ed25519, RSA or ECDSA
// private key, OpenSSH or PEM). Give one per key type; at least one is
// required. Clients pin these keys in known_hosts.
func WithHostKeyFile(path string) Option {
	return func(s *Server) { s.hostKeyFiles = append(s.hostKeyFiles, path) }
}

// WithLogger sets the logger for session lines.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// WithAuthorizer sets who may connect and read what. Without one every
// key is refused.
func WithAuthorizer(a Authorizer) Option { return func(s *Server) { s.auth = a } }

// WithGit sets the git binary (default "git" from PATH).
func WithGit(path string) Option { return func(s *Server) { s.gitPath = path } }

// WithIdleTimeout closes a connection with no traffic for d, and an
// upload-pack whose git data has not moved either way for d: a client that
// sends nothing while git waits for its wants, or takes nothing of the
// pack (default 30 seconds; upload-pack sends keepalives every 5 seconds
// while it prepares a pack).
func WithIdleTimeout(d time.Duration) Option { return func(s *Server) { s.idleTimeout = d } }

// WithMaxTimeout bounds a connection's whole life, and so each
// upload-pack on it (default 10 minutes, like one HTTP upload-pack run).
func WithMaxTimeout(d time.Duration) Option { return func(s *Server) { s.maxTimeout = d } }

// WithHandshakeTimeout closes a connection on which no command has
// started within d of its accept, or of the end of its last command
// (default 10 seconds). Bytes trickled during the handshake do not extend
// it, so a client must finish the key exchange and authenticate within d.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(s *Server) { s.handshakeTimeout = d }
}

// WithFailedLoginLimit refuses every connection from an address for d
// once n connections from it have tried to authenticate and failed
// within d (default 10 per minute; n 0 turns it off).
func WithFailedLoginLimit(n int, d time.Duration) Option {
	return func(s *Server) { s.maxFailedLogins, s.failedLoginsFor = n, d }
}

// WithMaxSessions bounds the session channels open at once, in all and
// for one reader (defaults 64 and 16). Each may hold up to 2 MiB its client
// sent and git has not read yet (x/crypto/ssh's window), so this bounds
// that memory: 128 MiB by default, 32 MiB for one reader.
func WithMaxSessions(total, perReader int) Option {
	return func(s *Server) { s.sessions = uploadpack.NewLimiter(total, perReader, total) }
}

// WithConnectionObserver is called for each connection refused or closed
// by a bound: "blocked", "handshake_timeout", "session_limit" (a session
// refused),
// "idle_timeout", and for each failed login, "login_failed"; e.g. for
// metrics.
func WithConnectionObserver(f func(event string)) Option {
	return func(s *Server) { s.onConn = f }
}

// WithObserver is called once per session with the project (or "" unless
// it named a served repository the reader may read, so clients cannot
// invent label values) and the outcome ("ok", "denied", "not_found",
// "push_refused", "refused", "bad_request", "unauthenticated", "busy",
// "timeout" (no progress within the idle timeout), "error"),
// e.g. for metrics.
func WithObserver(f func(project, outcome string)) Option {
	return func(s *Server) { s.onSession = f }
}

// WithLimiter bounds concurrent upload-packs (shared with the HTTP front
// end); a session over the bound is refused with a message to retry.
func WithLimiter(l *uploadpack.Limiter) Option { return func(s *Server) { s.limit = l } }

// New returns a Server serving the repositories r resolves. It fails when
// no host key is given or one cannot be loaded.
func New(r Resolver, opts ...Option) (*Server, error) {
	s := &Server{
		resolver:    r,
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		gitPath:     "git",
		idleTimeout: 30 * time.Second,
		maxTimeout:  10 * time.Minute,
		kill:        make(chan struct{}),

		handshakeTimeout: 10 * time.Second,
		maxFailedLogins:  10,
		failedLoginsFor:  time.Minute,
	}
	for _, o := range opts {
		o(s)
	}
	if s.handshakeTimeout <= 0 || s.idleTimeout <= 0 || s.maxTimeout <= 0 {
		return nil, errors.New("gitssh: timeouts must be positive")
	}
	s.peers = newPeers(s.maxFailedLogins, s.failedLoginsFor)
	if s.sessions == nil {
		s.sessions = uploadpack.NewLimiter(64, 16, 64)
	}
	if len(s.hostKeyFiles) == 0 {
		// gliderlabs/ssh would make up a new key on every start, which
		// every client would then refuse.
		return nil, errors.New("gitssh: no host key configured")
	}
	seen := map[string]string{}
	var signers []ssh.Signer
	for _, p := range s.hostKeyFiles {
		k, err := loadHostKey(p)
		if err != nil {
			return nil, err
		}
		t := k.PublicKey().Type()
		if other, dup := seen[t]; dup {
			return nil, fmt.Errorf("host keys %s and %s are both %s: give one key per type", other, p, t)
		}
		seen[t] = p
		s.signers = append(s.signers, k)
		signers = append(signers, k)
	}

	deny := func(ssh.Context, string, uint32) bool { return false }
	s.srv = &ssh.Server{
		Version:          "gerritgate",
		HostSigners:      signers,
		Handler:          s.handle,
		PublicKeyHandler: s.publicKey,
		// No password or keyboard-interactive handler: public keys only.
		PtyCallback:                   func(ssh.Context, ssh.Pty) bool { return false },
		LocalPortForwardingCallback:   deny,
		ReversePortForwardingCallback: deny,
		// Only session channels: no direct-tcpip (ssh -L, -W), and no
		// global request handlers, so no tcpip-forward (ssh -R).
		ChannelHandlers:      map[string]ssh.ChannelHandler{"session": s.sessionChannel},
		ConnCallback:         s.connCallback,
		ServerConfigCallback: s.serverConfig,
		RequestHandlers:      map[string]ssh.RequestHandler{},
		// Every subsystem (sftp, ...) reaches handle, which refuses it
		// with a message.
		SubsystemHandlers:        map[string]ssh.SubsystemHandler{"default": s.handle},
		IdleTimeout:              s.idleTimeout,
		MaxTimeout:               s.maxTimeout,
		ConnectionFailedCallback: s.connectionFailed,
	}
	return s, nil
}

// PublicKeys returns the host keys, for known_hosts lines
// ([host]:port when the port is not 22) and fingerprints in logs.
func (s *Server) PublicKeys() []gossh.PublicKey {
	keys := make([]gossh.PublicKey, len(s.signers))
	for i, k := range s.signers {
		keys[i] = k.PublicKey()
	}
	return keys
}

// ListenAndServe listens on the TCP address addr and serves it.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on l until Shutdown or Close, when it returns
// ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error { return s.srv.Serve(l) }

// Shutdown stops accepting connections and new commands, then waits for
// the running ones to finish or ctx to end. After a Shutdown cut short by
// ctx, Close ends what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopSessions()
	err := s.srv.Shutdown(ctx)
	if werr := waitCtx(ctx, &s.active); werr != nil {
		return werr
	}
	return err
}

// Close closes the listeners and every connection at once, which kills
// their git processes, and waits for the session handlers to return.
func (s *Server) Close() error {
	s.stopSessions()
	err := s.srv.Close()
	s.killOnce.Do(func() { close(s.kill) })
	s.active.Wait()
	return err
}

func (s *Server) stopSessions() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
}

// startSession registers a session handler unless the server is closing.
func (s *Server) startSession() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.active.Add(1)
	return true
}

func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publicKey is the handshake check; handle asks again before each command.
func (s *Server) publicKey(ctx ssh.Context, key ssh.PublicKey) bool {
	if s.auth == nil {
		return false
	}
	if g := guardOf(ctx); g == nil || s.peers.blocked(g.addr, time.Now()) {
		return false
	}
	_, ok := s.auth.AuthorizeKey(key)
	return ok
}

func (s *Server) connectionFailed(conn net.Conn, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return // a port check, a client that gave up, or the handshake timeout: nothing to say
	}
	s.logger.Info("ssh handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
}

// sessionChannel is gliderlabs/ssh's session handler behind a filter of
// channel requests: agent forwarding, which it would accept, is refused,
// and of the environment only GIT_PROTOCOL is let through, a few times at
// most (it keeps every variable a client sends). A connection has a few
// sessions open at most, a reader and the server a bounded number.
func (s *Server) sessionChannel(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	g := guardOf(ctx)
	if g == nil || !g.openChannel() {
		ch.Reject(gossh.ResourceShortage, "too many sessions on one connection")
		return
	}
	defer g.closeChannel()
	key, _ := ctx.Value(ssh.ContextKeyPublicKey).(ssh.PublicKey)
	if key == nil || s.auth == nil {
		ch.Reject(gossh.Prohibited, "not logged in")
		return
	}
	// A key taken out of the access list since the handshake counts as
	// reader "" here; handle then refuses its command with a message.
	reader, _ := s.auth.AuthorizeKey(key)
	release, ok := s.sessions.TryAcquire(uploadpack.Peer{Reader: reader, Addr: g.addr})
	if !ok {
		s.observeConn("session_limit")
		ch.Reject(gossh.ResourceShortage, "gerritgate is busy: too many sessions open; retry shortly")
		return
	}
	defer release()
	ssh.DefaultSessionHandler(srv, conn, filteredChannel{ch}, ctx)
}

type filteredChannel struct{ gossh.NewChannel }

const maxEnv = 4

func (c filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := c.NewChannel.Accept()
	if err != nil {
		return nil, nil, err
	}
	out := make(chan *gossh.Request)
	// Ends when the channel's requests end, that is when it closes.
	go func() {
		defer close(out)
		env := 0
		for r := range reqs {
			switch r.Type {
			case "auth-agent-req@openssh.com", "x11-req":
				r.Reply(false, nil)
				continue
			case "env":
				var kv struct{ Key, Value string }
				if gossh.Unmarshal(r.Payload, &kv) != nil || kv.Key != "GIT_PROTOCOL" || env >= maxEnv {
					r.Reply(false, nil)
					continue
				}
				env++
			}
			out <- r
		}
	}()
	return ch, out, nil
}
