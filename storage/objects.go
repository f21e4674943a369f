package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/sys/unix"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// CopyObjects copies into dst every object reachable from commit tip in src
// that dst does not have yet, byte for byte, as one pack, then flushes dst
// to disk.
//
// C git does the transfer (pack-objects in src piped into index-pack in
// dst): a pack becomes visible only once its index is renamed into place,
// so a copy cut short by a crash leaves dst as it was (plus temporary files
// that recover removes), and every object dst has comes with everything it
// refers to. It replaced go-git writing loose objects one by one, which was
// 47 times slower on BenchmarkCopyObjects (docs/performance.md) and left
// upload-pack to pack them again on every clone.
func CopyObjects(ctx context.Context, dst, src *Repo, tip plumbing.Hash) error {
	return copyObjects(ctx, dst, src, []plumbing.Hash{tip})
}

// copyObjects is CopyObjects of several tips (commits or annotated tags)
// as one pack.
func copyObjects(ctx context.Context, dst, src *Repo, tips []plumbing.Hash) error {
	if dst.readOnly {
		return fmt.Errorf("copy objects: %s opened read-only", dst.dir)
	}
	revs := ""
	for _, tip := range tips {
		if dst.objects.HasEncodedObject(tip) == nil {
			continue // closure invariant: dst has all tip refers to
		}
		if src.objects.HasEncodedObject(tip) != nil {
			return fmt.Errorf("copy objects: %s is not in %s", tip, src.dir)
		}
		revs += tip.String() + "\n"
	}
	if revs == "" {
		return nil
	}
	// What dst already has and src can name: everything reachable from
	// dst's refs. pack-objects leaves those out.
	haves, err := dst.Refs("refs/")
	if err != nil {
		return err
	}
	for _, h := range haves {
		if src.objects.HasEncodedObject(h) == nil {
			revs += "^" + h.String() + "\n"
		}
	}

	pr, pw := io.Pipe()
	var packErr, indexErr bytes.Buffer
	pack := gitexec.Command(ctx, src.dir, "pack-objects", "--revs", "--stdout", "-q")
	pack.Stdin = strings.NewReader(revs)
	pack.Stdout = pw
	pack.Stderr = &packErr
	index := gitexec.Command(ctx, dst.dir,
		"-c", "core.fsync=objects,derived-metadata", "-c", "core.fsyncMethod=fsync",
		"index-pack", "--stdin", "--strict")
	index.Stdin = pr
	index.Stdout = io.Discard
	index.Stderr = &indexErr
	if err := index.Start(); err != nil {
		return fmt.Errorf("copy objects: %w", err)
	}
	perr := pack.Run()
	pw.CloseWithError(perr)
	ierr := index.Wait()
	if perr != nil {
		return fmt.Errorf("copy objects: git pack-objects: %v: %s", perr, strings.TrimSpace(packErr.String()))
	}
	if ierr != nil {
		return fmt.Errorf("copy objects: git index-pack: %v: %s", ierr, strings.TrimSpace(indexErr.String()))
	}
	dst.reindex()
	for _, tip := range tips {
		if dst.objects.HasEncodedObject(tip) != nil {
			return fmt.Errorf("copy objects: %s missing in %s after the copy", tip, dst.dir)
		}
	}
	return syncFS(dst.dir)
}

// syncFS flushes the file system holding dir: one syncfs is far cheaper
// than an fsync of every file and directory, and covers anything a git
// process wrote without fsync.
func syncFS(dir string) error {
	f, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// Sync flushes objects written into r outside CopyObjects (go-git writes
// loose objects without fsync) before a ref may point at them.
func (r *Repo) Sync() error { return syncFS(r.dir) }
