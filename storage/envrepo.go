package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/internal/gitid"
)

// Environment repositories.
//
// A project's served repository (the combined one) holds every
// environment. Beside it, each environment has a served repository of its
// own, <data>/served-env/<env>/<project>.git, holding only the refs of
// that environment clients may read (EnvOfRef) and the objects they reach:
// a reader granted one environment is served that repository, so no
// protocol version can hand it an object only another environment holds
// (C git's protocol v2 serves any object in the store, hidden refs or
// not).
//
// The combined repository stays the authority: the gate writes there, and
// every UpdateRefs on it that touches an environment's refs brings that
// environment's repository in step afterwards (copy the objects, then move
// the refs in one transaction). A crash between the two leaves the
// environment's repository behind, never ahead; RecoverServed brings every
// one in step before the service serves, and ReaderPath checks before each
// request and catches up (or refuses) when it finds one behind.

const kindEnv = "served-env"

// ErrGrant is returned by ReaderPath for a grant gerritgate cannot serve:
// no environment at all, or several environments but not every one the
// project has.
var ErrGrant = errors.New("environments granted cannot be served")

// Grant is which environments of a project a reader may read: every one
// (All), or the ones named. The zero Grant reads nothing.
type Grant struct {
	All  bool
	Envs []string
}

var envNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// ValidateEnv checks an environment name as the policy file does (lower
// case letters, digits and ._-, at most 64, starting and ending with a
// letter or digit, no "..", not ending in .lock), so that it is safe as one
// path segment below the data directory.
func ValidateEnv(env string) error {
	if !envNameRE.MatchString(env) || strings.Contains(env, "..") || strings.HasSuffix(env, ".lock") {
		return &NameError{Name: env, Reason: "not an environment name (lower case letters, digits and ._-, at most 64)"}
	}
	return nil
}

// envRefPrefixes are the refs of one environment that clients read:
// deploy/<env>, its audit branch (audit.Ref) and its signed tag
// (audit.TagRef). storage imports nothing of ours; a test checks them
// against package audit.
var envRefPrefixes = []string{"refs/heads/deploy/", "refs/heads/audit/", "refs/tags/gerritgate/"}

// rewoundPrefix names the tags that keep the commits an environment was
// rewound away from (audit.RewoundTagRef: <prefix><env>/<sha>), so that a
// clone of the environment can still verify its trail.
const rewoundPrefix = "refs/tags/gerritgate-rewound/"

// EnvOfRef returns the environment whose repository carries ref, if any.
// gerritgate's own bookkeeping refs (refs/gerritgate/, hidden from
// clients) belong to none: environment repositories do not hold them.
func EnvOfRef(ref string) (string, bool) {
	for _, p := range envRefPrefixes {
		if env, ok := strings.CutPrefix(ref, p); ok && ValidateEnv(env) == nil {
			return env, true
		}
	}
	if rest, ok := strings.CutPrefix(ref, rewoundPrefix); ok {
		if env, sha, ok := strings.Cut(rest, "/"); ok && ValidateEnv(env) == nil && gitid.IsSHA1(sha) {
			return env, true
		}
	}
	return "", false
}

// EnvPath returns the directory of an existing environment repository,
// refusing unsafe names and any symlink on the way, ErrNotFound when there
// is none. Readers are served through ReaderPath, which checks it is in
// step first.
func (s *Store) EnvPath(project, env string) (string, error) {
	if err := ValidateEnv(env); err != nil {
		return "", err
	}
	return s.plainRepoDir(envKind(env), project)
}

// plainRepoDir returns <data>/<kind>/<project>.git if it is a repository
// reached through plain directories only: an invalid name, or a symlink
// anywhere on the way, could leave the tree.
func (s *Store) plainRepoDir(kind, project string) (string, error) {
	if err := ValidateProject(project); err != nil {
		return "", err
	}
	p := s.dir
	for _, seg := range strings.Split(kind+"/"+project+".git", "/") {
		p = filepath.Join(p, seg)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("project %q: %w", project, ErrNotFound)
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
			return "", fmt.Errorf("project %q: %s is not a plain directory: %w", project, p, ErrNotFound)
		}
	}
	if _, err := os.Stat(filepath.Join(p, "HEAD")); err != nil {
		return "", fmt.Errorf("project %q: %w", project, ErrNotFound)
	}
	return p, nil
}

