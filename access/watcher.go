package access

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Watcher holds the current List of an access file and reloads it when the
// file's contents change. A file that fails to read or parse leaves the
// last good List in place; LastError says why.
//
// Its methods delegate to Current(), so a *Watcher can be handed to the
// front ends directly and they see every reload.
type Watcher struct {
	path     string
	logger   *slog.Logger
	interval time.Duration
	opts     []Option

	current    atomic.Pointer[List]
	generation atomic.Uint64
	failures   atomic.Uint64

	mu      sync.Mutex // serialises Reload and guards the fields below
	lastSum [sha256.Size]byte
	lastErr error
}

// NewWatcher loads the access file at path and returns a Watcher for it.
// It fails if the first load fails: there is no last good list to keep.
// interval is how often Run looks at the file (default one second).
func NewWatcher(path string, logger *slog.Logger, interval time.Duration, opts ...Option) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if interval <= 0 {
		interval = time.Second
	}
	w := &Watcher{path: path, logger: logger.With("file", path), interval: interval, opts: opts}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("access file: %w", err)
	}
	l, err := Parse(path, data, opts...)
	if err != nil {
		return nil, err
	}
	w.lastSum = sha256.Sum256(data)
	w.current.Store(l)
	w.generation.Store(1)
	w.logger.Info("access list loaded", "generation", 1, "readers", len(l.readers))
	return w, nil
}

// Run checks the file every interval until ctx is done, then returns nil.
// The caller owns the goroutine that runs it.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Reload()
		}
	}
}

// Reload reads the file now (for a SIGHUP, say) and installs it if its
// contents changed and parse. It returns the error that keeps the file
// from being used, nil when the current List is the file's contents.
//
// The whole file is read and hashed each time: it is small, and a hash
// catches edits that keep the size and the mtime (coarse clocks,
// ConfigMap symlink swaps).
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := os.ReadFile(w.path)
	if err != nil {
		err = fmt.Errorf("access file: %w", err)
		if w.lastErr == nil || w.lastErr.Error() != err.Error() {
			w.failures.Add(1)
			w.logger.Warn("access file unreadable; keeping the last good list", "generation", w.generation.Load(), "err", err)
		}
		w.lastErr = err
		w.lastSum = [sha256.Size]byte{} // read it again once it is back
		return err
	}
	sum := sha256.Sum256(data)
	if bytes.Equal(sum[:], w.lastSum[:]) {
		return w.lastErr
	}
	w.lastSum = sum
	l, err := Parse(w.path, data, w.opts...)
	if err != nil {
		w.lastErr = err
		w.failures.Add(1)
		w.logger.Warn("access file rejected; keeping the last good list", "generation", w.generation.Load(), "err", err)
		return err
	}
	w.current.Store(l)
	w.lastErr = nil
	g := w.generation.Add(1)
	w.logger.Info("access list reloaded", "generation", g, "readers", len(l.readers))
	return nil
}

// Current returns the last good List.
func (w *Watcher) Current() *List { return w.current.Load() }

// Generation counts the Lists loaded so far (1 after NewWatcher), for a
// gauge or to tell that a reload happened.
func (w *Watcher) Generation() uint64 { return w.generation.Load() }

// Failures counts rejected versions of the file (each broken content or
// read error once, not once per check), for a counter metric.
func (w *Watcher) Failures() uint64 { return w.failures.Load() }

// LastError returns why the file on disk is not the current List, or nil
// when it is.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// AuthorizeToken is Current().AuthorizeToken.
func (w *Watcher) AuthorizeToken(token string) (string, bool) {
	return w.Current().AuthorizeToken(token)
}

// AuthorizeKey is Current().AuthorizeKey.
func (w *Watcher) AuthorizeKey(key ssh.PublicKey) (string, bool) {
	return w.Current().AuthorizeKey(key)
}

// CanRead is Current().CanRead.
func (w *Watcher) CanRead(reader, project string) bool { return w.Current().CanRead(reader, project) }

// Anonymous is Current().Anonymous.
func (w *Watcher) Anonymous(project string) bool { return w.Current().Anonymous(project) }
