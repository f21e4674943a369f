package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/poll"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/gitssh"
	"github.com/gerritgate/gerritgate/storage/packcache"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "gerritgate.yaml", "service config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogJSON)
	s, err := newService(cfg, logger)
	if err != nil {
		return err
	}
	defer s.store.Close()
	return s.run(ctx)
}

// service is the parts of a running gate, wired from its config: run
// starts them and stops them together.
type service struct {
	cfg      *Config
	logger   *slog.Logger
	metrics  *metrics
	store    *storage.Store
	access   *access.Watcher     // nil: anonymous HTTP, no SSH
	clones   *uploadpack.Limiter // shared by the HTTP and SSH front ends
	refs     *refadv.Cache       // ref checks over HTTP and SSH, answered from memory
	packs    *packcache.Cache    // clones over HTTP answered from disk; nil: packCache.disabled
	webhook  *webhook
	board    *status.Board
	recorder *recorder
	poller   *poll.Poller
	poke     func()              // a poll now (the poller's Poke)
	relist   func()              // a poll now that lists Gerrit's projects again (the poller's Relist)
	poster   *deploy.Poster      // deploy messages on Gerrit changes
	notifier *deploy.Notifier    // Flux Receivers
	events   *gerrit.EventStream // nil: no stream-events
	// policyData is the policy file's content the policy in force was
	// parsed from, where watchPolicy starts.
	policyData []byte
}

