package storage

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func TestValidateProject(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"platform/fleet", true},
		{"a", true},
		{"team-x/app_1.2+b@c", true},
		{"", false},
		{"/etc/passwd", false},
		{"../x", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a//b", false},
		{"a/", false},
		{"a.git/b", false},
		{"a/b.git", false},
		{".hidden", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a b", false},
		{"a\\b", false},
		{"%2e%2e", false},
		{"x.lock", false},
	}
	for _, tt := range tests {
		err := ValidateProject(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateProject(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestValidateRef(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"refs/heads/deploy/prod", true},
		{"refs/gerritgate/audit", true},
		{"HEAD", false},
		{"refs/heads/../x", false},
		{"refs/heads/a.lock", false},
		{"refs/heads/.x", false},
		{"refs/heads/a b", false},
		{"refs/heads/a:b", false},
		{"refs/heads/", false},
		{"refs/heads//a", false},
	}
	for _, tt := range tests {
		err := ValidateRef(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateRef(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// commit writes a commit with one file into r and returns its hash.
func commit(t *testing.T, r *Repo, parent plumbing.Hash, content string) plumbing.Hash {
	t.Helper()
	put := func(o interface {
		Encode(plumbing.EncodedObject) error
	}) plumbing.Hash {
		obj := r.git.Storer.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			t.Fatal(err)
		}
		h, err := r.git.Storer.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	blob := r.git.Storer.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	w.Write([]byte(content))
	w.Close()
	bh, err := r.git.Storer.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "f", Mode: filemode.Regular, Hash: bh}}}
	th := put(tree)
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0).UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: content + "\n", TreeHash: th}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	return put(c)
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenLocksDataDir(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestUpdateRefs(t *testing.T) {
	s := openStore(t)
	r, err := s.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	a := commit(t, r, plumbing.ZeroHash, "a")
	b := commit(t, r, a, "b")
	side := commit(t, r, a, "side")
	const deploy = "refs/heads/deploy/prod"

	steps := []struct {
		what    string
		up      RefUpdate
		wantErr error
		want    plumbing.Hash
	}{
		{"create needs zero old", RefUpdate{Name: deploy, Old: b, New: a}, ErrConflict, plumbing.ZeroHash},
		{"create", RefUpdate{Name: deploy, New: a}, nil, a},
		{"create again conflicts", RefUpdate{Name: deploy, New: a}, ErrConflict, a},
		{"fast-forward", RefUpdate{Name: deploy, Old: a, New: b}, nil, b},
		{"stale old", RefUpdate{Name: deploy, Old: a, New: b}, ErrConflict, b},
		{"rewind refused", RefUpdate{Name: deploy, Old: b, New: a}, ErrNotFastForward, b},
		{"sideways refused", RefUpdate{Name: deploy, Old: b, New: side}, ErrNotFastForward, b},
		{"forced rewind", RefUpdate{Name: deploy, Old: b, New: a, Force: true}, nil, a},
		{"missing object", RefUpdate{Name: deploy, Old: a, New: plumbing.NewHash("1111111111111111111111111111111111111111")}, plumbing.ErrObjectNotFound, a},
		{"bad name", RefUpdate{Name: "refs/heads/../x", New: a}, nil, a},
	}
	for _, st := range steps {
		err := r.UpdateRefs(st.up)
		switch {
		case st.what == "bad name":
			var ne *NameError
			if !errors.As(err, &ne) {
				t.Errorf("%s: err = %v, want NameError", st.what, err)
			}
		case st.wantErr == nil && err != nil:
			t.Errorf("%s: unexpected error %v", st.what, err)
		case st.wantErr != nil && !errors.Is(err, st.wantErr):
			t.Errorf("%s: err = %v, want %v", st.what, err, st.wantErr)
		}
		got, err := r.Ref(deploy)
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("%s: ref = %s, want %s", st.what, got, st.want)
		}
		if _, err := os.Stat(filepath.Join(r.dir, deploy+".lock")); err == nil {
			t.Errorf("%s: lock file left behind", st.what)
		}
	}
}

func TestUpdateRefsTransactionAllOrNothing(t *testing.T) {
	s := openStore(t)
	r, _ := s.Served("p")
	a := commit(t, r, plumbing.ZeroHash, "a")
	b := commit(t, r, a, "b")
	if err := r.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", New: a}); err != nil {
		t.Fatal(err)
	}
	// The second update's old value is wrong: neither ref may move.
	err := r.UpdateRefs(
		RefUpdate{Name: "refs/heads/deploy/prod", Old: a, New: b},
		RefUpdate{Name: "refs/gerritgate/audit", Old: b, New: b},
	)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if got, _ := r.Ref("refs/heads/deploy/prod"); got != a {
		t.Errorf("deploy moved to %s despite failed transaction", got)
	}
	if got, _ := r.Ref("refs/gerritgate/audit"); !got.IsZero() {
		t.Errorf("audit created despite failed transaction")
	}
	if err := r.UpdateRefs(
		RefUpdate{Name: "refs/heads/deploy/prod", Old: a, New: b},
		RefUpdate{Name: "refs/gerritgate/audit", New: b},
	); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"refs/heads/deploy/prod", "refs/gerritgate/audit"} {
		if got, _ := r.Ref(n); got != b {
			t.Errorf("%s = %s, want %s", n, got, b)
		}
	}
}

