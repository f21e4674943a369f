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
	"net/url"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	ghttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

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
}

// New returns a Mirror writing into store.
func New(store *storage.Store, o Options) (*Mirror, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("gerrit git URL: %w", err)
	}
	m := &Mirror{store: store, base: u, logger: o.Logger}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	switch u.Scheme {
	case "http", "https":
		if o.Username != "" {
			m.auth = &ghttp.BasicAuth{Username: o.Username, Password: o.Password}
			m.authPrefix = "/a"
		}
	case "ssh":
		if o.SSHKeyFile == "" || o.KnownHostsFile == "" {
			return nil, errors.New("gerrit git URL is ssh:// but sshKeyFile or knownHostsFile is not set")
		}
		user := u.User.Username()
		if user == "" {
			user = o.Username
		}
		keys, err := gssh.NewPublicKeysFromFile(user, o.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", o.SSHKeyFile, err)
		}
		cb, err := knownhosts.New(o.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("known hosts %s: %w", o.KnownHostsFile, err)
		}
		keys.HostKeyCallback = cb
		m.auth = keys
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
// branch heads by short name. Branches deleted in Gerrit are pruned.
func (m *Mirror) Fetch(ctx context.Context, project string) (map[string]plumbing.Hash, error) {
	start := time.Now()
	repo, err := m.store.Upstream(project)
	if err != nil {
		return nil, err
	}
	remote := git.NewRemote(repo.Git.Storer, &config.RemoteConfig{Name: "gerrit", URLs: []string{m.URL(project)}})
	err = remote.FetchContext(ctx, &git.FetchOptions{
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
		return nil, &FetchError{Project: project, URL: m.URL(project), Err: err}
	}
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
