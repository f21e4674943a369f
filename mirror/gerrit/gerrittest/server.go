package gerrittest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// Version is the Gerrit version the simulator claims to be.
const Version = "3.13.5"

// Server is a simulated Gerrit. Its methods are safe for concurrent use.
type Server struct {
	gitPath    string
	dir        string
	ownDir     bool
	addr       string
	sshAddr    string
	sshEnabled bool
	clock      func() time.Time
	queryLimit int
	logger     *slog.Logger

	httpAddr string // fixed once listening, so a restart keeps it
	ssh      *sshServer
	wg       sync.WaitGroup

	lnMu        sync.Mutex // guards http and unreachable
	http        *http.Server
	unreachable bool

	events events // stream-events subscribers

	down    atomic.Bool
	hook    atomic.Pointer[func(*http.Request)]
	adverts adverts // kept answers to GET info/refs (advertise.go)

	mu       sync.Mutex
	last     time.Time // newest timestamp handed out; ticks strictly increase
	accounts []*account
	byName   map[string]*account
	groups   []*group
	projects map[string]*project
	changes  []*change // index = number-1
	enforce  bool
	serial   uint64        // for ids that must be unique
	trigger  *queryTrigger // set by OnQuery
	// viewAccess holds the accounts with the View Access capability.
	viewAccess map[int]bool
}

// Option configures a Server.
type Option func(*Server)

// WithAddr listens on addr (default 127.0.0.1:0).
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithDir keeps the repositories under dir instead of a temporary directory
// (which Close removes).
func WithDir(dir string) Option { return func(s *Server) { s.dir = dir } }

// WithGit sets the git binary (default "git" from PATH).
func WithGit(path string) Option { return func(s *Server) { s.gitPath = path } }

// WithClock sets the clock for every timestamp and commit date, so runs can
// be reproducible. Timestamps have whole seconds and never go back.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.clock = now } }

// WithQueryLimit sets the server's query limit (default 500, as Gerrit's).
func WithQueryLimit(n int) Option { return func(s *Server) { s.queryLimit = n } }

// WithSSH also serves git over SSH on addr ("" for 127.0.0.1:0).
func WithSSH(addr string) Option {
	return func(s *Server) { s.sshEnabled, s.sshAddr = true, addr }
}

// WithLogger logs requests and actions at debug level.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// New starts a simulated Gerrit. Close stops it.
func New(opts ...Option) (*Server, error) {
	s := &Server{
		gitPath:    "git",
		addr:       "127.0.0.1:0",
		clock:      time.Now,
		queryLimit: 500,
		logger:     slog.New(slog.DiscardHandler),
		byName:     map[string]*account{},
		projects:   map[string]*project{},
	}
	for _, o := range opts {
		o(s)
	}
	p, err := exec.LookPath(s.gitPath)
	if err != nil {
		return nil, fmt.Errorf("gerrittest: %w", err)
	}
	s.gitPath = p
	if s.dir == "" {
		d, err := os.MkdirTemp("", "gerrittest-*")
		if err != nil {
			return nil, err
		}
		s.dir, s.ownDir = d, true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	if s.sshEnabled {
		ss, err := newSSHServer(s)
		if err != nil {
			s.cleanup()
			return nil, err
		}
		s.ssh = ss
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s.httpAddr = ln.Addr().String()
	s.serveHTTP(ln)
	if s.ssh != nil {
		s.ssh.start(&s.wg)
	}
	// A fresh site's first account is admin, 1000000.
	s.AddAccount("admin")
	return s, nil
}

// URL is the base URL of the REST API and of git over HTTP, without a
// trailing slash.
func (s *Server) URL() string { return "http://" + s.httpAddr }

// serveHTTP serves on ln with a new http.Server (a closed one cannot serve
// again). Callers hold lnMu, or own s alone.
func (s *Server) serveHTTP(ln net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.http = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		srv.Serve(ln)
	}()
}

// SetUnreachable closes the HTTP and SSH listeners, so connections are
// refused as by a stopped server, or (false) listens again on the same
// addresses. Reopening fails if another process took a port meanwhile.
func (s *Server) SetUnreachable(off bool) error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if off == s.unreachable {
		return nil
	}
	if off {
		s.http.Close()
		if s.ssh != nil {
			s.ssh.stop()
		}
		s.unreachable = true
		return nil
	}
	ln, err := net.Listen("tcp", s.httpAddr)
	if err != nil {
		return fmt.Errorf("gerrittest: listen again: %w", err)
	}
	if s.ssh != nil {
		if err := s.ssh.listen(s.ssh.addr); err != nil {
			ln.Close()
			return fmt.Errorf("gerrittest: listen again: %w", err)
		}
		s.ssh.start(&s.wg)
	}
	s.serveHTTP(ln)
	s.unreachable = false
	return nil
}

