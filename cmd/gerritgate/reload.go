package main

import (
	"context"
	"os"
	"time"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/filewatch"
)

// watchPolicy reloads the policy file when its content changes, with
// internal/filewatch's debounce: a change is taken once the same content
// is seen on two checks in a row (interval apart), so a file caught
// half-written by an editor that writes in place is not applied; SIGHUP on
// hup takes the file as it is at once (and reloads the access file too,
// which also watches itself). What is parsed is exactly what was read and
// hashed. A file that does not parse or cannot be read (deleted) changes
// nothing: the last good policy stays in force, and the error is logged
// (once until the file changes) and counted.
func (s *service) watchPolicy(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	path := s.cfg.Policy
	if path == "" { // reviewed in Gerrit: each poll refreshes it
		s.watchAccessOnHUP(ctx, hup)
		return
	}
	file := filewatch.New(path, s.policyData)
	var lastErr string // the read error already reported
	filewatch.Run(ctx, interval, hup, func(now bool) {
		if now && s.access != nil {
			if err := s.access.Reload(); err != nil {
				s.logger.Error("access reload failed; keeping the last good list", "err", err)
			}
		}
		data, changed, err := file.Check(now)
		if err != nil {
			if err.Error() != lastErr {
				lastErr = err.Error()
				s.metrics.reloads.WithLabelValues("policy", "error").Inc()
				s.metrics.policyOK.Set(0)
				s.logger.Error("policy file unreadable; keeping the last good policy", "file", path, "err", err)
			}
			return
		}
		lastErr = ""
		if !changed {
			if now {
				s.logger.Info("policy unchanged", "file", path)
			}
			return
		}
		pc, err := gate.ParsePolicy(path, data)
		if err != nil {
			s.metrics.reloads.WithLabelValues("policy", "error").Inc()
			s.metrics.policyOK.Set(0)
			s.logger.Error("policy reload failed; keeping the last good policy", "err", err)
			return
		}
		s.poller.SetPolicy(pc)
		s.metrics.reloads.WithLabelValues("policy", "ok").Inc()
		s.metrics.policyOK.Set(1)
		s.logger.Info("policy reloaded", "file", path)
	})
}

// watchAccessOnHUP reloads the access file on SIGHUP until ctx ends: a
// policy reviewed in Gerrit has no file to watch.
func (s *service) watchAccessOnHUP(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if s.access == nil {
				continue
			}
			if err := s.access.Reload(); err != nil {
				s.logger.Error("access reload failed; keeping the last good list", "err", err)
			}
		}
	}
}
