// Package mirror fetches Gerrit projects into the upstream repositories of
// storage. It fetches branches and tags only: refs/changes/* and
// refs/meta/* never enter the data directory, and nothing it fetches is
// served; only the deploy package moves gated commits into served
// repositories.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	ghttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gerritgate/gerritgate/internal/redact"
	"github.com/gerritgate/gerritgate/storage"
)

// Mirror fetches from one Gerrit server.
type Mirror struct {
	store  *storage.Store
	base   *url.URL
	auth   transport.AuthMethod
	logger *slog.Logger
	// authPrefix is "/a" for authenticated git over HTTP on Gerrit.
	authPrefix string
	// username is who Gerrit sees, for errors.
	username string
	// gitEnv is what C git fetches with besides gitexec's clean
	// environment: its configuration (gitfetch.go) and, for ssh:// URLs,
	// GIT_SSH_COMMAND.
	gitEnv []string
	// secrets are scrubbed from fetch errors, which quote Gerrit.
	secrets *redact.Secrets

	now  func() time.Time
	mu   sync.Mutex
	last map[string]fetched // by project: see unchanged
}

// Options say where and how to fetch.
type Options struct {
	// URL is the git base URL: http(s)://host[/prefix] or ssh://user@host:port.
	URL string
	// Username and Password authenticate HTTP fetches (Gerrit's HTTP
	// password or token); for HTTP, Gerrit serves authenticated git under /a/.
	Username string
	Password string
	// SSHKeyFile and KnownHostsFile authenticate SSH fetches; the host key
	// must be in known_hosts.
	SSHKeyFile     string
	KnownHostsFile string
	Logger         *slog.Logger
	// Clock says when it is, for the full fetch every 10 minutes
	// (default time.Now).
	Clock func() time.Time
}

// New returns a Mirror writing into store.
func New(store *storage.Store, o Options) (*Mirror, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("gerrit git URL: %w", err)
	}
	m := &Mirror{store: store, base: u, username: o.Username, logger: o.Logger, secrets: redact.NewSecrets(o.Username, o.Password), last: map[string]fetched{}, now: o.Clock}
	if m.now == nil {
		m.now = time.Now
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	switch u.Scheme {
	case "http", "https":
		if o.Username != "" {
			m.auth = &ghttp.BasicAuth{Username: o.Username, Password: o.Password}
			m.authPrefix = "/a"
		}
		kv, err := httpConfig(u, o.Username, o.Password, http.ProxyFromEnvironment)
		if err != nil {
			return nil, err
		}
		m.gitEnv = configEnv(append(gitConfig(u.Scheme), kv...))
	case "ssh":
		if o.SSHKeyFile == "" || o.KnownHostsFile == "" {
			return nil, errors.New("gerrit git URL is ssh:// but sshKeyFile or knownHostsFile is not set")
		}
		// Check both files now, so a mistake shows at start-up.
		if _, err := gssh.NewPublicKeysFromFile("git", o.SSHKeyFile, ""); err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", o.SSHKeyFile, err)
		}
		if _, err := knownhosts.New(o.KnownHostsFile); err != nil {
			return nil, fmt.Errorf("known hosts %s: %w", o.KnownHostsFile, err)
		}
		for _, f := range []string{o.SSHKeyFile, o.KnownHostsFile} {
			if strings.ContainsAny(f, "'\n") {
				return nil, fmt.Errorf("ssh file path %q: quotes and newlines are not supported", f)
			}
		}
		if u.User.Username() == "" && o.Username != "" {
			u.User = url.User(o.Username)
		}
		sshCommand := "ssh -F /dev/null -i '" + o.SSHKeyFile + "' -o IdentitiesOnly=yes -o IdentityAgent=none" +
			" -o UserKnownHostsFile='" + o.KnownHostsFile + "' -o GlobalKnownHostsFile=/dev/null" +
			" -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=30" +
			" -o ServerAliveInterval=15 -o ServerAliveCountMax=4"
		m.gitEnv = append(configEnv(gitConfig("ssh")), "GIT_SSH_COMMAND="+sshCommand)
	default:
		return nil, fmt.Errorf("gerrit git URL %q: scheme must be http, https or ssh", o.URL)
	}
	return m, nil
}

