package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrConflict is returned when a ref does not hold the value an update
// expected (compare-and-swap failed) or is locked by a concurrent update.
var ErrConflict = errors.New("ref changed concurrently")

// ErrNotFastForward is returned when an update would move a deploy/* ref to
// a commit that does not descend from its current value.
var ErrNotFastForward = errors.New("not a fast-forward")

// Repo is one bare repository. Callers read and write it through its
// methods (refs here, history in history.go, objects in objects.go, C git
// in git.go); go-git stays inside storage.
type Repo struct {
	dir   string
	git   *git.Repository
	cache cache.Object // go-git's decoded objects (see Store.Release)

	mu       sync.Mutex // serialises UpdateRefs within this process
	readOnly bool
}

// RefUpdate asks for ref Name to move from Old to New. A zero Old means the
// ref must not exist yet.
type RefUpdate struct {
	Name string
	Old  plumbing.Hash
	New  plumbing.Hash
	// Force allows a deploy/* ref to move to a commit that does not descend
	// from Old. Nothing in gerritgate sets it yet: an operator command that
	// rewinds a deploy ref, recorded like an adoption, would be the one user.
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

// Ref returns the commit a ref points at, or plumbing.ZeroHash and no error
// when the ref does not exist.
func (r *Repo) Ref(name string) (plumbing.Hash, error) {
	ref, err := r.git.Storer.Reference(plumbing.ReferenceName(name))
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

// Refs lists the refs below prefix with the commits they point at.
func (r *Repo) Refs(prefix string) (map[string]plumbing.Hash, error) {
	iter, err := r.git.Storer.IterReferences()
	if err != nil {
		return nil, err
	}
	out := map[string]plumbing.Hash{}
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && strings.HasPrefix(ref.Name().String(), prefix) {
			out[ref.Name().String()] = ref.Hash()
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
// finishes the renames. Readers see each ref change atomically.
func (r *Repo) UpdateRefs(updates ...RefUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	if r.readOnly {
		return errors.New("repository opened read-only")
	}
	r.mu.Lock()
	defer r.mu.Unlock()

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
	for _, u := range ups {
		lock := r.refPath(u.Name) + ".lock"
		if err := os.MkdirAll(filepath.Dir(lock), 0o750); err != nil {
			return &RefError{Ref: u.Name, Err: err}
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

	journal := filepath.Join(r.dir, journalName)
	if len(ups) > 1 {
		var b bytes.Buffer
		for _, u := range ups {
			b.WriteString(u.Name + "\n")
		}
		if err := writeFileSync(journal, b.Bytes()); err != nil {
			return fmt.Errorf("write transaction journal: %w", err)
		}
	}
	for i, u := range ups {
		if err := os.Rename(locks[i], r.refPath(u.Name)); err != nil {
			// Past the commit point: leave the journal so the next open
			// finishes the job, and report the failure.
			locks = nil
			return &RefError{Ref: u.Name, Err: fmt.Errorf("rename (will be completed on restart): %w", err)}
		}
		if err := syncDir(filepath.Dir(r.refPath(u.Name))); err != nil {
			locks = nil
			return &RefError{Ref: u.Name, Err: err}
		}
	}
	locks = nil
	if len(ups) > 1 {
		if err := os.Remove(journal); err != nil {
			return err
		}
		return syncDir(r.dir)
	}
	return nil
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
		if _, err := object.GetTag(r.git.Storer, u.New); err != nil {
			return fmt.Errorf("new value %s: %w", u.New, err)
		}
		return nil
	}
	newCommit, err := object.GetCommit(r.git.Storer, u.New)
	if err != nil {
		return fmt.Errorf("new value %s: %w", u.New, err)
	}
	if !strings.HasPrefix(u.Name, "refs/heads/deploy/") || u.Old.IsZero() || u.Force {
		return nil
	}
	oldCommit, err := object.GetCommit(r.git.Storer, u.Old)
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
	return writeFileSync(filepath.Join(r.dir, "HEAD"), []byte("ref: "+branch+"\n"))
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
	journal := filepath.Join(r.dir, journalName)
	if b, err := os.ReadFile(journal); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			name := sc.Text()
			if ValidateRef(name) != nil {
				continue
			}
			lock := r.refPath(name) + ".lock"
			if _, err := os.Stat(lock); err == nil {
				if err := os.Rename(lock, r.refPath(name)); err != nil {
					return err
				}
			}
		}
		if err := os.Remove(journal); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
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
		if !d.IsDir() && !validRefFile(p) {
			// A ref file left empty or torn by a writer that truncates in
			// place (go-git's own ref writer, used for the upstream
			// mirror): drop it, the next fetch brings it back.
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
	return len(s) == 40 && !plumbing.NewHash(s).IsZero()
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