// A crash after the journal was written must be finished on the next open;
// one before it must leave the refs untouched.
func TestRecoverInterruptedTransaction(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	r, _ := s.Served("p")
	a := commit(t, r, plumbing.ZeroHash, "a")
	b := commit(t, r, a, "b")
	if err := r.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", New: a}); err != nil {
		t.Fatal(err)
	}
	// Simulate: both locks written, journal written, first rename done, crash.
	os.WriteFile(filepath.Join(r.dir, "refs/heads/deploy/prod"), []byte(b.String()+"\n"), 0o640)
	os.MkdirAll(filepath.Join(r.dir, "refs/gerritgate"), 0o750)
	os.WriteFile(filepath.Join(r.dir, "refs/gerritgate/audit.lock"), []byte(b.String()+"\n"), 0o640)
	os.WriteFile(filepath.Join(r.dir, journalName), []byte("refs/gerritgate/audit\nrefs/heads/deploy/prod\n"), 0o640)
	// And a lock from a transaction that never reached its journal.
	os.WriteFile(filepath.Join(r.dir, "refs/heads/deploy/staging.lock"), []byte(b.String()+"\n"), 0o640)
	s.Close()

	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	r2, err := s2.Served("p")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r2.Ref("refs/gerritgate/audit"); got != b {
		t.Errorf("audit = %s, want rolled forward to %s", got, b)
	}
	if got, _ := r2.Ref("refs/heads/deploy/staging"); !got.IsZero() {
		t.Errorf("staging = %s, want absent (rolled back)", got)
	}
	for _, p := range []string{journalName, "refs/heads/deploy/staging.lock", "refs/gerritgate/audit.lock"} {
		if _, err := os.Stat(filepath.Join(r2.dir, p)); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}

// RecoverServed finishes an interrupted transaction before anything asks
// for the repository, so upload-pack never serves half of it.
func TestRecoverServedBeforeServing(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	r, _ := s.Served("team/p")
	a := commit(t, r, plumbing.ZeroHash, "a")
	b := commit(t, r, a, "b")
	if err := r.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", New: a}, RefUpdate{Name: "refs/heads/audit/prod", New: a}); err != nil {
		t.Fatal(err)
	}
	// Crash past the commit point: deploy renamed, audit still a lock.
	os.WriteFile(filepath.Join(r.Dir(), "refs/heads/deploy/prod"), []byte(b.String()+"\n"), 0o640)
	os.WriteFile(filepath.Join(r.Dir(), "refs/heads/audit/prod.lock"), []byte(b.String()+"\n"), 0o640)
	os.WriteFile(filepath.Join(r.Dir(), journalName), []byte("refs/heads/audit/prod\nrefs/heads/deploy/prod\n"), 0o640)
	path := r.Dir()
	s.Close()

	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.RecoverServed(); err != nil {
		t.Fatal(err)
	}
	// What upload-pack would read: the files, not a Repo.
	got, _ := os.ReadFile(filepath.Join(path, "refs/heads/audit/prod"))
	if strings.TrimSpace(string(got)) != b.String() {
		t.Errorf("audit/prod on disk = %q, want rolled forward to %s", got, b)
	}
	if _, err := os.Stat(filepath.Join(path, journalName)); err == nil {
		t.Error("journal left behind")
	}
}

func TestCopyObjects(t *testing.T) {
	s := openStore(t)
	src, _ := s.Upstream("p")
	dst, _ := s.Served("p")
	a := commit(t, src, plumbing.ZeroHash, "a")
	b := commit(t, src, a, "b")
	c := commit(t, src, b, "c")
	inPack := func() int {
		out, err := exec.Command("git", "-C", dst.dir, "count-objects", "-v").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if n, ok := strings.CutPrefix(l, "in-pack: "); ok {
				v, _ := strconv.Atoi(n)
				return v
			}
		}
		return -1
	}

	if err := CopyObjects(context.Background(), dst, src, b); err != nil {
		t.Fatal(err)
	}
	if n := inPack(); n != 6 { // two commits, two trees, two blobs
		t.Errorf("copied %d objects, want 6", n)
	}
	if dst.git.Storer.HasEncodedObject(c) == nil {
		t.Errorf("commit c copied though not asked for")
	}
	if err := dst.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", New: b}); err != nil {
		t.Fatal(err)
	}
	if err := CopyObjects(context.Background(), dst, src, c); err != nil {
		t.Fatal(err)
	}
	if n := inPack(); n != 9 {
		t.Errorf("after the incremental copy %d objects, want 9 (only c's three new)", n)
	}
	if err := CopyObjects(context.Background(), dst, src, c); err != nil {
		t.Fatalf("copying what is there already: %v", err)
	}
	if n := inPack(); n != 9 {
		t.Errorf("a repeated copy added objects: %d", n)
	}
	if err := dst.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", Old: b, New: c}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", dst.dir, "fsck", "--strict", "--no-dangling").CombinedOutput(); err != nil {
		t.Fatalf("git fsck: %v\n%s", err, out)
	}
	// Byte-identical: the same hashes name the same content in both.
	for _, h := range []plumbing.Hash{a, b, c} {
		want, _ := exec.Command("git", "-C", src.dir, "cat-file", "commit", h.String()).Output()
		got, _ := exec.Command("git", "-C", dst.dir, "cat-file", "commit", h.String()).Output()
		if string(got) != string(want) || len(want) == 0 {
			t.Errorf("commit %s differs after the copy", h)
		}
	}
	if err := CopyObjects(context.Background(), dst, src, plumbing.NewHash("1111111111111111111111111111111111111111")); err == nil {
		t.Errorf("copying a commit src does not have succeeded")
	}
}

func TestServedPathRefusesEscapes(t *testing.T) {
	s := openStore(t)
	if _, err := s.Served("ok/project"); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(s.Dir(), "served"), 0o750)
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "served", "linked.git")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "served", "dirlink")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"ok/project", true},
		{"ok/missing", false},
		{"linked", false},
		{"dirlink/x", false},
		{"../upstream/ok/project", false},
		{"/abs", false},
	} {
		_, err := s.ServedPath(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ServedPath(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