// ReaderPath returns the directory to serve a reader granted g of
// project: the combined served repository for a grant of every
// environment, or of several that include every environment the project
// has; the environment's own repository for a grant of exactly one, once
// it is in step with the combined one. Several environments but not all
// of them is ErrGrant (gerritgate keeps a repository per environment, not
// per set of them); so is a grant of none. A project without that
// environment is ErrNotFound.
func (s *Store) ReaderPath(project string, g Grant) (string, error) {
	dir, err := s.ServedPath(project)
	if err != nil || g.All {
		return dir, err
	}
	combined, err := s.repo(kindServed, project, false)
	if err != nil {
		return "", err
	}
	present, err := combined.envs()
	if err != nil {
		return "", err
	}
	switch len(g.Envs) {
	case 0:
		return "", fmt.Errorf("project %q: %w: the grant names no environment", project, ErrGrant)
	case 1:
		env := g.Envs[0]
		if err := ValidateEnv(env); err != nil {
			return "", err
		}
		if !slices.Contains(present, env) {
			return "", fmt.Errorf("project %q has no environment %q: %w", project, env, ErrNotFound)
		}
		if err := s.inStep(project, env); err != nil {
			return "", err
		}
		return s.EnvPath(project, env)
	}
	for _, env := range present {
		if !slices.Contains(g.Envs, env) {
			return "", fmt.Errorf("project %q: %w: environments %s are granted, the project has %s; grant one environment or every one",
				project, ErrGrant, strings.Join(g.Envs, ", "), strings.Join(present, ", "))
		}
	}
	return dir, nil
}

// inStep checks env's repository against the combined one and, when it is
// behind (a sync under way, or one that failed), brings it in step.
func (s *Store) inStep(project, env string) error {
	ok, err := s.envInStep(project, env)
	if err != nil || ok {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("environment repository %s of %q is not in step with the served repository", env, project)
	}
	return s.SyncEnv(context.Background(), project, env)
}

func (s *Store) envInStep(project, env string) (bool, error) {
	combined, err := s.repo(kindServed, project, false)
	if err != nil {
		return false, err
	}
	want, err := combined.envRefs(env)
	if err != nil {
		return false, err
	}
	er, err := s.repo(envKind(env), project, false)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	have, err := er.Refs("refs/")
	if err != nil {
		return false, err
	}
	if len(have) != len(want) {
		return false, nil
	}
	for name, h := range want {
		if have[name] != h {
			return false, nil
		}
	}
	return true, nil
}

func envKind(env string) string { return kindEnv + "/" + env }

// SyncEnv brings env's repository of project in step with the combined
// served repository, creating it if need be: the objects first (one copy
// for every ref that differs), then every ref that differs in one
// transaction, so a reader of the environment repository sees it jump from
// one consistent state of the combined repository to a later one. The
// combined repository is the authority: a ref moves to its value even when
// that rewinds (the combined repository's own update checked that), and an
// environment repository with a ref the combined one lacks (deleted by
// hand) is made afresh.
func (s *Store) SyncEnv(ctx context.Context, project, env string) error {
	if err := ValidateEnv(env); err != nil {
		return err
	}
	mu := s.syncLock(project)
	mu.Lock()
	defer mu.Unlock()
	combined, err := s.repo(kindServed, project, false)
	if err != nil {
		return err
	}
	want, err := combined.envRefs(env)
	if err != nil {
		return err
	}
	er, have, err := s.envRepo(project, env, want)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	var ups []RefUpdate
	var tips []plumbing.Hash
	for _, name := range names {
		if have[name] != want[name] {
			ups = append(ups, RefUpdate{Name: name, Old: have[name], New: want[name], Force: true})
			tips = append(tips, want[name])
		}
	}
	if err := copyObjects(ctx, er, combined, tips); err != nil {
		return fmt.Errorf("environment repository %s of %q: %w", env, project, err)
	}
	if err := er.UpdateRefs(ups...); err != nil {
		return fmt.Errorf("environment repository %s of %q: %w", env, project, err)
	}
	if head, err := er.Head(); err != nil {
		return err
	} else if deploy := envRefPrefixes[0] + env; head != deploy {
		return er.SetHead(deploy)
	}
	return nil
}

