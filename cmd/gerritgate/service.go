package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/projectglob"
	"github.com/gerritgate/gerritgate/mirror"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/gitssh"
)

// service runs the poll loop and the HTTP listener.
type service struct {
	poll         string
	listen       string
	policyFile   string
	fetchTimeout time.Duration
	sshListen    string
	hostKeys     []string
	sshLimits    SSHConfig        // its timeouts and failed-login bound
	access       *access.Watcher  // nil: anonymous HTTP, no SSH
	clones       *githttp.Limiter // shared by the HTTP and SSH front ends
	http         HTTPConfig       // timeouts and body bounds
	connsPerAddr int              // open connections from one address, per listener
	webhook      *webhook
	policy       atomic.Pointer[gate.Config]
	store        *storage.Store
	mirror       *mirror.Mirror
	deployer     *deploy.Deployer
	logger       *slog.Logger
	metrics      *metrics

	work   sync.Mutex // one poll or explain at a time over the repositories
	board  *status.Board
	mu     sync.Mutex
	listed map[string][]string // last project list per pattern

	nudge  chan struct{}       // a poll asked for now (cap 1)
	events *gerrit.EventStream // nil: no stream-events

	lister projectLister
	// onResult, when set, sees every result whose reason or message
	// changed (the demo prints them).
	onResult func(deploy.Result)
}

// poke asks for a poll now; one request waits at most.
func (s *service) poke() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// maxConnections bounds the open connections of each listener: past it,
// new ones wait in the kernel's backlog, so a flood of idle connections
// cannot exhaust the process's file descriptors.
const maxConnections = 1024

// maxHeaderBytes bounds a request's headers: git, Flux and browsers send
// a few hundred bytes.
const maxHeaderBytes = 64 << 10

// limitListener bounds a listener's open connections, all together and
// from one source address; idle (may be nil) are its connections that
// may be closed to make room.
func (s *service) limitListener(ln net.Listener, name string, idle *idleConns) net.Listener {
	return limitListener(ln, maxConnections, s.connsPerAddr, s.metrics.connsRefused.WithLabelValues(name).Inc, idle)
}

// targetsFor lists the environments the policy gives one project (a
// literal entry or a matching pattern).
func targetsFor(pc *gate.Config, project string) ([]deploy.Target, error) {
	repos, err := pc.Match(project)
	if err != nil {
		return nil, err
	}
	var out []deploy.Target
	for _, r := range repos {
		for _, e := range r.Environments {
			out = append(out, deploy.Target{
				Project: project, Branch: r.Branch, Env: e.Name,
				Policy: pc.Policies[e.Policy], Baseline: e.Baseline, AcceptFrom: r.AcceptFrom,
			})
		}
	}
	return out, nil
}

// projectLister is what the service needs to expand project patterns.
type projectLister interface {
	ListProjects(ctx context.Context, prefix string) ([]string, error)
}

