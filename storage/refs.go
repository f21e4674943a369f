package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/internal/gitid"
)

// ErrConflict is returned when a ref does not hold the value an update
// expected (compare-and-swap failed) or is locked by a concurrent update.
var ErrConflict = errors.New("ref changed concurrently")

// ErrCommitted is returned, wrapped, when a transaction passed its commit
// point (its journal is written) but a rename failed: it is decided, and
// the next transaction or the next open finishes it; until then a ref may
// still show its old value (a deploy/* ref always does while any other
// ref of the transaction is not renamed).
var ErrCommitted = errors.New("ref transaction committed but not finished")

// ErrNotFastForward is returned when an update would move a deploy/* ref to
// a commit that does not descend from its current value.
var ErrNotFastForward = errors.New("not a fast-forward")

// Repo is one bare repository. Callers read and write it through its
// methods (refs here, history in history.go, objects in objects.go, C git
// in git.go); go-git stays inside storage.
type Repo struct {
	dir string

	// gmu is held by every call into go-git: it is not safe for concurrent
	// use, not even for reads (see lockedObjects), and the Poster, the
	// status page and a poll use the same Repo. Never held while waiting
	// for mu.
	gmu     sync.Mutex
	git     *git.Repository
	objects lockedObjects // git's objects under gmu
	cache   cache.Object  // go-git's decoded objects (see Store.Release)

	mu       sync.Mutex // serialises UpdateRefs within this process
	readOnly bool
	served   bool                                // a served repository (else upstream or an environment repository)
	follow   func([]RefUpdate) error             // after UpdateRefs (served repositories: Store.followEnvs)
	follower bool                                // an environment repository: its refs copy ones checked in its served repository
	rename   func(oldpath, newpath string) error // os.Rename; tests inject faults
	fsyncDir func(dir string) error              // syncDir; tests watch it
	changed  func()                              // after refs or HEAD may have changed (served repositories: Store.NotifyRefs)
}

// RefUpdate asks for ref Name to move from Old to New. A zero Old means the
// ref must not exist yet.
type RefUpdate struct {
	Name string
	Old  plumbing.Hash
	New  plumbing.Hash
	// Force allows a deploy/* ref to move to a commit that does not descend
	// from Old. Only the operator commands gerritgate rewind and override
	// --rewind set it, with the audit record saying so in the same
	// transaction; an environment repository following its served
	// repository (SyncEnv) repeats it.
	Force bool
}

// RefError says which update of a transaction failed.
type RefError struct {
	Ref string
	Err error
}

func (e *RefError) Error() string { return e.Ref + ": " + e.Err.Error() }
func (e *RefError) Unwrap() error { return e.Err }

const journalName = "gerritgate-txn"

// auditPrefix is where the audit trails are (audit.Ref; storage imports
// nothing of ours).
const auditPrefix = "refs/heads/audit/"

// deployPrefix is where the branches Flux follows are.
const deployPrefix = "refs/heads/deploy/"

// ErrCorruptRef is returned, in a RefError, when a ref's file holds no
// commit id (empty, torn or edited): the ref's value is unknown, which is
// never read as "no ref" (a hold or a debt would vanish).
var ErrCorruptRef = errors.New("the ref file holds no commit id")

// Ref returns the commit a ref points at, or plumbing.ZeroHash and no error
// when the ref does not exist. A ref file that holds no commit id is an
// error naming the file (ErrCorruptRef).
func (r *Repo) Ref(name string) (plumbing.Hash, error) {
	r.gmu.Lock()
	if h, done, err := r.fileRef(name); done || err != nil {
		r.gmu.Unlock()
		return h, err
	}
	ref, err := r.git.Storer.Reference(plumbing.ReferenceName(name))
	r.gmu.Unlock()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, fmt.Errorf("%s is a symbolic ref", name)
	}
	return ref.Hash(), nil
}