// envRepo opens (or creates) env's repository of project and reads its
// refs. One with a ref want lacks (the served repository's ref was deleted
// by hand, as docs/operations.md does to start an environment over) is
// removed and made afresh: it must hold nothing the environment's refs do
// not reach, and storage deletes no ref.
func (s *Store) envRepo(project, env string, want map[string]plumbing.Hash) (*Repo, map[string]plumbing.Hash, error) {
	for fresh := false; ; fresh = true {
		er, err := s.repo(envKind(env), project, true)
		if err != nil {
			return nil, nil, err
		}
		have, err := er.Refs("refs/")
		if err != nil {
			return nil, nil, err
		}
		var foreign string
		for name := range have {
			if _, ok := want[name]; !ok {
				foreign = name
			}
		}
		if foreign == "" {
			return er, have, nil
		}
		if fresh {
			return nil, nil, fmt.Errorf("environment repository %s of %q: %s is there after making it afresh", env, project, foreign)
		}
		if err := s.removeRepo(envKind(env), project, er.dir); err != nil {
			return nil, nil, fmt.Errorf("environment repository %s of %q has %s, which the served repository lacks, and cannot be removed: %w", env, project, foreign, err)
		}
	}
}

// removeRepo forgets the repository of kind and project and removes its
// directory: renamed aside first, so a crash never leaves half of one at
// its path.
func (s *Store) removeRepo(kind, project, dir string) error {
	s.mu.Lock()
	delete(s.repos[project], kind)
	s.mu.Unlock()
	aside := dir + ".removing"
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	if err := os.Rename(dir, aside); err != nil {
		return err
	}
	s.notifyRefs(dir) // a front end must not answer with its old refs
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return os.RemoveAll(aside)
}

// syncLock is the lock that serialises SyncEnv for one project.
func (s *Store) syncLock(project string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncing == nil {
		s.syncing = map[string]*sync.Mutex{}
	}
	mu, ok := s.syncing[project]
	if !ok {
		mu = &sync.Mutex{}
		s.syncing[project] = mu
	}
	return mu
}

// followEnvs is the combined repository's hook after UpdateRefs: each
// environment whose refs the updates touched is brought in step.
func (s *Store) followEnvs(project string, updates []RefUpdate) error {
	var envs []string
	for _, u := range updates {
		if env, ok := EnvOfRef(u.Name); ok && !slices.Contains(envs, env) {
			envs = append(envs, env)
		}
	}
	var errs []error
	for _, env := range envs {
		if err := s.SyncEnv(context.Background(), project, env); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w (the served repository's refs moved; readers of the environment are refused until it catches up, at their next request or the next start)", errors.Join(errs...))
	}
	return nil
}

// syncAllEnvs brings every environment repository of project in step (at
// start: after a crash, and the first time a data directory from before
// environment repositories is opened).
func (s *Store) syncAllEnvs(project string) error {
	combined, err := s.repo(kindServed, project, false)
	if err != nil {
		return err
	}
	envs, err := combined.envs()
	if err != nil {
		return err
	}
	for _, env := range envs {
		if err := s.SyncEnv(context.Background(), project, env); err != nil {
			return err
		}
	}
	return nil
}

// envRefs returns the refs of env clients may read, read while no
// transaction of this process is under way, so they are one consistent
// state. A transaction a crash interrupted (its journal still there) is an
// error until recovery finishes it.
func (r *Repo) envRefs(env string) (map[string]plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Stat(filepath.Join(r.dir, journalName)); err == nil {
		return nil, fmt.Errorf("%s: a ref transaction awaits recovery", r.dir)
	}
	all, err := r.Refs("refs/")
	if err != nil {
		return nil, err
	}
	out := map[string]plumbing.Hash{}
	for name, h := range all {
		if e, ok := EnvOfRef(name); ok && e == env {
			out[name] = h
		}
	}
	return out, nil
}

// envs lists the environments r has refs of, sorted.
func (r *Repo) envs() ([]string, error) {
	all, err := r.Refs("refs/")
	if err != nil {
		return nil, err
	}
	var out []string
	for name := range all {
		if env, ok := EnvOfRef(name); ok && !slices.Contains(out, env) {
			out = append(out, env)
		}
	}
	sort.Strings(out)
	return out, nil
}
