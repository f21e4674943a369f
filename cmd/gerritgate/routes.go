package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage/githttp"
)

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
	return limitListener(ln, maxConnections, s.cfg.MaxConnectionsPerAddress, s.metrics.connsRefused.WithLabelValues(name).Inc, idle)
}

// listenHTTP opens the HTTP listener, bounded, and the server for it.
func (s *service) listenHTTP() (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("http listener: %w", err)
	}
	idle := newIdleConns()
	ln = stallWrites(s.limitListener(ln, "http", idle), s.cfg.HTTP.stallTimeout)
	return &http.Server{
		ConnState:         idle.track,
		Handler:           s.handler(),
		ReadHeaderTimeout: s.cfg.HTTP.readHeaderTimeout,
		IdleTimeout:       s.cfg.HTTP.idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}, ln, nil
}

// handler routes git to the smart-HTTP front end and everything else to
// the health checks, the status page and API, nudges and metrics.
func (s *service) handler() http.Handler {
	opts := []githttp.Option{
		githttp.WithLogger(s.logger),
		githttp.WithLimiter(s.clones),
		githttp.WithAdvertiser(s.refs),
		githttp.WithPackCache(s.packs),
		githttp.WithBodyTimeout(s.cfg.HTTP.bodyTimeout),
		githttp.WithTimeout(s.cfg.HTTP.uploadPackTimeout),
		githttp.WithMaxRequestBody(int64(s.cfg.HTTP.MaxRequestBodyKiB) << 10),
		githttp.WithBudget(githttp.NewBudget(int64(s.cfg.HTTP.MaxBufferedKiB)<<10, int64(s.cfg.HTTP.MaxBufferedKiB)<<10/4)),
		githttp.WithObserver(func(project, outcome string) {
			s.metrics.gitRequests.WithLabelValues("http", outcome).Inc()
		}),
	}
	// One HTTPAuth for every route: it reads the access file's current
	// list on each request, so it sees every reload.
	var auth *access.HTTPAuth // nil: no access file
	var viewers status.Viewers = status.Everyone{}
	if s.access != nil {
		auth = access.NewHTTPAuth(s.access)
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
	status.NewHandler(s.board, viewers, s.poller, status.WithGerrit(s.cfg.Gerrit.URL), status.WithTrail(servedTrail{s.store})).Register(api)
	nudge := nudgeHandler(s.webhook, s.poke, s.relist)
	api.Handle("POST /api/v1/hooks/gerrit", nudge)
	api.Handle("POST /api/v1/hooks/gerrit/{secret}", nudge)
	api.Handle("GET /metrics", requireMetrics(auth, s.metrics.handler()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if githttp.IsGitPath(r.URL.Path) {
			git.ServeHTTP(w, r)
			return
		}
		// The whole request, body included, within the body timeout:
		// net/http reads an unread body after the handler, without end.
		if s.cfg.HTTP.bodyTimeout > 0 {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.HTTP.bodyTimeout))
		}
		api.ServeHTTP(w, r)
	})
}

// requireMetrics answers 401 unless the request carries a metrics token
// from the access file's metrics section (when there is an access file,
// whose auth is not nil): /metrics' labels name every project, so no
// reader's token opens it.
func requireMetrics(auth *access.HTTPAuth, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth != nil && !auth.Metrics(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gerritgate metrics"`)
			http.Error(w, "metrics token required (access file: metrics.tokens)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refSnapshotLogger logs each snapshot of a served repository's refs the
// ref checks take (after a start or a change of the refs): a failure
// leaves ref checks to C git, each then taking a clone slot.
func refSnapshotLogger(logger *slog.Logger) func(dir string, d time.Duration, err error) {
	return func(dir string, d time.Duration, err error) {
		if err != nil {
			logger.Warn("ref advertisement snapshot failed: ref checks run git", "repository", dir, "err", err)
			return
		}
		logger.Debug("ref advertisement snapshot", "repository", dir, "duration", d.Round(time.Microsecond))
	}
}
