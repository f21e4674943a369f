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
	b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) {
		return r.packedRef(name)
	}
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	switch v := strings.TrimSpace(string(b)); {
	case gitid.IsSHA1(v) && v != plumbing.ZeroHash.String():
		return plumbing.NewHash(v), true, nil
	case strings.HasPrefix(v, "ref: "):
		return plumbing.ZeroHash, true, fmt.Errorf("%s is a symbolic ref", name)
	default:
		// Never read as "no ref": a hold or a debt would vanish.
		return plumbing.ZeroHash, true, &RefError{Ref: name, Err: fmt.Errorf("%w: %s", ErrCorruptRef, r.refPath(name))}
	}
}

// packedRef finds name in packed-refs.
func (r *Repo) packedRef(name string) (plumbing.Hash, bool, error) {
	packed, err := os.ReadFile(filepath.Join(r.dir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, true, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	for _, line := range strings.Split(string(packed), "\n") {
		sha, n, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && n == name && gitid.IsSHA1(sha) {
			return plumbing.NewHash(sha), true, nil
		}
	}
	return plumbing.ZeroHash, true, nil
}
