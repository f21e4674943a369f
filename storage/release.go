package storage

import (
	"errors"
	"io/fs"
	"os"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// objectCacheSize bounds the decoded objects go-git keeps per repository
// (its default is 96 MiB each, which a data directory of a thousand
// projects could grow into many GiB of). Release empties it.
const objectCacheSize = 8 * cache.MiByte

// openGit opens the bare repository at path with its own object cache c,
// as git.PlainOpen would with a default one.
func openGit(path string, c cache.Object) (*git.Repository, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, git.ErrRepositoryNotExists
	}
	return git.Open(filesystem.NewStorage(osfs.New(path), c), nil)
}

// Release lets go of what go-git keeps in memory for project's open
// repositories, upstream, served and per environment: decoded objects and
// the index of their packs. Both come back on the next read. The poller
// calls it when a poll is done with a project, so memory follows the
// projects being worked on rather than every project the data directory
// holds.
func (s *Store) Release(project string) {
	var mine []*Repo
	s.mu.Lock()
	for _, r := range s.repos[project] {
		mine = append(mine, r)
	}
	s.mu.Unlock()
	for _, r := range mine {
		r.release()
	}
}

func (r *Repo) release() {
	r.cache.Clear()
	r.reindex()
}