// projects lists the projects to poll: those the policy names, then those
// Gerrit has that a pattern matches. When Gerrit cannot be listed, the last
// list it gave is used, so already gated projects keep being reconciled
// (and fail closed on their own if Gerrit is really gone).
func (s *service) projects(ctx context.Context, pc *gate.Config) []string {
	names := pc.Projects()
	for _, pat := range pc.Patterns() {
		prefix := pat[:strings.IndexAny(pat, "*?[")]
		list, err := s.lister.ListProjects(ctx, prefix)
		s.mu.Lock()
		if err != nil {
			s.logger.Warn("cannot list Gerrit projects; using the last list", "pattern", pat, "err", err)
			list = s.listed[pat]
		} else {
			s.listed[pat] = list
		}
		s.mu.Unlock()
		for _, name := range list {
			if projectglob.Match(pat, name) && name != "All-Projects" && name != "All-Users" && storage.ValidateProject(name) == nil && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

// pollOnce fetches every project and reconciles every environment, one
// project after the other. A project whose fetch fails keeps its deploy
// refs where they are.
func (s *service) pollOnce(ctx context.Context) {
	s.work.Lock()
	defer s.work.Unlock()
	start := time.Now()
	pc := s.policy.Load()
	byProject := map[string][]deploy.Target{}
	var projects []string
	for _, p := range s.projects(ctx, pc) {
		ts, err := targetsFor(pc, p)
		if err != nil {
			s.logger.Error("project not gated: the policy is ambiguous for it", "project", p, "err", err)
			continue
		}
		if len(ts) > 0 {
			projects = append(projects, p)
			byProject[p] = ts
		}
	}
	s.board.Retain(func(project, env string) bool {
		return slices.ContainsFunc(byProject[project], func(t deploy.Target) bool { return t.Env == env })
	})
	adoptions, adoptionIDs := deploy.AdoptionRequests(s.store.Dir())
	for _, p := range projects {
		if ctx.Err() != nil {
			return
		}
		fctx, cancel := context.WithTimeout(ctx, s.fetchTimeout)
		_, ferr := s.mirror.Fetch(fctx, p)
		cancel()
		s.adopt(ctx, pc, p, adoptions, adoptionIDs)
		for _, t := range byProject[p] {
			var res deploy.Result
			if ferr != nil {
				res = deploy.Result{
					Project: t.Project, Branch: t.Branch, Env: t.Env, Policy: t.Policy.Name,
					Reason: deploy.Failed, Message: ferr.Error(), Time: time.Now().UTC(),
				}
				if prev, ok := s.board.Result(t.Project, t.Env); ok {
					res.From, res.To = prev.To, prev.To
				}
			} else {
				res = s.deployer.Reconcile(ctx, t)
			}
			s.record(res)
		}
	}
	for _, id := range adoptionIDs {
		if a, waiting := adoptions[id]; waiting {
			s.finishAdoption(id, deploy.Result{Project: a.Project, Env: a.Env, Reason: deploy.Failed, Time: time.Now().UTC(),
				Message: fmt.Sprintf("adopt: the policy gates no environment %q for project %q", a.Env, a.Project)})
		}
	}
	s.board.Polled()
	s.metrics.pollDuration.Observe(time.Since(start).Seconds())
}

// adopt applies the waiting adoption requests (from gerritgate adopt) for
// project, after its fetch so the named commit can be in the mirror, and
// removes them from adoptions.
func (s *service) adopt(ctx context.Context, pc *gate.Config, project string, adoptions map[string]deploy.Adoption, ids []string) {
	for _, id := range ids {
		a, waiting := adoptions[id]
		if !waiting || a.Project != project {
			continue
		}
		delete(adoptions, id)
		t, err := findTarget(pc, a.Project, a.Env)
		var res deploy.Result
		if err != nil {
			res = deploy.Result{Project: a.Project, Env: a.Env, Reason: deploy.Failed, Message: "adopt: " + err.Error(), Time: time.Now().UTC()}
		} else {
			res = s.deployer.Adopt(ctx, t, a)
		}
		s.finishAdoption(id, res)
		if res.Reason == deploy.Adopted {
			s.record(res)
		}
	}
}

func (s *service) finishAdoption(id string, res deploy.Result) {
	if err := deploy.FinishAdoption(s.store.Dir(), id, res); err != nil {
		s.logger.Error("cannot answer an adoption request", "id", id, "err", err)
	}
}

func (s *service) record(res deploy.Result) {
	s.metrics.observe(res)
	changed := s.board.Record(res)
	if changed && res.Reason != deploy.Advanced && res.Reason != deploy.Initialized {
		// Advances are logged by deploy; log only transitions of the rest.
		s.logger.Info("decision", "project", res.Project, "env", res.Env, "reason", res.Reason, "message", res.Message)
	}
	if changed && s.onResult != nil {
		s.onResult(res)
	}
}

// Explain decides afresh on the pending commits of one environment the
// policy gates (for the status API's /pending), not while a poll walks
// the same repositories.
func (s *service) Explain(ctx context.Context, project, env string) (deploy.Result, bool, error) {
	t, err := findTarget(s.policy.Load(), project, env)
	if err != nil {
		return deploy.Result{}, false, err
	}
	s.work.Lock()
	defer s.work.Unlock()
	res, err := s.deployer.Explain(ctx, t, 0)
	return res, true, err
}

// run serves HTTP and polls until ctx is cancelled, then stops both: the
// poll in progress is cancelled (nothing half-moves: refs change only by
// compare-and-swap after the objects are safe) and open requests get a
// grace period.
func (s *service) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	idle := newIdleConns()
	ln = stallWrites(s.limitListener(ln, "http", idle), s.http.stallTimeout)
	srv := &http.Server{
		ConnState:         idle.track,
		Handler:           s.handler(),
		ReadHeaderTimeout: s.http.readHeaderTimeout,
		IdleTimeout:       s.http.idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	s.logger.Info("serving", "http", "http://"+ln.Addr().String(), "poll", s.poll)
	if s.access == nil {
		s.logger.Warn("no access file: every served project is readable anonymously over HTTP")
	}

	var bg sync.WaitGroup // goroutines run() owns
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() { stopBg(); bg.Wait() }()
	if s.access != nil {
		bg.Go(func() { s.access.Run(bgCtx) })
	}
	if s.sshListen != "" {
		sshSrv, err := s.sshServer()
		if err != nil {
			srv.Close()
			return err
		}
		sln, err := net.Listen("tcp", s.sshListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("ssh listener: %w", err)
		}
		sln = s.limitListener(sln, "ssh", nil)
		s.logger.Info("serving", "ssh", sln.Addr().String())
		bg.Go(func() {
			if err := sshSrv.Serve(sln); err != nil && !errors.Is(err, gitssh.ErrServerClosed) {
				s.logger.Error("ssh server stopped", "err", err)
			}
		})
		defer func() {
			shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sshSrv.Shutdown(shut); err != nil {
				sshSrv.Close()
			}
		}()
	}

	c := cron.New(cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	id, err := c.AddFunc(s.poll, func() { s.pollOnce(ctx) })
	if err != nil {
		srv.Close()
		return fmt.Errorf("poll schedule %q: %w", s.poll, err)
	}
	c.Start()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { s.watchPolicy(watchCtx, s.policyFile, 2*time.Second, hup); close(watched) }()
	defer func() { stopWatch(); <-watched }()
	// Nudges (POST /api/v1/hooks/gerrit) poll now; at most one waits while
	// a poll runs, and polls they cause are 200ms apart at least.
	bg.Go(func() {
		for {
			select {
			case <-bgCtx.Done():
				return
			case <-s.nudge:
			}
			s.pollOnce(bgCtx)
			select {
			case <-bgCtx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	if s.events != nil {
		bg.Go(func() {
			s.events.Run(bgCtx, func(ev gerrit.Event) {
				s.metrics.events.WithLabelValues(ev.Type).Inc()
				s.poke()
			})
		})
	}
	// The first poll now, not one interval from now; through the cron
	// chain so it never overlaps a scheduled one.
	first := make(chan struct{})
	go func() { c.Entry(id).WrappedJob.Run(); close(first) }()

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	s.logger.Info("shutting down")
	<-first
	<-c.Stop().Done()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shut); serr != nil {
		srv.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *service) sshServer() (*gitssh.Server, error) {
	opts := []gitssh.Option{
		gitssh.WithAuthorizer(s.access),
		gitssh.WithLogger(s.logger),
		gitssh.WithLimiter(s.clones),
		gitssh.WithObserver(func(project, outcome string) {
			s.metrics.gitRequests.WithLabelValues("ssh", outcome).Inc()
		}),
		gitssh.WithHandshakeTimeout(s.sshLimits.handshakeTimeout),
		gitssh.WithIdleTimeout(s.sshLimits.idleTimeout),
		gitssh.WithMaxTimeout(s.sshLimits.maxConnectionTime),
		gitssh.WithFailedLoginLimit(s.sshLimits.MaxFailedLogins, s.sshLimits.failedLoginWindow),
		gitssh.WithMaxSessions(s.sshLimits.maxSessions, s.sshLimits.maxSessionsPerReader),
		gitssh.WithConnectionObserver(s.metrics.observeSSH),
	}
	for _, k := range s.hostKeys {
		opts = append(opts, gitssh.WithHostKeyFile(k))
	}
	return gitssh.New(s.store, opts...)
}

func (s *service) handler() http.Handler {
	opts := []githttp.Option{
		githttp.WithLogger(s.logger),
		githttp.WithLimiter(s.clones),
		githttp.WithBodyTimeout(s.http.bodyTimeout),
		githttp.WithStallTimeout(s.http.stallTimeout),
		githttp.WithTimeout(s.http.uploadPackTimeout),
		githttp.WithMaxRequestBody(int64(s.http.MaxRequestBodyKiB) << 10),
		githttp.WithBudget(githttp.NewBudget(int64(s.http.MaxBufferedKiB)<<10, int64(s.http.MaxBufferedKiB)<<10/4)),
		githttp.WithObserver(func(project, outcome string) {
			s.metrics.gitRequests.WithLabelValues("http", outcome).Inc()
		}),
	}
	var viewers status.Viewers = status.Everyone{}
	if s.access != nil {
		auth := access.NewHTTPAuth(s.access)
		opts = append(opts, githttp.WithAuthorizer(auth))
		viewers = auth
	}
	git := githttp.New(s.store, opts...)
	api := http.NewServeMux()
	api.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	api.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.board.Polls() == 0 {
			http.Error(w, "first poll not finished", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	api.HandleFunc("POST /api/v1/hooks/gerrit", s.serveNudge)
	api.HandleFunc("POST /api/v1/hooks/gerrit/{secret}", s.serveNudge)
	api.Handle("GET /metrics", s.requireMetrics(s.metrics.handler()))
	status.NewHandler(s.board, viewers, s).Register(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if githttp.IsGitPath(r.URL.Path) {
			git.ServeHTTP(w, r)
			return
		}
		// The whole request, body included, within the body timeout:
		// net/http reads an unread body after the handler, without end.
		if s.http.bodyTimeout > 0 {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.http.bodyTimeout))
		}
		api.ServeHTTP(w, r)
	})
}

// requireMetrics answers 401 unless the request carries a metrics token
// from the access file's metrics section (when there is an access file):
// /metrics' labels name every project, so no reader's token opens it.
func (s *service) requireMetrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.access != nil && !access.NewHTTPAuth(s.access).Metrics(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gerritgate metrics"`)
			http.Error(w, "metrics token required (access file: metrics.tokens)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
