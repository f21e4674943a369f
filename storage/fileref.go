package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/internal/gitid"
)

// fileRef reads ref name as C git stores it: its own file, else its
// line in packed-refs. A poll reads several refs per environment, most of
// them missing (holds, overrides), and go-git's reader resolves each path
// a component at a time (an lstat each): that was most of an unchanged
// poll's time. A ref that does not exist is the zero hash; done is false
// only for a name fileRef does not read (then go-git decides). Called
// with gmu held: go-git's own fetch writes ref files in place.
func (r *Repo) fileRef(name string) (h plumbing.Hash, done bool, err error) {
	if ValidateRef(name) != nil {
		return plumbing.ZeroHash, false, nil // go-git decides, as before
	}
	h, err = readRef(r.dir, name)
	return h, true, err
}

// ReadRef reads ref name of the bare repository at dir as Repo.Ref does,
// without opening the repository: the zero hash when there is no such
// ref. It is for readers of a served repository (the status page reads
// each environment's audit tip on every view), whose refs change only by
// UpdateRefs's renames, which a reader sees whole.
func ReadRef(dir, name string) (plumbing.Hash, error) {
	if err := ValidateRef(name); err != nil {
		return plumbing.ZeroHash, err
	}
	return readRef(dir, name)
}

func readRef(dir, name string) (plumbing.Hash, error) {
	path := filepath.Join(dir, filepath.FromSlash(name))
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) {
		return packedRef(dir, name)
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	switch v := strings.TrimSpace(string(b)); {
	case gitid.IsSHA1(v) && v != plumbing.ZeroHash.String():
		return plumbing.NewHash(v), nil
	case strings.HasPrefix(v, "ref: "):
		return plumbing.ZeroHash, fmt.Errorf("%s is a symbolic ref", name)
	default:
		// Never read as "no ref": a hold or a debt would vanish.
		return plumbing.ZeroHash, &RefError{Ref: name, Err: fmt.Errorf("%w: %s", ErrCorruptRef, path)}
	}
}

// packedRef finds name in the packed-refs of the repository at dir.
func packedRef(dir, name string) (plumbing.Hash, error) {
	packed, err := os.ReadFile(filepath.Join(dir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	for _, line := range strings.Split(string(packed), "\n") {
		sha, n, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && n == name && gitid.IsSHA1(sha) {
			return plumbing.NewHash(sha), nil
		}
	}
	return plumbing.ZeroHash, nil
}
