package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// watchPolicy reloads the policy file when its content changes (checked
// every interval, and at once on a signal on hup, which reloads the access
// file too; that one also watches itself). A file that does not
// parse changes nothing: the last good policy stays in force, and the error
// is logged and counted.
func (s *service) watchPolicy(ctx context.Context, path string, interval time.Duration, hup <-chan os.Signal) {
	last := fileHash(path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			last = nil // reload even if unchanged, to report its state
			if s.access != nil {
				if err := s.access.Reload(); err != nil {
					s.logger.Error("access reload failed; keeping the last good list", "err", err)
				}
			}
		}
		h := fileHash(path)
		if h == nil || bytes.Equal(h, last) {
			continue
		}
		last = h
		pc, err := gate.LoadPolicy(path)
		if err != nil {
			s.metrics.reloads.WithLabelValues("policy", "error").Inc()
			s.logger.Error("policy reload failed; keeping the last good policy", "err", err)
			continue
		}
		s.policy.Store(pc)
		s.metrics.reloads.WithLabelValues("policy", "ok").Inc()
		s.logger.Info("policy reloaded", "file", path)
	}
}

func fileHash(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(b)
	return h[:]
}
