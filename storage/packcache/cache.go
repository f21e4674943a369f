package packcache

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/internal/gitid"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// Outcomes of a request, as the observer is told them.
const (
	Hit    = "hit"    // answered from a kept file (computed by another request, or prepared)
	Miss   = "miss"   // computed now (and kept if it could be)
	Bypass = "bypass" // not a request this package keeps: left to git
)

// Cache keeps upload-pack answers in a directory of its own. It is safe
// for concurrent use; the zero value is not: use Open.
type Cache struct {
	dir       string
	max       int64
	git       string
	timeout   time.Duration
	logger    *slog.Logger
	onRequest func(outcome string)
	base      []byte // the git version and the served settings, part of every key

	mu      sync.Mutex
	repos   map[string]*repo
	lru     *list.List               // of *file, most recently used first
	files   map[string]*list.Element // by key
	used    int64                    // bytes of the files in lru
	flights map[string]*flight       // computations running, by key
	pending map[string]bool          // directories to prepare
	tooBig  map[string]bool          // keys whose answer outgrew the cache: left to git
	wake    chan struct{}
}

// file is one kept answer: its key (the file's name) and size on disk.
type file struct {
	key  string
	size int64
}

// flight is one computation; ok says whether its answer was kept.
type flight struct {
	done chan struct{}
	ok   bool
}

// Option configures a Cache.
type Option func(*Cache)

// WithGit sets the git binary (default "git" from PATH).
func WithGit(path string) Option { return func(c *Cache) { c.git = path } }

// WithLogger sets the logger for damaged files and failed preparations.
func WithLogger(l *slog.Logger) Option { return func(c *Cache) { c.logger = l } }

// WithObserver is called once per request Serve is asked, with its
// outcome (Hit, Miss, Bypass), e.g. for metrics.
func WithObserver(f func(outcome string)) Option { return func(c *Cache) { c.onRequest = f } }

// WithTimeout bounds one computation (default 10 minutes).
func WithTimeout(d time.Duration) Option { return func(c *Cache) { c.timeout = d } }

// Open returns a Cache keeping at most max bytes of answers in dir,
// created if need be. It takes in the answers dir already holds (the
// least recently written go first when room is needed) and removes what a
// crash left half-written.
func Open(dir string, max int64, opts ...Option) (*Cache, error) {
	if max < 1 {
		return nil, fmt.Errorf("pack cache %s: bound %d bytes is not positive", dir, max)
	}
	c := &Cache{
		dir: dir, max: max, git: "git", timeout: 10 * time.Minute,
		logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		repos:   map[string]*repo{},
		lru:     list.New(),
		files:   map[string]*list.Element{},
		flights: map[string]*flight{},
		pending: map[string]bool{},
		tooBig:  map[string]bool{},
		wake:    make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(c)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pack cache: %w", err)
	}
	vcmd := exec.Command(c.git, "version")
	vcmd.Env = gitexec.Env()
	version, err := vcmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pack cache: %s version: %w", c.git, err)
	}
	served := uploadpack.Command(context.Background(), c.git, "", "", uploadpack.Request)
	c.base = fmt.Appendf(nil, "%s\x00%q", version, served.Args)
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("pack cache: %w", err)
	}
	return c, nil
}

