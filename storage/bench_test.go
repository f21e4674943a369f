package storage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// BenchmarkCopyObjects copies a first deploy (baseline) of a repository of
// 2,000 files of 2 KiB in 200 directories into an empty served repository:
// the largest copy the gate makes.
//
//	go test ./storage -run '^$' -bench CopyObjects -benchtime 5x
func BenchmarkCopyObjects(b *testing.B) {
	work := b.TempDir()
	for d := 0; d < 200; d++ {
		dir := filepath.Join(work, fmt.Sprintf("dir%03d", d))
		os.MkdirAll(dir, 0o755)
		for f := 0; f < 10; f++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.yaml", f)), []byte(strings.Repeat(fmt.Sprintf("key%d: %d\n", f, d), 200)), 0o644)
		}
	}
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = gitexec.Env("GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q", "-b", "main")
	run("add", "-A")
	run("commit", "-q", "-m", "big")
	tip := plumbing.NewHash(run("rev-parse", "HEAD"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		up, _ := s.Upstream("p")
		run("push", "-q", up.dir, "main")
		served, _ := s.Served("p")
		b.StartTimer()
		if err := CopyObjects(context.Background(), served, up, tip); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
	}
}