// newService wires the service from its config: the policy, the data
// directory, the Gerrit client, the mirror and the poller.
func newService(cfg *Config, logger *slog.Logger) (*service, error) {
	// Read once: the watcher starts from these bytes, so an edit made
	// after this read is reloaded, not taken for the starting content.
	// A reviewed policy has no file: wire finds the commit in force.
	var pc *gate.Config
	var policyData []byte
	if cfg.PolicyReviewed == nil {
		var err error
		if policyData, err = os.ReadFile(cfg.Policy); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		if pc, err = gate.ParsePolicy(cfg.Policy, policyData); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	password, err := gerritPassword(cfg)
	if err != nil {
		return nil, err
	}
	var hookSecret string
	if cfg.HTTP.WebhookSecretFile != "" {
		if hookSecret, err = readSecret(cfg.HTTP.WebhookSecretFile); err != nil {
			return nil, fmt.Errorf("http.webhookSecretFile: %w", err)
		}
	}
	metrics := newMetrics()
	client, err := gerritClient(cfg, password, logger, gerrit.WithObserver(metrics.gerritCall))
	if err != nil {
		return nil, err
	}
	signer, err := auditSigner(cfg)
	if err != nil {
		return nil, err
	}
	if signer == nil {
		logger.Warn("audit.signingKey is not set: audit records are written unsigned and no signed tag is offered to Flux")
	}
	store, err := storage.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := store.RecoverServed(); err != nil {
		store.Close()
		return nil, fmt.Errorf("recover served repositories: %w", err)
	}
	poster := deploy.NewPoster(store, client, deploy.WithPostLogger(logger), deploy.WithPostObserver(func(o string) { metrics.posts.WithLabelValues(o).Inc() }))
	notifier := deploy.NewNotifier(deploy.WithNotifyLogger(logger), deploy.WithNotifyObserver(func(o string) { metrics.fluxCalls.WithLabelValues(o).Inc() }))
	deployer := deploy.New(store, client, deploy.WithLogger(logger), deploy.WithSigner(signer), deploy.WithVersion(version),
		deploy.WithPoster(poster), deploy.WithNotifier(notifier))
	s, err := wire(cfg, logger, metrics, store, client, deployer, pc, password, hookSecret)
	if err != nil {
		store.Close()
		return nil, err
	}
	s.poster, s.notifier, s.policyData = poster, notifier, policyData
	return s, nil
}

// wire builds the service's parts around an open store.
func wire(cfg *Config, logger *slog.Logger, metrics *metrics, store *storage.Store, client *gerrit.Client, deployer *deploy.Deployer, pc *gate.Config, password, hookSecret string) (*service, error) {
	gitURL := cfg.Gerrit.GitURL
	if gitURL == "" {
		gitURL = cfg.Gerrit.URL
	}
	m, err := mirror.New(store, mirror.Options{
		URL: gitURL, Username: cfg.Gerrit.Username, Password: password,
		SSHKeyFile: cfg.Gerrit.SSHKeyFile, KnownHostsFile: cfg.Gerrit.KnownHostsFile,
		Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	s := &service{
		cfg:     cfg,
		logger:  logger,
		metrics: metrics,
		store:   store,
		clones:  uploadpack.NewLimiter(cfg.MaxConcurrentClones, cfg.MaxClonesPerReader, cfg.MaxClonesPerAddress),
		webhook: newWebhook([]byte(hookSecret), cfg.HTTP.bodyTimeout),
		board:   status.NewBoard(),
		refs:    refadv.New(refadv.WithObserver(refSnapshotLogger(logger))),
	}
	if !cfg.PackCache.Disabled {
		s.packs, err = packcache.Open(filepath.Join(store.Dir(), "packcache"), int64(cfg.PackCache.MaxMiB)<<20,
			packcache.WithLogger(logger), packcache.WithTimeout(cfg.HTTP.uploadPackTimeout),
			packcache.WithObserver(func(o string) { metrics.packCache.WithLabelValues(o).Inc() }))
		if err != nil {
			return nil, err
		}
		metrics.watchPackCache(s.packs)
	}
	// Before an advance is reported done, ref checks forget the old refs
	// (the first one after it asks git again, once however many ask) and
	// the pack cache the old state; it then prepares the new tips' clones.
	// Served repositories are under served/ and, one per environment,
	// served-env/; the upstream mirrors are not served.
	sep := string(filepath.Separator)
	served, servedEnv := filepath.Join(store.Dir(), "served")+sep, filepath.Join(store.Dir(), "served-env")+sep
	store.NotifyRefs(func(dir string) {
		s.refs.Invalidate(dir)
		if s.packs != nil {
			s.packs.Invalidate(dir)
			if strings.HasPrefix(dir, served) || strings.HasPrefix(dir, servedEnv) {
				s.packs.Schedule(dir)
			}
		}
	})
	if cfg.Access != "" {
		checker := access.NewGerritChecker(gerritACL{client}, func(project string) []string { return gatedBranches(s.poller.Policy(), project) },
			access.WithLifetime(cfg.Gerrit.readCheckLifetime), access.WithTimeout(cfg.Gerrit.readCheckTimeout),
			access.WithCheckLogger(logger), access.WithCheckObserver(metrics.accessCheck))
		metrics.watchChecks(checker)
		if s.access, err = access.NewWatcher(cfg.Access, logger, time.Second, access.WithGerrit(checker)); err != nil {
			return nil, fmt.Errorf("access: %w", err)
		}
		metrics.watchAccess(s.access)
	}
	metrics.watchClones(s.clones)
	s.recorder = &recorder{Board: s.board, metrics: metrics}
	var refresh func(context.Context) *gate.Config
	if cfg.PolicyReviewed != nil {
		rp := newReviewedPolicy(cfg, store, logger, metrics, s.board)
		rp.fetch = func(ctx context.Context, project string) error {
			_, err := m.Fetch(ctx, project)
			return err
		}
		rp.deploy = deployer
		// The commit in force before the restart, from the data
		// directory alone; the first poll asks Gerrit for newer ones.
		rp.publish(rp.load())
		pc, refresh = rp.inForce, rp.Refresh
	}
	s.poller, err = poll.New(poll.Config{
		Schedule:     cfg.Poll,
		FetchTimeout: cfg.Gerrit.fetchTimeout,
		DataDir:      store.Dir(),
		Policy:       pc,
		Refresh:      refresh,
		Fetcher: poll.FetchFunc(func(ctx context.Context, project string) error {
			_, err := m.Fetch(ctx, project)
			return err
		}),
		Reconciler:  deployer,
		Recorder:    s.recorder,
		Lister:      client,
		Logger:      logger,
		Concurrency: cfg.Gerrit.MaxConcurrentFetches,
		Release:     store.Release,
		ListEvery:   cfg.Gerrit.projectListInterval,
	})
	if err != nil {
		return nil, err
	}
	s.poke, s.relist = s.poller.Poke, s.poller.Relist
	if cfg.Gerrit.EventsURL != "" {
		if s.events, err = eventStream(cfg, logger); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// run serves HTTP (and SSH) and polls until ctx is cancelled, then stops
// them: the poll in progress is cancelled (nothing half-moves: refs change
// only by compare-and-swap after the objects are safe), then open requests
// get a grace period. run owns every goroutine it starts and waits for
// them before it returns.
func (s *service) run(ctx context.Context) error {
	httpSrv, ln, err := s.listenHTTP()
	if err != nil {
		return err
	}
	var sshSrv *gitssh.Server
	var sln net.Listener
	if s.cfg.SSH.Listen != "" {
		if sshSrv, sln, err = s.listenSSH(); err != nil {
			ln.Close()
			return err
		}
	}

	var owned sync.WaitGroup // everything below, waited for at the end
	bg, stopBg := context.WithCancel(ctx)
	serveErr := make(chan error, 1)
	owned.Go(func() { serveErr <- httpSrv.Serve(ln) })
	s.logger.Info("serving", "http", "http://"+ln.Addr().String(), "poll", s.cfg.Poll)
	if s.access == nil {
		s.logger.Warn("no access file: every served project is readable anonymously over HTTP")
	} else {
		owned.Go(func() { s.access.Run(bg) })
	}
	if sshSrv != nil {
		s.logger.Info("serving", "ssh", sln.Addr().String())
		owned.Go(func() {
			if err := sshSrv.Serve(sln); err != nil && !errors.Is(err, gitssh.ErrServerClosed) {
				s.logger.Error("ssh server stopped", "err", err)
			}
		})
	}
	owned.Go(func() { s.poster.Run(bg) })
	if s.packs != nil {
		owned.Go(func() { s.packs.Run(bg) })
	}
	owned.Go(func() { s.notifier.Run(bg) })
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	owned.Go(func() { s.watchPolicy(bg, 2*time.Second, hup) })
	if s.events != nil {
		owned.Go(func() {
			s.events.Run(bg, func(ev gerrit.Event) {
				s.metrics.events.WithLabelValues(ev.Type).Inc()
				// A new project may match a pattern of the policy; a
				// (re)connection may have missed such an event.
				if ev.Type == "project-created" || ev.Type == "stream-connected" {
					s.relist()
					return
				}
				s.poke()
			})
		})
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	owned.Go(func() { s.poller.Run(pollCtx); close(polled) })

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	s.logger.Info("shutting down")
	// The poll first, then the listeners with a grace period, then the
	// watchers.
	stopPoll()
	<-polled
	shutdown(httpSrv.Shutdown, httpSrv.Close)
	if sshSrv != nil {
		shutdown(sshSrv.Shutdown, sshSrv.Close)
	}
	signal.Stop(hup)
	stopBg()
	owned.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// shutdown stops a server gracefully within 10s, else at once.
func shutdown(graceful func(context.Context) error, close func() error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if graceful(ctx) != nil {
		close()
	}
}