// load indexes the kept answers in c.dir, oldest first, and removes
// temporary files.
func (c *Cache) load() error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	type kept struct {
		file
		mod time.Time
	}
	var all []kept
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			if err := os.Remove(filepath.Join(c.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		info, err := e.Info()
		if err != nil || !e.Type().IsRegular() || len(name) != 2*sha256.Size || !gitid.IsLowerHex(name) {
			continue // not ours: left alone, not counted
		}
		all = append(all, kept{file{name, info.Size()}, info.ModTime()})
	}
	slices.SortFunc(all, func(a, b kept) int { return a.mod.Compare(b.mod) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range all {
		c.files[k.key] = c.lru.PushFront(&file{k.key, k.size})
		c.used += k.size
	}
	c.evict()
	return nil
}

// Used returns the bytes of kept answers, for metrics and tests.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Serve writes to w git upload-pack's answer to req (a stateless request,
// already bounded and checked), on the served repository dir, for a
// client whose GIT_PROTOCOL is protocol: from a kept file, or computed
// now (once for all identical requests) and kept. It returns false,
// having written nothing, when the caller must run git itself: a request
// this package does not keep (Canonical), or a computation that failed.
// After it returned true, an error is the client's (a write that failed).
func (c *Cache) Serve(ctx context.Context, dir, protocol string, req []byte, w io.Writer) (bool, error) {
	outcome := Bypass
	defer func() {
		if c.onRequest != nil {
			c.onRequest(outcome)
		}
	}()
	k, st, gen, ok := c.keyOf(ctx, dir, protocol, req)
	if !ok {
		return false, nil
	}
	c.mu.Lock()
	big := c.tooBig[k]
	c.mu.Unlock()
	if big {
		return false, nil
	}
	if served, err := c.serveFile(k, w); served {
		outcome = Hit
		return true, err
	}
	outcome = Miss
	computed, kept := c.fill(ctx, dir, protocol, req, k, st, gen)
	if !kept {
		return false, nil
	}
	served, err := c.serveFile(k, w)
	if served && !computed {
		outcome = Hit // another request's computation, waited for
	}
	return served, err
}

// keyOf returns the key req is kept under, with the state it was read
// at; false if req is not kept.
func (c *Cache) keyOf(ctx context.Context, dir, protocol string, req []byte) (string, state, uint64, bool) {
	v, ok := refadv.Version(protocol)
	if !ok {
		return "", state{}, 0, false
	}
	canon, ok := Canonical(v, req)
	if !ok {
		return "", state{}, 0, false
	}
	st, gen, err := c.current(ctx, dir)
	if err != nil {
		c.logger.Debug("pack cache: no state", "repository", dir, "err", err)
		return "", state{}, 0, false
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte("gerritgate pack cache 1"), c.base, []byte(dir), st.sum[:], {byte(v)}, canon} {
		binary.Write(h, binary.BigEndian, uint64(len(part)))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil)), st, gen, true
}

// fill makes sure the answer under k is kept, computing it unless another
// computation of it is running, which it waits for. computed says whether
// this call ran git; kept whether the answer is now on disk.
func (c *Cache) fill(ctx context.Context, dir, protocol string, req []byte, k string, st state, gen uint64) (computed, kept bool) {
	c.mu.Lock()
	f := c.flights[k]
	lead := f == nil
	if lead {
		f = &flight{done: make(chan struct{})}
		c.flights[k] = f
	}
	c.mu.Unlock()
	if !lead {
		select {
		case <-f.done:
			return false, f.ok
		case <-ctx.Done():
			return false, false
		}
	}
	// Not the caller's context: others may be waiting for this answer.
	err := c.compute(context.WithoutCancel(ctx), dir, protocol, req, k, st, gen)
	if err != nil {
		c.logger.Info("pack cache: answer not kept", "repository", dir, "err", err)
	}
	c.mu.Lock()
	f.ok = err == nil
	delete(c.flights, k)
	if errors.Is(err, errTooLarge) {
		if len(c.tooBig) >= maxTooBig {
			clear(c.tooBig)
		}
		c.tooBig[k] = true
	}
	c.mu.Unlock()
	close(f.done)
	return true, f.ok
}

const (
	maxTooBig  = 1024 // keys remembered as too large, at most
	tmpPrefix  = "tmp-"
	copyBuffer = 256 << 10 // fewer reads of a kept file
)

var (
	errTooLarge = errors.New("answer larger than the cache")
	errChanged  = errors.New("refs changed while git ran")
)

// compute runs git upload-pack for req into a temporary file and, if git
// succeeded and dir's refs are still st, renames it to k.
func (c *Cache) compute(ctx context.Context, dir, protocol string, req []byte, k string, st state, gen uint64) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tmp, err := os.CreateTemp(c.dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	out := &payload{w: tmp, h: crc32.New(castagnoli), max: c.max - trailerSize}
	cmd := uploadpack.Command(ctx, c.git, dir, protocol, uploadpack.Request)
	cmd.Stdin = bytes.NewReader(req)
	cmd.Stdout = out
	var stderr uploadpack.Stderr
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if out.err != nil {
			return out.err
		}
		return stderr.Wrap(err)
	}
	if _, err := tmp.Write(trailer(k, out.n, out.h.Sum(nil))); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if !c.unchanged(ctx, dir, st, gen) {
		return errChanged
	}
	if err := os.Rename(tmp.Name(), filepath.Join(c.dir, k)); err != nil {
		return err
	}
	tmp = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.files[k]; e != nil {
		c.used -= e.Value.(*file).size
		c.lru.Remove(e)
	}
	size := out.n + trailerSize
	c.files[k] = c.lru.PushFront(&file{k, size})
	c.used += size
	c.evict()
	return nil
}

