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
	"sort"
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
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/gitssh"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// service runs the poll loop and the HTTP listener.
type service struct {
	poll         string
	listen       string
	policyFile   string
	fetchTimeout time.Duration
	sshListen    string
	hostKeys     []string
	sshLimits    SSHConfig           // its timeouts and failed-login bound
	access       *access.Watcher     // nil: anonymous HTTP, no SSH
	clones       *uploadpack.Limiter // shared by the HTTP and SSH front ends
	http         HTTPConfig          // timeouts and body bounds
	connsPerAddr int                 // open connections from one address, per listener
	webhook      *webhook
	policy       atomic.Pointer[gate.Config]
	store        *storage.Store
	mirror       *mirror.Mirror
	deployer     *deploy.Deployer
	logger       *slog.Logger
	metrics      *metrics

	work    sync.Mutex // one poll or explain at a time over the repositories
	mu      sync.Mutex
	results map[string]deploy.Result // by project + "\x00" + env
	listed  map[string][]string      // last project list per pattern

	nudge  chan struct{}       // a poll asked for now (cap 1)
	events *gerrit.EventStream // nil: no stream-events

	pendingMu    sync.Mutex // one /pending computation at a time
	pendingCache map[string]deploy.Result
	lister       projectLister
	polls        atomic.Int64
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

func resultKey(project, env string) string { return project + "\x00" + env }

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
	s.forgetExcept(byProject)
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
				if prev, ok := s.result(t.Project, t.Env); ok {
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
	s.polls.Add(1)
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

// forgetExcept drops the results of environments the policy no longer
// has (after a reload), so the status page shows only what is gated now.
func (s *service) forgetExcept(byProject map[string][]deploy.Target) {
	keep := map[string]bool{}
	for _, ts := range byProject {
		for _, t := range ts {
			keep[resultKey(t.Project, t.Env)] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.results {
		if !keep[k] {
			delete(s.results, k)
		}
	}
}

func (s *service) result(project, env string) (deploy.Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.results[resultKey(project, env)]
	return r, ok
}

func (s *service) record(res deploy.Result) {
	s.metrics.observe(res)
	s.mu.Lock()
	prev, had := s.results[resultKey(res.Project, res.Env)]
	s.results[resultKey(res.Project, res.Env)] = res
	s.mu.Unlock()
	changed := !had || prev.Reason != res.Reason || prev.Message != res.Message || prev.Head != res.Head
	if changed && res.Reason != deploy.Advanced && res.Reason != deploy.Initialized {
		// Advances are logged by deploy; log only transitions of the rest.
		s.logger.Info("decision", "project", res.Project, "env", res.Env, "reason", res.Reason, "message", res.Message)
	}
	if changed && s.onResult != nil {
		s.onResult(res)
	}
}

// snapshot returns the latest results, sorted.
func (s *service) snapshot() []deploy.Result {
	s.mu.Lock()
	out := make([]deploy.Result, 0, len(s.results))
	for _, r := range s.results {
		out = append(out, r)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Project != out[j].Project {
			return out[i].Project < out[j].Project
		}
		return out[i].Env < out[j].Env
	})
	return out
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
	if s.access != nil {
		opts = append(opts, githttp.WithAuthorizer(access.NewHTTPAuth(s.access)))
	}
	git := githttp.New(s.store, opts...)
	api := http.NewServeMux()
	api.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	api.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.polls.Load() == 0 {
			http.Error(w, "first poll not finished", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	api.HandleFunc("GET /api/v1/status", s.serveStatus)
	api.HandleFunc("POST /api/v1/hooks/gerrit", s.serveNudge)
	api.HandleFunc("POST /api/v1/hooks/gerrit/{secret}", s.serveNudge)
	api.HandleFunc("GET /api/v1/projects/{project}/environments/{env}", s.serveEnvironment)
	api.HandleFunc("GET /api/v1/projects/{project}/environments/{env}/pending", s.servePending)
	api.Handle("GET /metrics", s.requireMetrics(s.metrics.handler()))
	api.HandleFunc("GET /{$}", s.servePage)
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