// Dir is the directory holding the bare repositories (<project>.git).
func (s *Server) Dir() string { return s.dir }

// RepoDir is the bare repository of a project.
func (s *Server) RepoDir(project string) string { return repoDir(s.dir, project) }

// Close stops the servers, waits for them, and removes the temporary
// directory it made.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.lnMu.Lock()
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	if s.ssh != nil {
		s.ssh.stop()
	}
	s.unreachable = true
	s.lnMu.Unlock()
	s.wg.Wait()
	s.cleanup()
	return err
}

func (s *Server) cleanup() {
	if s.ownDir {
		os.RemoveAll(s.dir)
	}
}

// SetDown makes every HTTP request (REST and git) answer 503 and every SSH
// connection fail authentication, until SetDown(false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetRequestHook calls f at the start of every HTTP request (nil removes
// it). It may count requests or sleep to slow them; it runs on the
// request's goroutine, and r.Context() ends when the client gives up.
func (s *Server) SetRequestHook(f func(r *http.Request)) {
	if f == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&f)
}

// SetEnforceRequirements makes Submit refuse changes whose submit
// requirements are not all satisfied, as Gerrit does. It is off by default
// so tests can merge unapproved changes.
func (s *Server) SetEnforceRequirements(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enforce = on
}

// tick returns the next timestamp: the clock in whole seconds (what Gerrit
// 3.13 records), never before an earlier one. Equal timestamps are normal,
// as on a real server; queries then order by change number. Callers hold mu.
func (s *Server) tick() time.Time {
	t := s.clock().UTC().Truncate(time.Second)
	if t.Before(s.last) {
		t = s.last
	}
	s.last = t
	return t
}

// account is a Gerrit account.
type account struct {
	gate.Account
	password string
	sshKeys  [][]byte // marshalled public keys
}

// AddAccount creates an account (IDs from 1000000, like Gerrit's) with name
// and email derived from the username. Adding an existing username returns
// that account.
func (s *Server) AddAccount(username string) gate.Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addAccountLocked(username).Account
}

func (s *Server) addAccountLocked(username string) *account {
	if a := s.byName[username]; a != nil {
		return a
	}
	name := username
	if name != "" {
		name = string(name[0]&^0x20) + name[1:]
		if username[0] < 'a' || username[0] > 'z' {
			name = username
		}
	}
	a := &account{Account: gate.Account{
		ID:       1000000 + len(s.accounts),
		Username: username,
		Name:     name,
		Email:    username + "@example.com",
	}}
	s.accounts = append(s.accounts, a)
	s.byName[username] = a
	return a
}

// SetCredentials gives an account (created if needed) an HTTP password for
// Basic authentication on /a/ and on git over HTTP.
func (s *Server) SetCredentials(username, password string) gate.Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.addAccountLocked(username)
	a.password = password
	return a.Account
}

// Account returns an account by username.
func (s *Server) Account(username string) (gate.Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byName[username]
	if a == nil {
		return gate.Account{}, false
	}
	return a.Account, true
}

func (s *Server) accountByID(id int) *account {
	i := id - 1000000
	if i < 0 || i >= len(s.accounts) {
		return nil
	}
	return s.accounts[i]
}

// authenticate checks Basic credentials; nil when missing or wrong.
func (s *Server) authenticate(r *http.Request) *account {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byName[user]
	if a == nil || a.password == "" || subtle.ConstantTimeCompare([]byte(a.password), []byte(pass)) != 1 {
		return nil
	}
	return a
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f := s.hook.Load(); f != nil {
		(*f)(r)
	}
	start := time.Now()
	defer func() {
		s.logger.Debug("gerrittest request", "method", r.Method, "path", r.URL.EscapedPath(), "duration", time.Since(start))
	}()
	if s.down.Load() {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	path := r.URL.EscapedPath()
	var caller *account
	if rest, ok := cutPrefix(path, "/a/"); ok {
		caller = s.authenticate(r)
		if caller == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="Gerrit Code Review"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		path = "/" + rest
	}
	if m := gitRoute.FindStringSubmatch(path); m != nil {
		s.serveGit(w, r, m[1], m[2], caller)
		return
	}
	s.serveREST(w, r, path, caller)
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

// httpError is an error with the status Gerrit answers it with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// statusOf is the HTTP status for an error of the Go API.
func statusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	return http.StatusInternalServerError
}
