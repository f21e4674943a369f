package access

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/internal/filewatch"
	"github.com/gerritgate/gerritgate/storage"
)

// Watcher holds the current List of an access file and reloads it when the
// file's contents change (internal/filewatch: a new content is taken once
// two checks in a row read it; Reload takes it at once). A file that fails
// to read or parse leaves the last good List in place; LastError says why.
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

	mu       sync.Mutex // serialises checks and guards the fields below
	file     *filewatch.File
	lastErr  error
	observer func(result string)
}

// Observe has f called with "ok" or "error" for every reload after the
// first load, as the log reports them (a broken content once), for a
// counter. Call it before Run.
func (w *Watcher) Observe(f func(result string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.observer = f
}

// observe reports a reload's result; w.mu is held.
func (w *Watcher) observe(result string) {
	if w.observer != nil {
		w.observer(result)
	}
}

// warn logs what a loaded List grants by mistake.
func (w *Watcher) warn(l *List) {
	for _, err := range l.Warnings() {
		w.logger.Warn("access file grants a reader nothing", "err", err)
	}
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
	w.file = filewatch.New(path, data)
	w.current.Store(l)
	w.generation.Store(1)
	w.logger.Info("access list loaded", "generation", 1, "readers", len(l.readers))
	w.warn(l)
	return w, nil
}

// Run checks the file every interval until ctx is done, then returns nil.
// The caller owns the goroutine that runs it.
func (w *Watcher) Run(ctx context.Context) error {
	filewatch.Run[struct{}](ctx, w.interval, nil, func(bool) { w.check(false) })
	return nil
}

// Reload reads the file now (for a SIGHUP, say) and installs it, without
// waiting for a second look, if its contents changed and parse. It returns
// the error that keeps the file from being used, nil when the current List
// is the file's contents.
func (w *Watcher) Reload() error { return w.check(true) }

func (w *Watcher) check(force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, changed, err := w.file.Check(force)
	if err != nil {
		err = fmt.Errorf("access file: %w", err)
		if w.lastErr == nil || w.lastErr.Error() != err.Error() {
			w.failures.Add(1)
			w.observe("error")
			w.logger.Warn("access file unreadable; keeping the last good list", "generation", w.generation.Load(), "err", err)
		}
		w.lastErr = err
		return err
	}
	if !changed {
		return w.lastErr
	}
	l, err := Parse(w.path, data, w.opts...)
	if err != nil {
		w.lastErr = err
		w.failures.Add(1)
		w.observe("error")
		w.logger.Warn("access file rejected; keeping the last good list", "generation", w.generation.Load(), "err", err)
		return err
	}
	w.current.Store(l)
	w.lastErr = nil
	g := w.generation.Add(1)
	w.observe("ok")
	w.logger.Info("access list reloaded", "generation", g, "readers", len(l.readers))
	w.warn(l)
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

// Environments is Current().Environments.
func (w *Watcher) Environments(reader, project string) storage.Grant {
	return w.Current().Environments(reader, project)
}

// Anonymous is Current().Anonymous.
func (w *Watcher) Anonymous(project string) bool { return w.Current().Anonymous(project) }
