package refadv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Cache remembers a Snapshot per served repository directory, taken when
// first needed after each change of the repository's refs. It is safe for
// concurrent use; the zero value is not: use New.
type Cache struct {
	git     string
	timeout time.Duration
	builds  chan struct{} // bounds snapshots taken at once: each runs git upload-pack four times
	onBuild func(dir string, d time.Duration, err error)

	mu    sync.Mutex
	repos map[string]*entry
}

// entry is one repository's state. gen counts Invalidate calls; a snapshot
// is kept, and a build joined, only if it began at the current gen, that
// is after the last change of the refs had been made.
type entry struct {
	gen   uint64
	snap  *Snapshot // taken at gen; nil if none yet
	build *build    // the latest build started, if running
}

type build struct {
	gen  uint64
	done chan struct{}
	snap *Snapshot
	err  error
}

// Option configures a Cache.
type Option func(*Cache)

// WithGit sets the git binary (default "git" from PATH).
func WithGit(path string) Option { return func(c *Cache) { c.git = path } }

// WithObserver is called after each snapshot taken, with how long it
// took and its error, e.g. for logs and metrics.
func WithObserver(f func(dir string, d time.Duration, err error)) Option {
	return func(c *Cache) { c.onBuild = f }
}

// New returns an empty Cache.
func New(opts ...Option) *Cache {
	c := &Cache{
		git:     "git",
		timeout: time.Minute,
		builds:  make(chan struct{}, 4),
		repos:   map[string]*entry{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Invalidate forgets what dir advertised: from its return on, every answer
// comes from a snapshot taken after it began. storage calls it (through
// Store.NotifyRefs) when dir's refs or HEAD have changed, before the
// change is reported done.
func (c *Cache) Invalidate(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.repos[dir]; e != nil {
		e.gen++
		e.snap = nil
	}
}

// Snapshot returns what dir advertises now: the snapshot remembered since
// the last change of its refs, or a new one. Concurrent callers share one
// build; a build begun before a change is never shared with a caller that
// came after it.
func (c *Cache) Snapshot(ctx context.Context, dir string) (*Snapshot, error) {
	c.mu.Lock()
	e := c.repos[dir]
	if e == nil {
		e = &entry{}
		c.repos[dir] = e
	}
	if e.snap != nil {
		s := e.snap
		c.mu.Unlock()
		return s, nil
	}
	b := e.build
	start := b == nil || b.gen != e.gen
	if start {
		b = &build{gen: e.gen, done: make(chan struct{})}
		e.build = b
	}
	c.mu.Unlock()

	if start {
		// The build outlives a caller that gives up: others may wait on it.
		b.snap, b.err = c.take(context.WithoutCancel(ctx), dir)
		c.mu.Lock()
		if b.err == nil && e.gen == b.gen {
			e.snap = b.snap
		}
		if e.build == b {
			e.build = nil
		}
		c.mu.Unlock()
		close(b.done)
		return b.snap, b.err
	}
	select {
	case <-b.done:
		return b.snap, b.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Cache) take(ctx context.Context, dir string) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.builds <- struct{}{}:
		defer func() { <-c.builds }()
	case <-ctx.Done():
		return nil, fmt.Errorf("snapshot of %s: %w", dir, ctx.Err())
	}
	start := time.Now()
	s, err := snapshot(ctx, c.git, dir)
	if c.onBuild != nil {
		c.onBuild(dir, time.Since(start), err)
	}
	return s, err
}

// ErrDeclined is returned for a request this package does not answer
// exactly as git would: the caller must run git for it.
var ErrDeclined = errors.New("not answered from memory")

// InfoRefs writes the body of GET info/refs?service=git-upload-pack (what
// `git upload-pack --stateless-rpc --advertise-refs` writes, without the
// "# service" header) for a client whose Git-Protocol header is protocol,
// or returns ErrDeclined without writing anything.
func (c *Cache) InfoRefs(ctx context.Context, dir, protocol string, w io.Writer) error {
	v, ok := Version(protocol)
	if !ok {
		return ErrDeclined
	}
	s, err := c.Snapshot(ctx, dir)
	if err != nil {
		return err
	}
	return s.InfoRefs(w, v)
}

// Conversation returns what `git upload-pack` writes first in a
// conversation (SSH) for a client whose GIT_PROTOCOL is protocol: the ref
// advertisement (v0, v1) or the capability advertisement (v2), or
// ErrDeclined. In protocol v2 ref checks are then ls-refs commands within
// the conversation; LsRefs answers each as git would there too.
func (c *Cache) Conversation(ctx context.Context, dir, protocol string) ([]byte, error) {
	v, ok := Version(protocol)
	if !ok {
		return nil, ErrDeclined
	}
	s, err := c.Snapshot(ctx, dir)
	if err != nil {
		return nil, err
	}
	return s.conversation(v), nil
}

// LsRefs writes git's answer to a protocol v2 request read from req
// (already bounded and checked by the caller; one request of a
// conversation, or a stateless one: git answers both alike), if it is an
// ls-refs request it models exactly; else it returns ErrDeclined without
// writing anything. Of another command's request it reads only the
// beginning.
func (c *Cache) LsRefs(ctx context.Context, dir, protocol string, req io.Reader, w io.Writer) error {
	if v, ok := Version(protocol); !ok || v != 2 {
		return ErrDeclined
	}
	head := make([]byte, len(lsRefsCommand))
	if _, err := io.ReadFull(req, head); err != nil || !bytes.Equal(head, lsRefsCommand) {
		return ErrDeclined
	}
	rest, err := io.ReadAll(req)
	if err != nil {
		return ErrDeclined
	}
	s, err := c.Snapshot(ctx, dir)
	if err != nil {
		return err
	}
	a, ok := parseLsRefsRequest(append(head, rest...), s.sha1)
	if !ok {
		return ErrDeclined
	}
	_, err = w.Write(s.lsRefs(a))
	return err
}

// lsRefsCommand is how every git client begins an ls-refs request.
var lsRefsCommand = []byte("0014command=ls-refs\n")

// Version returns the protocol version git upload-pack speaks for a
// GIT_PROTOCOL value, and whether this package answers for it: only ""
// and "version=0", "version=1", "version=2" (each may repeat, separated
// by colons; git takes the highest). Anything else is left to git.
func Version(protocol string) (int, bool) {
	if protocol == "" {
		return 0, true
	}
	v := 0
	for _, item := range strings.Split(protocol, ":") {
		switch item {
		case "version=0":
		case "version=1":
			v = max(v, 1)
		case "version=2":
			v = 2
		default:
			return 0, false
		}
	}
	return v, true
}