// evict removes the least recently used answers until c.used is within
// c.max. c.mu is held. A file being read stays readable until closed.
func (c *Cache) evict() {
	for c.used > c.max {
		e := c.lru.Back()
		f := e.Value.(*file)
		os.Remove(filepath.Join(c.dir, f.key))
		c.lru.Remove(e)
		delete(c.files, f.key)
		c.used -= f.size
	}
}

// payload writes git's answer to the temporary file, hashing it, and
// fails past max bytes, which ends git.
type payload struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	max int64
	err error
}

func (p *payload) Write(b []byte) (int, error) {
	if p.n+int64(len(b)) > p.max {
		p.err = errTooLarge
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	return n, err
}

// A kept file is the answer, then a trailer naming its key, its length
// and its CRC-32C. The checksum finds a file damaged on disk or cut short;
// it is cheap (hardware CRC-32C) because it is checked on every answer.
// Whoever can write the cache directory can write the served
// repositories too: it is no defence against them.
const trailerFormat = "\ngerritgate pack cache 1 %64s %016x %08x\n"

var (
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
	trailerSize = int64(len(trailer(strings.Repeat("0", 64), 0, make([]byte, 4))))
)

func trailer(key string, n int64, sum []byte) []byte {
	return fmt.Appendf(nil, trailerFormat, key, n, sum)
}

// serveFile writes the answer kept under k to w, after checking the whole
// file against its trailer. It returns false, having written nothing, if
// there is none or it is damaged (then it is removed).
func (c *Cache) serveFile(k string, w io.Writer) (bool, error) {
	c.mu.Lock()
	e := c.files[k]
	if e != nil {
		c.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if e == nil {
		return false, nil
	}
	f, err := os.Open(filepath.Join(c.dir, k))
	if err != nil {
		c.drop(e, err)
		return false, nil
	}
	defer f.Close()
	n, err := check(f, k)
	if err != nil {
		c.drop(e, err)
		return false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, nil
	}
	now := time.Now()
	os.Chtimes(f.Name(), now, now) // recently used, also after a restart
	_, err = io.CopyBuffer(w, io.LimitReader(f, n), make([]byte, copyBuffer))
	return true, err
}

// check reads f whole and returns the length of the answer it holds if its
// trailer names key and matches its length and checksum.
func check(f *os.File, key string) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	n := info.Size() - trailerSize
	if n < 0 {
		return 0, fmt.Errorf("%d bytes: shorter than a trailer", info.Size())
	}
	h := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(h, io.LimitReader(f, n), make([]byte, copyBuffer)); err != nil {
		return 0, err
	}
	got := make([]byte, trailerSize)
	if _, err := io.ReadFull(f, got); err != nil {
		return 0, err
	}
	if want := trailer(key, n, h.Sum(nil)); !bytes.Equal(got, want) {
		return 0, fmt.Errorf("trailer %q, want %q", got, want)
	}
	return n, nil
}

// drop forgets and removes the file of e, which could not be served.
func (c *Cache) drop(e *list.Element, why error) {
	f := e.Value.(*file)
	c.logger.Warn("pack cache: damaged answer removed; computing it again", "file", filepath.Join(c.dir, f.key), "err", why)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files[f.key] != e {
		return // already dropped, or replaced by a new answer
	}
	os.Remove(filepath.Join(c.dir, f.key))
	c.lru.Remove(e)
	delete(c.files, f.key)
	c.used -= f.size
}
