package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// gerritPassword reads the Gerrit password file, if the config names one.
func gerritPassword(cfg *Config) (string, error) {
	if cfg.Gerrit.PasswordFile == "" {
		return "", nil
	}
	password, err := readSecret(cfg.Gerrit.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("gerrit.passwordFile: %w", err)
	}
	return password, nil
}

// gerritClient builds the REST client from the service config.
func gerritClient(cfg *Config, password string, logger *slog.Logger, more ...gerrit.Option) (*gerrit.Client, error) {
	opts := append([]gerrit.Option{gerrit.WithLogger(logger), gerrit.WithPageSize(cfg.Gerrit.PageSize)}, more...)
	if password != "" {
		opts = append(opts, gerrit.WithBasicAuth(cfg.Gerrit.Username, password))
	}
	return gerrit.New(cfg.Gerrit.URL, opts...)
}

// gerritACL is the Gerrit client as access.GerritChecker asks it.
type gerritACL struct{ *gerrit.Client }

// GroupMembers lists the account ids of a group, recursively.
func (a gerritACL) GroupMembers(ctx context.Context, group string) ([]string, error) {
	members, err := a.Client.GroupMembers(ctx, group, true)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = strconv.Itoa(m.ID)
	}
	return ids, nil
}

// gatedBranches lists the branches of project the policy gates, so
// Gerrit is asked whether a bound reader may read them; none for a
// project the policy does not gate (or gates ambiguously).
func gatedBranches(pc *gate.Config, project string) []string {
	if pc == nil {
		return nil
	}
	repos, err := pc.Match(project)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range repos {
		if !slices.Contains(out, r.Branch) {
			out = append(out, r.Branch)
		}
	}
	return out
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