// URL is where a project is fetched from (without credentials).
func (m *Mirror) URL(project string) string {
	u := *m.base
	u.Path = strings.TrimSuffix(u.Path, "/") + m.authPrefix + "/" + project
	return u.String()
}

// Fetch brings the project's branches and tags up to date and returns the
// branch heads by short name. Branches deleted in Gerrit are pruned. Over
// HTTP it first asks Gerrit for the ref list only, and fetches nothing
// when that is what the last fetch saw (unchanged.go): a poll of projects
// that did not change costs one small request each. Which git fetches is
// useGit's choice.
func (m *Mirror) Fetch(ctx context.Context, project string) (map[string]plumbing.Hash, error) {
	start := time.Now()
	repo, err := m.store.Upstream(project)
	if err != nil {
		return nil, err
	}
	var now fetched
	if m.base.Scheme != "ssh" {
		var same bool
		now, same, err = m.unchanged(ctx, project)
		if err != nil {
			m.remember(project, fetched{})
			// go-git quotes the server: an error body, a remote error line.
			return nil, &FetchError{Project: project, URL: m.URL(project), Err: redact.Err(err, maxErrorText, m.secrets)}
		}
		if same {
			m.logger.Debug("unchanged", "project", project, "duration", time.Since(start).Round(time.Millisecond))
			return maps.Clone(now.heads), nil
		}
	}
	cgit, err := m.useGit(repo)
	if err != nil {
		return nil, err
	}
	if cgit {
		err = m.fetchGit(ctx, repo, project)
	} else {
		err = m.fetchGoGit(ctx, repo, project)
	}
	if err != nil {
		m.remember(project, fetched{})
		return nil, err
	}
	m.remember(project, now)
	heads, err := repo.Refs("refs/heads/")
	if err != nil {
		return nil, err
	}
	out := make(map[string]plumbing.Hash, len(heads))
	for name, h := range heads {
		out[strings.TrimPrefix(name, "refs/heads/")] = h
	}
	m.logger.Debug("fetched", "project", project, "branches", len(out), "duration", time.Since(start).Round(time.Millisecond))
	return out, nil
}

// useGit says whether C git fetches into repo rather than go-git: over
// SSH always (go-git's SSH transport cannot be cancelled during its
// handshake: a Gerrit that accepts and never answers would block the poll
// for ever); over HTTP for the first fetch of a project (repo holds no
// branch or tag yet), which C git does in about two thirds of go-git's
// time, its objects indexed by C threads rather than Go. Later fetches,
// a few commits each, take go-git less than half C git's time: C git
// starts three or four processes and walks the new commits' trees to
// check they are complete (docs/performance.md, "Mirror fetch").
func (m *Mirror) useGit(repo *storage.Repo) (bool, error) {
	if m.base.Scheme == "ssh" {
		return true, nil
	}
	refs, err := repo.Refs("refs/")
	if err != nil {
		return false, err
	}
	return len(refs) == 0, nil
}

// fetchGoGit fetches over HTTP(S) with go-git, which honours ctx.
func (m *Mirror) fetchGoGit(ctx context.Context, repo *storage.Repo, project string) error {
	err := repo.Fetch(ctx, m.URL(project), &git.FetchOptions{
		RefSpecs: []config.RefSpec{
			"+refs/heads/*:refs/heads/*",
			"+refs/tags/*:refs/tags/*",
		},
		Auth:  m.auth,
		Tags:  git.NoTags,
		Force: true,
		Prune: true,
	})
	switch {
	case errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
	case err != nil:
		// go-git quotes the server: an error body, a remote error line.
		return &FetchError{Project: project, URL: m.URL(project), Err: redact.Err(err, maxErrorText, m.secrets)}
	}
	return nil
}

// maxErrorText bounds what a fetch error repeats of Gerrit's or git's
// words.
const maxErrorText = 300

// FetchError is a failed fetch. It never holds credentials: they are not
// part of the URL.
type FetchError struct {
	Project string
	URL     string
	Err     error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("fetch %s from %s: %v", e.Project, e.URL, e.Err)
}
func (e *FetchError) Unwrap() error { return e.Err }
