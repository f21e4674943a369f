// Command gerritgate mirrors Gerrit projects and advances deploy/<env>
// branches on its own read-only git server only when an approval policy is
// met. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const usage = `gerritgate: a gated mirror between Gerrit and Flux

Usage:
  gerritgate serve --config gerritgate.yaml   run the service
  gerritgate demo [--listen 127.0.0.1:8080]   run it against a simulated Gerrit
  gerritgate check policy.yaml                validate a policy file
  gerritgate explain --config gerritgate.yaml --project P --env E [--commit SHA] [--policy new.yaml] [--last N] [--json]
                                              why each pending commit is (not) deployable
  gerritgate adopt --config gerritgate.yaml --project P --env E --commit SHA --reason "..."
                                              move deploy/E to a commit the policy did not approve, recorded
  gerritgate verify <clone-dir-or-URL> --key pub.asc [--recheck] [--json]
                                              check the audit trail offline
  gerritgate key new --out gate-key.asc       make the audit signing key; prints the public key
  gerritgate token new --name READER         make a reader token; prints it once and the sha256 line for access.yaml
  gerritgate version
`

var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gerritgate:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(ctx, args[1:], stdout, stderr)
	case "adopt":
		return cmdAdopt(ctx, args[1:], stdout, stderr)
	case "verify":
		return cmdVerify(ctx, args[1:], stdout, stderr)
	case "key":
		return cmdKey(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, "gerritgate", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

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

func newLogger(w io.Writer, json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
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
		clones:       uploadpack.NewLimiter(cfg.MaxConcurrentClones, cfg.MaxClonesPerReader, cfg.MaxClonesPerAddress),
		http:         cfg.HTTP,
		connsPerAddr: cfg.MaxConnectionsPerAddress,
		webhook:      newWebhook([]byte(hookSecret)),
		poll:         cfg.Poll,
		listen:       cfg.HTTP.Listen,
		policyFile:   cfg.Policy,
		store:        store,
		mirror:       m,
		deployer:     deploy.New(store, client, deploy.WithLogger(logger), deploy.WithSigner(signer), deploy.WithVersion(version)),
		logger:       logger,
		metrics:      metrics,
		results:      map[string]deploy.Result{},
		pendingCache: map[string]deploy.Result{},
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

func cmdCheck(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: gerritgate check policy.yaml")
	}
	pc, err := gate.LoadPolicy(args[0])
	if err != nil {
		return err
	}
	for _, r := range pc.Repos {
		for _, e := range r.Environments {
			accepts := ""
			if len(r.AcceptFrom) > 0 {
				accepts = ", also changes merged into " + strings.Join(r.AcceptFrom, ", ")
			}
			fmt.Fprintf(stdout, "%s %s -> deploy/%s (policy %s, baseline %s%s)\n", r.Project, r.Branch, e.Name, e.Policy, e.Baseline, accepts)
			for _, line := range pc.Policies[e.Policy].Summary() {
				fmt.Fprintf(stdout, "  - %s\n", line)
			}
		}
	}
	fmt.Fprintln(stdout, "policy OK")
	return nil
}

// eventStream builds the stream-events follower from the config.
func eventStream(cfg *Config, logger *slog.Logger) (*gerrit.EventStream, error) {
	u, _ := url.Parse(cfg.Gerrit.EventsURL) // validated by ParseConfig
	key, err := os.ReadFile(cfg.Gerrit.SSHKeyFile)
	if err != nil {
		return nil, fmt.Errorf("gerrit.sshKeyFile: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("gerrit.sshKeyFile %s: %w", cfg.Gerrit.SSHKeyFile, err)
	}
	hostKeys, err := knownhosts.New(cfg.Gerrit.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("gerrit.knownHostsFile: %w", err)
	}
	user := u.User.Username()
	if user == "" {
		user = cfg.Gerrit.Username
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "29418")
	}
	return &gerrit.EventStream{Addr: addr, User: user, Signer: signer, HostKeyCallback: hostKeys, Logger: logger}, nil
}