// Refs lists the refs below prefix (which starts with refs/) with the
// commits they point at; symbolic refs are left out. It reads the ref files
// itself: go-git would read the lock file of an UpdateRefs in progress
// (the Poster's, say, during a poll) as a ref, and fail on it while it is
// still empty.
func (r *Repo) Refs(prefix string) (map[string]plumbing.Hash, error) {
	r.gmu.Lock() // go-git's own fetch writes ref files in place
	defer r.gmu.Unlock()
	out := map[string]plumbing.Hash{}
	// Packed values first: a loose ref overrides its packed value.
	packed, err := os.ReadFile(filepath.Join(r.dir, "packed-refs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, line := range strings.Split(string(packed), "\n") {
		sha, name, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && strings.HasPrefix(name, prefix) && gitid.IsSHA1(sha) {
			out[name] = plumbing.NewHash(sha)
		}
	}
	err = filepath.WalkDir(filepath.Join(r.dir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while walking
		}
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
			return err
		}
		rel, err := filepath.Rel(r.dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed away (a lock never is: it is renamed onto)
		}
		if err != nil {
			return err
		}
		switch v := strings.TrimSpace(string(b)); {
		case gitid.IsSHA1(v):
			out[name] = plumbing.NewHash(v)
		case strings.HasPrefix(v, "ref: "):
		default:
			return &RefError{Ref: name, Err: fmt.Errorf("%w: %s", ErrCorruptRef, p)}
		}
		return nil
	})
	return out, err
}

// UpdateRefs applies all updates or none. Each ref is locked with a
// <ref>.lock file (the same protocol C git uses), checked against its
// expected old value, written and fsynced; then a journal naming the locks is
// fsynced (the commit point) and the locks are renamed over the refs. A crash
// before the journal leaves every ref as it was; after it, the next open
// finishes the renames. A rename that fails past the commit point leaves
// the journal, and UpdateRefs returns an error wrapping ErrCommitted: the
// next UpdateRefs finishes it before anything else (and fails while it
// cannot), as does the next open. deploy/* refs are renamed last, once
// every other ref of the transaction is. Readers see each ref
// change atomically.
//
// On a project's served repository, the environment repositories whose
// refs moved are brought in step afterwards (envrepo.go); an error doing
// so is returned, and says the refs moved.
func (r *Repo) UpdateRefs(updates ...RefUpdate) error {
	if err := r.updateRefs(updates...); err != nil {
		return err
	}
	if r.follow == nil {
		return nil
	}
	return r.follow(updates)
}

func (r *Repo) updateRefs(updates ...RefUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	if r.readOnly {
		return errors.New("repository opened read-only")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	renamed := false
	defer func() {
		if renamed {
			r.refsChanged()
		}
	}()
	// A transaction past its commit point that could not finish (a rename
	// failed) is finished before a new one reads or moves any ref.
	if _, err := os.Stat(filepath.Join(r.dir, journalName)); err == nil {
		renamed = true
	}
	if err := r.finishJournal(); err != nil {
		return fmt.Errorf("an earlier ref transaction is not finished, and finishing it failed: %w", err)
	}

	ups := append([]RefUpdate(nil), updates...)
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	for i, u := range ups {
		if err := ValidateRef(u.Name); err != nil {
			return err
		}
		if i > 0 && ups[i-1].Name == u.Name {
			return &RefError{Ref: u.Name, Err: errors.New("updated twice in one transaction")}
		}
		if u.New.IsZero() {
			return &RefError{Ref: u.Name, Err: errors.New("deleting refs is not supported")}
		}
	}

	var locks []string
	defer func() {
		for _, l := range locks {
			os.Remove(l)
		}
	}()
	// Directories to fsync before the commit point, so that every lock
	// the journal names, and every directory made for one, is durable
	// when the journal is: the parents of new directories and, with a
	// journal, the lock files' directories.
	dirs := map[string]bool{}
	for _, u := range ups {
		lock := r.refPath(u.Name) + ".lock"
		if err := r.mkdirAll(filepath.Dir(lock), dirs); err != nil {
			return &RefError{Ref: u.Name, Err: err}
		}
		if len(ups) > 1 {
			dirs[filepath.Dir(lock)] = true
		}
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if errors.Is(err, fs.ErrExist) {
			return &RefError{Ref: u.Name, Err: fmt.Errorf("%w: %s exists", ErrConflict, lock)}
		}
		if err != nil {
			return &RefError{Ref: u.Name, Err: err}
		}
		locks = append(locks, lock)
		err = r.checkUpdate(u)
		if err == nil {
			_, err = f.WriteString(u.New.String() + "\n")
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return &RefError{Ref: u.Name, Err: err}
		}
	}

	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := r.fsyncDir(d); err != nil {
			return fmt.Errorf("sync %s before the commit point: %w", d, err)
		}
	}
	renamed = true
	if len(ups) == 1 {
		// No journal: until the rename nothing has happened, and a failed
		// rename leaves the ref as it was (the deferred cleanup drops the
		// lock).
		u := ups[0]
		if err := r.rename(locks[0], r.refPath(u.Name)); err != nil {
			return &RefError{Ref: u.Name, Err: err}
		}
		locks = nil
		if err := syncDir(filepath.Dir(r.refPath(u.Name))); err != nil {
			return &RefError{Ref: u.Name, Err: err}
		}
		return nil
	}
	var b bytes.Buffer
	for _, u := range ups {
		b.WriteString(u.Name + "\n")
	}
	if err := writeFileSync(filepath.Join(r.dir, journalName), b.Bytes()); err != nil {
		return fmt.Errorf("write transaction journal: %w", err)
	}
	// Past the commit point: the locks belong to the journal now, which
	// stays until every one of them is renamed (by this call, the next
	// transaction or the next open).
	locks = nil
	if err := r.finishJournal(); err != nil {
		return fmt.Errorf("%w: %w", ErrCommitted, err)
	}
	return nil
}

