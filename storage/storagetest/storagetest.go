// Package storagetest builds data directories for the tests of the front
// ends (githttp, gitssh, access) and runs C git the way they need it.
package storagetest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/storage"
)

// Git runs C git in dir with a clean environment (no system or user
// config, a fixed identity) plus env, bounded to a minute.
func Git(t testing.TB, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = gitexec.Env(append([]string{
		"HOME=" + t.TempDir(),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
	}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Served is a data directory whose projects serve deploy/prod.
type Served struct {
	Store *storage.Store
	// Gated is the commit deploy/prod points at (two commits of history).
	Gated string
	// Ungated is a commit after Gated that is in every project's upstream
	// mirror but was never gated.
	Ungated string
}

// Serve makes a data directory where each project's upstream mirror holds
// three commits and its served repository the first two, at deploy/prod
// (and HEAD).
func Serve(t testing.TB, projects ...string) Served {
	t.Helper()
	store, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	work := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := Git(t, work, nil, args...)
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	run("init", "-q", "-b", "main")
	run("commit", "-q", "--allow-empty", "-m", "one")
	run("commit", "-q", "--allow-empty", "-m", "two")
	s := Served{Store: store, Gated: run("rev-parse", "HEAD")}
	run("commit", "-q", "--allow-empty", "-m", "not yet approved")
	s.Ungated = run("rev-parse", "HEAD")
	for _, p := range projects {
		up, err := store.Upstream(p)
		if err != nil {
			t.Fatal(err)
		}
		run("push", "-q", up.Dir(), "main")
		repo, err := store.Served(p)
		if err != nil {
			t.Fatal(err)
		}
		h := plumbing.NewHash(s.Gated)
		if err := storage.CopyObjects(context.Background(), repo, up, h); err != nil {
			t.Fatal(err)
		}
		if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", New: h}); err != nil {
			t.Fatal(err)
		}
		if err := repo.SetHead("refs/heads/deploy/prod"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
