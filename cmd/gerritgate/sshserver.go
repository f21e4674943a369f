package main

import (
	"fmt"
	"net"

	"github.com/gerritgate/gerritgate/storage/gitssh"
)

// listenSSH opens the SSH listener, bounded, and the server for it.
func (s *service) listenSSH() (*gitssh.Server, net.Listener, error) {
	c := s.cfg.SSH
	opts := []gitssh.Option{
		gitssh.WithAuthorizer(s.access),
		gitssh.WithLogger(s.logger),
		gitssh.WithLimiter(s.clones),
		gitssh.WithAdvertiser(s.refs),
		gitssh.WithObserver(func(project, outcome string) {
			s.metrics.gitRequests.WithLabelValues("ssh", outcome).Inc()
		}),
		gitssh.WithHandshakeTimeout(c.handshakeTimeout),
		gitssh.WithIdleTimeout(c.idleTimeout),
		gitssh.WithMaxTimeout(c.maxConnectionTime),
		gitssh.WithFailedLoginLimit(c.MaxFailedLogins, c.failedLoginWindow),
		gitssh.WithMaxSessions(c.maxSessions, c.maxSessionsPerReader),
		gitssh.WithConnectionObserver(s.metrics.observeSSH),
	}
	if s.packs != nil {
		opts = append(opts, gitssh.WithPackCache(s.packs))
	}
	for _, k := range c.HostKeyFiles {
		opts = append(opts, gitssh.WithHostKeyFile(k))
	}
	srv, err := gitssh.New(s.store, opts...)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh listener: %w", err)
	}
	return srv, s.limitListener(ln, "ssh", nil), nil
}