// mkdirAll makes dir and any missing parents below r.dir, adding to sync
// the parent of each directory it made (the directory holding the new
// entry), which a crash could otherwise lose with the lock inside.
func (r *Repo) mkdirAll(dir string, sync map[string]bool) error {
	var missing []string
	for d := dir; d != r.dir && d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, d := range missing {
		sync[filepath.Dir(d)] = true
	}
	return nil
}

// finishJournal completes the transaction the journal names, if there is
// one: it renames every lock the journal names that is still there over
// its ref, trying all of them, fsyncs their directories and only then
// removes the journal; deploy/* refs only after all the others. A failure leaves the journal (and the locks not
// renamed) for the next try. Called with mu held, or at open.
func (r *Repo) finishJournal() error {
	journal := filepath.Join(r.dir, journalName)
	b, err := os.ReadFile(journal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// deploy/* refs go last, and only once every other ref (the audit
	// record, the debt, the tags) is renamed and its directory synced:
	// what Flux sees never moves ahead of what records it.
	var first, deploys []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name := sc.Text()
		switch {
		case ValidateRef(name) != nil:
		case strings.HasPrefix(name, deployPrefix):
			deploys = append(deploys, name)
		default:
			first = append(first, name)
		}
	}
	if err := r.renameLocks(first); err != nil {
		return err
	}
	if err := r.renameLocks(deploys); err != nil {
		return err
	}
	if err := os.Remove(journal); err != nil {
		return err
	}
	return syncDir(r.dir)
}

