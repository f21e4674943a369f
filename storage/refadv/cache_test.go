package refadv_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/storagetest"
)

// chain serves platform/fleet through a Cache told of every ref change,
// and returns the served repository and n commits beyond the served one,
// each a child of the one before, with their objects in the served
// repository.
func chain(t *testing.T, c *refadv.Cache, n int) (*storage.Repo, []plumbing.Hash) {
	t.Helper()
	s := storagetest.Serve(t, "platform/fleet")
	s.Store.NotifyRefs(c.Invalidate)
	repo, err := s.Store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	commits := []plumbing.Hash{plumbing.NewHash(s.Gated)}
	tree := gitOut(t, repo.Dir(), "hash-object", "-t", "tree", "-w", "/dev/null")
	for i := 0; i < n; i++ {
		h := gitOut(t, repo.Dir(), "commit-tree", tree, "-p", commits[len(commits)-1].String(), "-m", fmt.Sprint("advance ", i))
		commits = append(commits, plumbing.NewHash(h))
	}
	return repo, commits
}

func advertised(t *testing.T, c *refadv.Cache, dir string) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.InfoRefs(context.Background(), dir, "", &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// tipOf returns which of commits the advertisement shows deploy/prod at.
func tipOf(adv string, commits []plumbing.Hash) int {
	for i, c := range commits {
		if strings.Contains(adv, c.String()+" refs/heads/deploy/prod\n") {
			return i
		}
	}
	return -1
}

// TestNewTipOnceUpdateRefsReturns: after UpdateRefs (and SetHead)
// return, the advertisement is the new one, remembered until the next
// change.
func TestNewTipOnceUpdateRefsReturns(t *testing.T) {
	c := refadv.New()
	repo, commits := chain(t, c, 3)
	if got := tipOf(advertised(t, c, repo.Dir()), commits); got != 0 {
		t.Fatalf("before any advance: deploy/prod advertised at commit %d, want 0", got)
	}
	for i := 1; i < len(commits); i++ {
		if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: commits[i-1], New: commits[i]}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := tipOf(advertised(t, c, repo.Dir()), commits); got != i {
				t.Fatalf("after advance %d returned: deploy/prod advertised at commit %d", i, got)
			}
		}
	}
	if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/dev", New: commits[1]}); err != nil {
		t.Fatal(err)
	}
	advertised(t, c, repo.Dir()) // remembered with HEAD at deploy/prod
	if err := repo.SetHead("refs/heads/deploy/dev"); err != nil {
		t.Fatal(err)
	}
	if adv := advertised(t, c, repo.Dir()); !strings.Contains(adv, "symref=HEAD:refs/heads/deploy/dev") {
		t.Errorf("after SetHead returned, the advertisement does not name the new HEAD:\n%q", adv)
	}
}

// TestNeverOldTipAfterReturn: clients poll without pause while the refs
// advance; a poll that began after an advance returned never sees an
// older tip.
func TestNeverOldTipAfterReturn(t *testing.T) {
	c := refadv.New()
	repo, commits := chain(t, c, 20)
	var done atomic.Int64 // advances returned
	stop := make(chan struct{})
	var mu sync.Mutex
	var stale []string
	polls := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				before := int(done.Load())
				var b bytes.Buffer
				if err := c.InfoRefs(context.Background(), repo.Dir(), "", &b); err != nil {
					t.Error(err)
					return
				}
				got := tipOf(b.String(), commits)
				mu.Lock()
				polls++
				if got < before {
					stale = append(stale, fmt.Sprintf("poll begun after advance %d returned saw commit %d", before, got))
				}
				mu.Unlock()
			}
		})
	}
	for i := 1; i < len(commits); i++ {
		if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: commits[i-1], New: commits[i]}); err != nil {
			t.Fatal(err)
		}
		done.Store(int64(i))
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, s := range stale {
		t.Error(s)
	}
	t.Logf("%d polls during %d advances", polls, len(commits)-1)
}

// TestBuildBegunBeforeChangeIsNotServedAfter: a snapshot git took before
// an advance, and finished after it, is neither joined by a ref check
// that comes after the advance returned nor remembered. git is slowed
// down after it has read the refs so the order is certain.
func TestBuildBegunBeforeChangeIsNotServedAfter(t *testing.T) {
	bin := t.TempDir()
	read := filepath.Join(bin, "read")
	wrapper := filepath.Join(bin, "git")
	// Run git, say so, then hold its answer until told to let it go.
	script := fmt.Sprintf(`#!/bin/sh
out=$(mktemp)
git "$@" >"$out"; rc=$?
touch %[1]q
while [ ! -e %[2]q ]; do sleep 0.01; done
cat "$out"; rm -f "$out"
exit $rc
`, read, filepath.Join(bin, "go"))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	slow := refadv.New(refadv.WithGit(wrapper))
	repo, commits := chain(t, slow, 1)

	first := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		slow.InfoRefs(context.Background(), repo.Dir(), "", &b)
		first <- b.String()
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(read); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("git never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: commits[0], New: commits[1]}); err != nil {
		t.Fatal(err)
	}
	// The advance has returned; let every git run go from now on.
	os.WriteFile(filepath.Join(bin, "go"), nil, 0o644)
	if got := tipOf(advertised(t, slow, repo.Dir()), commits); got != 1 {
		t.Errorf("ref check after the advance returned: deploy/prod at commit %d, want 1", got)
	}
	if got := tipOf(<-first, commits); got != 0 {
		t.Errorf("ref check begun before the advance: deploy/prod at commit %d, want 0 (it read the refs first)", got)
	}
	if got := tipOf(advertised(t, slow, repo.Dir()), commits); got != 1 {
		t.Errorf("after the old build finished: deploy/prod at commit %d, want 1 (the old build must not be remembered)", got)
	}
}

// TestOneBuildForManyChecks: many concurrent ref checks of one
// repository share one snapshot (four git runs), per change of refs.
func TestOneBuildForManyChecks(t *testing.T) {
	var builds atomic.Int64
	c := refadv.New(refadv.WithObserver(func(string, time.Duration, error) { builds.Add(1) }))
	repo, commits := chain(t, c, 1)
	check := func() {
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() { advertised(t, c, repo.Dir()) })
		}
		wg.Wait()
	}
	check()
	if got := builds.Load(); got != 1 {
		t.Errorf("64 concurrent checks took %d snapshots, want 1", got)
	}
	if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: commits[0], New: commits[1]}); err != nil {
		t.Fatal(err)
	}
	check()
	if got := builds.Load(); got != 2 {
		t.Errorf("after one advance, %d snapshots in all, want 2", got)
	}
}
