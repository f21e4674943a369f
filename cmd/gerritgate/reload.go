package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// watchPolicy reloads the policy file when its content changes. A change
// is taken once the same content is seen on two checks in a row (interval
// apart), so a file caught half-written by an editor that writes in place
// is not applied; SIGHUP on hup takes the file as it is at once (and
// reloads the access file too, which also watches itself). What is parsed
// is exactly what was read and hashed. A file that does not parse changes
// nothing: the last good policy stays in force, and the error is logged
// and counted.
func (s *service) watchPolicy(ctx context.Context, path string, interval time.Duration, hup <-chan os.Signal) {
	applied := hashOf(readFile(path))
	var pending []byte // hash seen once, not yet applied
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		now := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			now = true
			if s.access != nil {
				if err := s.access.Reload(); err != nil {
					s.logger.Error("access reload failed; keeping the last good list", "err", err)
				}
			}
		}
		data := readFile(path)
		if data == nil {
			continue
		}
		h := hashOf(data)
		if bytes.Equal(h, applied) && !now {
			pending = nil
			continue
		}
		if !now && !bytes.Equal(h, pending) {
			pending = h // seen once: wait for the next check
			continue
		}
		pending, applied = nil, h
		pc, err := gate.ParsePolicy(path, data)
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

func readFile(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return b
}

func hashOf(b []byte) []byte {
	if b == nil {
		return nil
	}
	h := sha256.Sum256(b)
	return h[:]
}
