package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
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

// newService wires the service from its config: the policy, the data
// directory, the Gerrit client and the mirror.
func newService(cfg *Config, logger *slog.Logger) (*service, error) {
	pc, err := gate.LoadPolicy(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
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
	store, err := storage.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
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
		store.Close()
		return nil, err
	}
	var readers *access.Watcher
	if cfg.Access != "" {
		if readers, err = access.NewWatcher(cfg.Access, logger, time.Second); err != nil {
			store.Close()
			return nil, fmt.Errorf("access: %w", err)
		}
	}
	s := &service{
		sshListen:    cfg.SSH.Listen,
		fetchTimeout: cfg.Gerrit.fetchTimeout,
		hostKeys:     cfg.SSH.HostKeyFiles,
		sshLimits:    cfg.SSH,
		access:       readers,
		clones:       githttp.NewLimiter(cfg.MaxConcurrentClones, cfg.MaxClonesPerReader, cfg.MaxClonesPerAddress),
		http:         cfg.HTTP,
		connsPerAddr: cfg.MaxConnectionsPerAddress,
		webhook:      newWebhook([]byte(hookSecret)),
		poll:         cfg.Poll,
		listen:       cfg.HTTP.Listen,
		policyFile:   cfg.Policy,
		store:        store,
		mirror:       m,
		deployer:     deploy.New(store, client, deploy.WithLogger(logger)),
		logger:       logger,
		metrics:      metrics,
		board:        status.NewBoard(),
		nudge:        make(chan struct{}, 1),
		listed:       map[string][]string{},
		lister:       client,
	}
	if cfg.Gerrit.EventsURL != "" {
		if s.events, err = eventStream(cfg, logger); err != nil {
			store.Close()
			return nil, err
		}
	}
	s.policy.Store(pc)
	s.metrics.watchClones(s.clones)
	if readers != nil {
		s.metrics.watchAccess(readers)
	}
	return s, nil
}
