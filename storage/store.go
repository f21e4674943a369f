package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"golang.org/x/sys/unix"
)

// ErrNotFound is returned for a project that has no repository yet.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned by Open when another process owns the data directory.
var ErrLocked = errors.New("data directory is in use by another process")

// Store is the data directory. One process owns it at a time (an flock on
// .lock), which makes lock files left by a killed predecessor safe to clear.
type Store struct {
	dir      string
	lock     *os.File
	readOnly bool

	mu      sync.Mutex
	repos   map[string]map[string]*Repo // by project, then kind (Release takes a project's)
	syncing map[string]*sync.Mutex      // by project: SyncEnv (envrepo.go)

	refsChanged atomic.Pointer[func(dir string)] // see NotifyRefs
}

const (
	kindUpstream = "upstream"
	kindServed   = "served"
)

// Open creates the data directory if needed and takes ownership of it.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(abs, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", abs, ErrLocked)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return &Store{dir: abs, lock: f, repos: map[string]map[string]*Repo{}}, nil
}

// OpenReadOnly opens a data directory another process may own, for
// inspection (gerritgate explain): it never creates, recovers or writes
// anything, and Repo.UpdateRefs on its repositories fails.
func OpenReadOnly(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data directory %s: %w", abs, ErrNotFound)
	}
	return &Store{dir: abs, readOnly: true, repos: map[string]map[string]*Repo{}}, nil
}

// Dir is the absolute path of the data directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the data directory.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	return s.lock.Close()
}

// Upstream returns the mirror of Gerrit's project, creating it if needed.
// It is never served to clients.
func (s *Store) Upstream(project string) (*Repo, error) { return s.repo(kindUpstream, project, true) }

// Served returns the served repository of a project, creating it if needed.
func (s *Store) Served(project string) (*Repo, error) { return s.repo(kindServed, project, true) }

// ExistingUpstream is Upstream without creating: ErrNotFound when the
// project has no mirror yet.
func (s *Store) ExistingUpstream(project string) (*Repo, error) {
	return s.repo(kindUpstream, project, false)
}

// ExistingServed is Served without creating: ErrNotFound when the project
// has no served repository yet.
func (s *Store) ExistingServed(project string) (*Repo, error) {
	return s.repo(kindServed, project, false)
}

// ServedPath returns the directory of an existing served repository, for the
// front ends that run git upload-pack on it. It returns ErrNotFound for a
// project that has none, and refuses any name or path that could leave the
// served tree (invalid names, symlinks anywhere on the way).
func (s *Store) ServedPath(project string) (string, error) {
	return s.plainRepoDir(kindServed, project)
}

func (s *Store) repo(kind, project string, create bool) (*Repo, error) {
	if err := ValidateProject(project); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[project][kind]; ok {
		return r, nil
	}
	path := filepath.Join(s.dir, kind, filepath.FromSlash(project)+".git")
	follower := strings.HasPrefix(kind, kindEnv+"/")
	r, err := openRepo(path, kind == kindServed || follower, create && !s.readOnly, s.readOnly)
	if err != nil {
		return nil, fmt.Errorf("%s repository of %q: %w", kind, project, err)
	}
	r.follower = follower
	if kind == kindServed && !s.readOnly {
		r.follow = func(ups []RefUpdate) error { return s.followEnvs(project, ups) }
	}
	// Every kind, not only served: a front end keys what it remembers by
	// directory, and one it never serves costs it a map lookup.
	r.changed = func() { s.notifyRefs(r.dir) }
	if s.repos[project] == nil {
		s.repos[project] = map[string]*Repo{}
	}
	s.repos[project][kind] = r
	return r, nil
}

// servedConfig keeps upload-pack strict even if someone runs it without our
// command-line settings, and keeps git from repacking behind our back.
const servedConfig = `[core]
	repositoryformatversion = 0
	filemode = true
	bare = true
[gc]
	auto = 0
[uploadpack]
	allowAnySHA1InWant = false
	allowReachableSHA1InWant = false
	allowTipSHA1InWant = false
[receive]
	denyNonFastForwards = true
	denyDeletes = true
`

func openRepo(path string, served, create, readOnly bool) (*Repo, error) {
	c := cache.NewObjectLRU(objectCacheSize)
	g, err := openGit(path, c)
	if errors.Is(err, git.ErrRepositoryNotExists) && !create {
		return nil, ErrNotFound
	}
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		if err = initRepo(path, served); err == nil {
			g, err = openGit(path, c)
		}
	}
	if err != nil {
		return nil, err
	}
	r := &Repo{dir: path, git: g, readOnly: readOnly, served: served, rename: os.Rename, fsyncDir: syncDir, cache: c}
	r.objects = lockedObjects{mu: &r.gmu, st: g.Storer}
	if readOnly {
		return r, nil
	}
	if err := r.recover(); err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	return r, nil
}

// initRepo creates a bare repository in a temporary directory and renames it
// into place, so a crash never leaves a half-made repository at path.
func initRepo(path string, served bool) error {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := git.PlainInit(tmp, true); err != nil {
		return err
	}
	if served {
		if err := os.WriteFile(filepath.Join(tmp, "config"), []byte(servedConfig), 0o640); err != nil {
			return err
		}
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RecoverServed opens every served repository, which finishes or rolls
// back any ref transaction a crash interrupted, then brings every
// environment repository in step with its project's served repository
// (making the missing ones: a data directory from before environment
// repositories upgrades here). The service calls it before serving, so no
// client ever reads a half-moved set of refs (a deploy ref without its
// audit record, say), nor an environment repository behind its project.
func (s *Store) RecoverServed() error {
	root := filepath.Join(s.dir, kindServed)
	var projects []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() || !strings.HasSuffix(p, ".git") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		project := strings.TrimSuffix(filepath.ToSlash(rel), ".git")
		if _, err := s.repo(kindServed, project, false); err != nil {
			return err
		}
		projects = append(projects, project)
		return filepath.SkipDir
	})
	if err != nil {
		return err
	}
	for _, p := range projects {
		if err := s.syncAllEnvs(p); err != nil {
			return fmt.Errorf("environment repositories of %q: %w", p, err)
		}
	}
	return nil
}
