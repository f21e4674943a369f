package storage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// Dir is the repository's directory, for serving it and for tests that
// drive C git on it. Code that changes the repository uses the methods
// instead: they keep go-git's view of it current.
func (r *Repo) Dir() string { return r.dir }

// GitCommand returns C git with args run on this repository in gitexec's
// clean environment, killed when ctx ends. Run it with RunGit.
func (r *Repo) GitCommand(ctx context.Context, args ...string) *exec.Cmd {
	return gitexec.Command(ctx, r.dir, args...)
}

// RunGit runs cmd (from GitCommand, adjusted as the caller needs) and
// returns its combined output. Whatever git wrote (a fetch's packs) is
// visible to this Repo's reads afterwards, even when git failed half-way.
func (r *Repo) RunGit(cmd *exec.Cmd) ([]byte, error) {
	out, err := cmd.CombinedOutput()
	r.reindex()
	return out, err
}

// reindex makes go-git look again for packs: it caches their list, and
// C git writes new ones behind its back.
func (r *Repo) reindex() {
	r.gmu.Lock()
	defer r.gmu.Unlock()
	r.reindexLocked()
}

// reindexLocked is reindex with the go-git lock held.
func (r *Repo) reindexLocked() {
	if fs, ok := r.git.Storer.(interface{ Reindex() }); ok {
		fs.Reindex()
	}
}

// Fetch fetches from url into this repository with go-git, which honours
// ctx (the mirror fetches over HTTP with it). Other uses of the
// repository wait until the fetch is over.
func (r *Repo) Fetch(ctx context.Context, url string, opts *git.FetchOptions) error {
	if r.readOnly {
		return fmt.Errorf("fetch: %s opened read-only", r.dir)
	}
	r.gmu.Lock()
	defer r.gmu.Unlock()
	remote := git.NewRemote(r.git.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	return remote.FetchContext(ctx, opts)
}

// FetchGit runs cmd (from GitCommand: a C git fetch into this repository)
// as Fetch runs go-git's: reads of the repository's refs and objects
// through this Repo wait until git is done, so none sees a pack git is
// still writing or a ref before go-git sees its objects; then go-git
// looks again for packs. The caller sets cmd's output. Only upstream
// repositories are fetched into: the mirror is their one writer, so the
// temporary files a killed git leaves are its own, and removed.
func (r *Repo) FetchGit(cmd *exec.Cmd) error {
	if r.readOnly || r.served {
		return fmt.Errorf("fetch: %s is not an upstream repository open for writing", r.dir)
	}
	r.gmu.Lock()
	defer r.gmu.Unlock()
	err := cmd.Run()
	if err != nil {
		// git killed mid-pack (a deadline) leaves its temporary pack.
		tmp, _ := filepath.Glob(filepath.Join(r.dir, "objects", "pack", "tmp_*"))
		for _, f := range tmp {
			os.Remove(f)
		}
	}
	r.reindexLocked()
	return err
}

// Objects is the object database, for packages that build objects of
// their own (audit records and tags); safe for concurrent use. Objects written through it become
// reachable only when UpdateRefs names them; call Sync before that.
func (r *Repo) Objects() storer.EncodedObjectStorer { return r.objects }

// WriteObject stores an encoded object (a blob, tree or commit built with
// go-git's object encoders) and returns its id. Refs are unchanged.
func (r *Repo) WriteObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	if r.readOnly {
		return plumbing.ZeroHash, fmt.Errorf("write object: %s opened read-only", r.dir)
	}
	return r.objects.SetEncodedObject(obj)
}