// renameLocks renames the lock of each ref in names that is still there
// over its ref, trying all of them, and fsyncs their directories (also of
// those renamed before: a sync that failed last time is done again).
func (r *Repo) renameLocks(names []string) error {
	var errs []error
	dirs := map[string]bool{}
	for _, name := range names {
		dirs[filepath.Dir(r.refPath(name))] = true
		lock := r.refPath(name) + ".lock"
		if _, err := os.Stat(lock); errors.Is(err, fs.ErrNotExist) {
			continue // renamed already
		} else if err != nil {
			errs = append(errs, &RefError{Ref: name, Err: err})
			continue
		}
		if err := r.rename(lock, r.refPath(name)); err != nil {
			errs = append(errs, &RefError{Ref: name, Err: fmt.Errorf("rename (left to the next transaction or the next start): %w", err)})
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkUpdate runs while u's lock is held.
func (r *Repo) checkUpdate(u RefUpdate) error {
	cur, err := r.Ref(u.Name)
	if err != nil {
		return err
	}
	if cur != u.Old {
		return fmt.Errorf("%w: expected %s, found %s", ErrConflict, short(u.Old), short(cur))
	}
	if strings.HasPrefix(u.Name, "refs/tags/") {
		// A tag ref holds an annotated tag object (the signed audit tag).
		if _, err := object.GetTag(r.objects, u.New); err != nil {
			return fmt.Errorf("new value %s: %w", u.New, err)
		}
		return nil
	}
	newCommit, err := object.GetCommit(r.objects, u.New)
	if err != nil {
		return fmt.Errorf("new value %s: %w", u.New, err)
	}
	if strings.HasPrefix(u.Name, auditPrefix) && !u.Old.IsZero() && u.Old != u.New && !r.follower {
		// An audit trail only grows, one record at a time, Force or not:
		// the new tip's one parent is the current tip. An environment
		// repository catching up takes several records at once.
		if len(newCommit.ParentHashes) != 1 || newCommit.ParentHashes[0] != u.Old {
			return fmt.Errorf("%w: %s is not a record appended to %s", ErrNotFastForward, short(u.New), short(u.Old))
		}
		return nil
	}
	if !strings.HasPrefix(u.Name, deployPrefix) || u.Old.IsZero() || u.Force {
		return nil
	}
	oldCommit, err := object.GetCommit(r.objects, u.Old)
	if err != nil {
		return fmt.Errorf("old value %s: %w", u.Old, err)
	}
	ok, err := oldCommit.IsAncestor(newCommit)
	if err != nil {
		return err
	}
	if !ok && u.Old != u.New {
		return fmt.Errorf("%w: %s does not descend from %s", ErrNotFastForward, short(u.New), short(u.Old))
	}
	return nil
}

// SetHead points HEAD at a branch, atomically.
func (r *Repo) SetHead(branch string) error {
	if err := ValidateRef(branch); err != nil {
		return err
	}
	defer r.refsChanged()
	return writeFileSync(filepath.Join(r.dir, "HEAD"), []byte("ref: "+branch+"\n"))
}

func (r *Repo) refsChanged() {
	if r.changed != nil {
		r.changed()
	}
}

// Head returns the ref HEAD points at.
func (r *Repo) Head() (string, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, "HEAD"))
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "ref: "), nil
}

// recover finishes or rolls back a transaction a crash interrupted, and
// removes stale lock and temporary files. Only the data directory's owner
// calls it, so no other writer can be holding those locks.
func (r *Repo) recover() error {
	if err := r.finishJournal(); err != nil {
		return err
	}
	refs := filepath.Join(r.dir, "refs")
	err := filepath.WalkDir(refs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".lock") {
			return os.Remove(p)
		}
		if !d.IsDir() && !validRefFile(p) && !r.served {
			// A ref file left empty or torn by a writer that truncates in
			// place (go-git's own ref writer, used for the upstream
			// mirror): drop it, the next fetch brings it back. A served
			// repository's refs are only ever renamed into place, so a bad
			// one there is damage: it stays, and reading it fails
			// (ErrCorruptRef) until an operator repairs it; dropping a
			// hold or a debt would free the environment.
			return os.Remove(p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmps, _ := filepath.Glob(filepath.Join(r.dir, "objects", "pack", "tmp_*"))
	for _, t := range tmps {
		os.Remove(t)
	}
	os.Remove(filepath.Join(r.dir, "HEAD.tmp"))
	return syncDir(r.dir)
}

func validRefFile(p string) bool {
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "ref: ") {
		return true
	}
	return gitid.IsSHA1(s) && s != plumbing.ZeroHash.String()
}

func (r *Repo) refPath(name string) string {
	return filepath.Join(r.dir, filepath.FromSlash(name))
}

// writeFileSync writes a whole file next to its destination, fsyncs it and
// renames it into place, then fsyncs the directory.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func short(h plumbing.Hash) string {
	if h.IsZero() {
		return "(none)"
	}
	return h.String()[:12]
}
