package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"

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
