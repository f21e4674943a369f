package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/storagetest"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	run := func(dir string, args ...string) string {
		t.Helper()
		out, err := storagetest.Git(t, dir, nil, args...)
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	os.MkdirAll(filepath.Join(work, "gate"), 0o755)
	os.WriteFile(filepath.Join(work, "policy.yaml"), []byte("repos: []\n"), 0o644)
	os.WriteFile(filepath.Join(work, "gate", "policy.yaml"), []byte("nested\n"), 0o644)
	run(work, "init", "-q", "-b", "main")
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "c")
	sha := plumbing.NewHash(run(work, "rev-parse", "HEAD"))

	s, err := storage.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	up, err := s.Upstream("p")
	if err != nil {
		t.Fatal(err)
	}
	run(up.Dir(), "fetch", "-q", work, "main:refs/heads/main")
	tests := []struct {
		what, path string
		max        int64
		want       string
		wantErr    string
		noFile     bool
	}{
		{"top-level file", "policy.yaml", 100, "repos: []\n", "", false},
		{"nested file", "gate/policy.yaml", 100, "nested\n", "", false},
		{"missing", "nope.yaml", 100, "", "nope.yaml at", true},
		{"directory", "gate", 100, "", "gate at", true},
		{"over the bound", "policy.yaml", 5, "", "is 10 bytes, over the 5 allowed", false},
	}
	for _, tt := range tests {
		got, err := up.ReadFile(sha, tt.path, tt.max)
		if tt.wantErr == "" {
			if err != nil || string(got) != tt.want {
				t.Errorf("%s: ReadFile = %q, %v; want %q", tt.what, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, storage.ErrNoFile) != tt.noFile {
			t.Errorf("%s: err = %v, want %q (ErrNoFile %v)", tt.what, err, tt.wantErr, tt.noFile)
		}
	}
	if _, err := up.ReadFile(plumbing.NewHash(strings.Repeat("1", 40)), "policy.yaml", 100); err == nil {
		t.Errorf("ReadFile of a missing commit: no error")
	}
}
