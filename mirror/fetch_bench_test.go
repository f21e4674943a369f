package mirror

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
	"github.com/gerritgate/gerritgate/storage"
)

// BenchmarkFetch compares C git's fetch (fetchGit) with go-git's
// (fetchGoGit) from the simulated Gerrit over HTTP with credentials: a
// first fetch into an empty repository, and a next fetch of one new
// commit. The repository has GERRITGATE_BENCH_FILES files (default 2,000,
// 2 KiB of random text each) and GERRITGATE_BENCH_COMMITS commits (default
// 1,000, each changing one file). useGit picks the faster of the two for
// each kind (docs/performance.md, "Mirror fetch").
func BenchmarkFetch(b *testing.B) {
	files, commits := envInt(b, "GERRITGATE_BENCH_FILES", 2000), envInt(b, "GERRITGATE_BENCH_COMMITS", 1000)
	srv, err := gerrittest.New(gerrittest.WithDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	srv.SetCredentials(testUser, testPassword)
	alice := srv.AddAccount("alice")
	if err := srv.CreateProject(testProject, gerrittest.MergeIfNecessary); err != nil {
		b.Fatal(err)
	}
	if err := importHistory(srv.RepoDir(testProject), files, commits); err != nil {
		b.Fatal(err)
	}
	open := func() (*Mirror, *storage.Repo) { return newTestMirror(b, srv.URL(), testPassword) }
	ctx := context.Background()
	ways := []struct {
		name  string
		fetch func(*Mirror, *storage.Repo) error
	}{
		{"cgit", func(m *Mirror, r *storage.Repo) error { return m.fetchGit(ctx, r, testProject) }},
		{"gogit", func(m *Mirror, r *storage.Repo) error { return m.fetchGoGit(ctx, r, testProject) }},
	}
	for _, w := range ways {
		b.Run("first/"+w.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				m, repo := open()
				b.StartTimer()
				if err := w.fetch(m, repo); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	n := 0
	for _, w := range ways {
		b.Run("next/"+w.name, func(b *testing.B) {
			m, repo := open()
			if err := w.fetch(m, repo); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				n++
				if _, err := srv.DirectPush(testProject, "main", alice, "next "+strconv.Itoa(n), map[string]string{fmt.Sprintf("next/%d.yaml", n%50): strconv.Itoa(n)}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := w.fetch(m, repo); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a whole number of at least 1", name, v)
	}
	return n
}

// importHistory writes onto main of the bare repository dir a commit of
// files files and then commits-1 commits changing one file each, with
// git fast-import, and packs them all (as Gerrit's gc would).
func importHistory(dir string, files, commits int) error {
	rnd := rand.New(rand.NewPCG(14, 14))
	content := func() string {
		p := make([]byte, 2048)
		for i := range p {
			p[i] = "abcdefghijklmnopqrstuvwxyz \n"[rnd.IntN(28)]
		}
		return string(p)
	}
	var s bytes.Buffer
	for c := range commits {
		msg := fmt.Sprintf("commit %d\n", c)
		fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s", 1_700_000_000+c, len(msg), msg)
		change := []int{rnd.IntN(files)}
		if c == 0 {
			change = make([]int, files)
			for i := range change {
				change[i] = i
			}
		}
		for _, f := range change {
			body := content()
			fmt.Fprintf(&s, "M 100644 inline clusters/c%d/apps/a%d/f%d.yaml\ndata %d\n%s\n", f%10, f/10%100, f, len(body), body)
		}
	}
	cmd := gitexec.Command(context.Background(), dir, "fast-import", "--quiet", "--force")
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git fast-import: %v: %s", err, out)
	}
	if out, err := gitexec.Command(context.Background(), dir, "repack", "-a", "-d", "-q").CombinedOutput(); err != nil {
		return fmt.Errorf("git repack: %v: %s", err, out)
	}
	return nil
}
