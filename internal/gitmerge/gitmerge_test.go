package gitmerge

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// repo is a C git work tree for building histories.
type repo struct {
	t   *testing.T
	dir string
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = gitexec.Env("HOME="+r.dir,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) write(path, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, path)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) commit(msg string) string {
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func TestMerge(t *testing.T) {
	lines := "1\n2\n3\n4\n5\n6\n7\n8\n"
	for _, tt := range []struct {
		name         string
		base         map[string]string
		ours, theirs func(r *repo)
		want         map[string]string // files of the merged tree
		wantErr      error
		theirsOrphan bool
	}{
		{
			name:   "delete and move",
			base:   map[string]string{"a": "a\n"},
			ours:   func(r *repo) { r.git("rm", "-q", "a") },
			theirs: func(r *repo) { r.git("mv", "a", "b") },
			want:   map[string]string{"b": "a\n"},
		},
		{
			name:   "directory rename and an addition to the old directory",
			base:   map[string]string{"old/x": "x\n"},
			ours:   func(r *repo) { r.git("mv", "old", "new") },
			theirs: func(r *repo) { r.write("old/y", "y\n") },
			want:   map[string]string{"new/x": "x\n", "old/y": "y\n"},
		},
		{
			name:   "both sides edit one file in different places",
			base:   map[string]string{"f": lines},
			ours:   func(r *repo) { r.write("f", strings.Replace(lines, "1\n", "one\n", 1)) },
			theirs: func(r *repo) { r.write("f", strings.Replace(lines, "8\n", "eight\n", 1)) },
			want:   map[string]string{"f": strings.Replace(strings.Replace(lines, "1\n", "one\n", 1), "8\n", "eight\n", 1)},
		},
		{
			name:    "both sides edit one line",
			base:    map[string]string{"f": lines},
			ours:    func(r *repo) { r.write("f", strings.Replace(lines, "4\n", "four\n", 1)) },
			theirs:  func(r *repo) { r.write("f", strings.Replace(lines, "4\n", "FOUR\n", 1)) },
			wantErr: ErrConflict,
		},
		{
			name:    "edit and delete",
			base:    map[string]string{"f": lines},
			ours:    func(r *repo) { r.write("f", "changed\n") },
			theirs:  func(r *repo) { r.git("rm", "-q", "f") },
			wantErr: ErrConflict,
		},
		{
			name:         "unrelated histories",
			base:         map[string]string{"f": "f\n"},
			ours:         func(r *repo) { r.write("g", "g\n") },
			theirs:       func(r *repo) { r.write("h", "h\n") },
			theirsOrphan: true,
			wantErr:      ErrNoSingleBase,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &repo{t: t, dir: t.TempDir()}
			r.git("init", "-q", "--initial-branch=main")
			for p, c := range tt.base {
				r.write(p, c)
			}
			base := r.commit("base")
			tt.ours(r)
			ours := r.commit("ours")
			if tt.theirsOrphan {
				r.git("checkout", "-q", "--orphan", "other")
				r.git("rm", "-q", "-rf", ".")
			} else {
				r.git("checkout", "-q", base)
			}
			tt.theirs(r)
			theirs := r.commit("theirs")

			tree, err := Merge(context.Background(), filepath.Join(r.dir, ".git"), ours, theirs)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Merge = %s, %v; want error %v", tree, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			got := map[string]string{}
			for _, p := range strings.Split(r.git("ls-tree", "-r", "--name-only", tree), "\n") {
				got[p] = r.git("cat-file", "blob", tree+":"+p) + "\n"
			}
			if len(got) != len(tt.want) {
				t.Errorf("merged tree holds %v, want %v", got, tt.want)
			}
			for p, c := range tt.want {
				if got[p] != c {
					t.Errorf("%s = %q, want %q", p, got[p], c)
				}
			}
		})
	}
}

// TestMergeCancelled: a merge whose context has ended stops with the
// context's error, never a tree or a verdict (conflict) the caller would
// act on.
func TestMergeCancelled(t *testing.T) {
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.write("f", "base\n")
	base := r.commit("base")
	r.write("f", "ours\n")
	ours := r.commit("ours")
	r.git("checkout", "-q", base)
	r.write("g", "theirs\n")
	theirs := r.commit("theirs")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, merge := range map[string]func(context.Context, string, string, string) (string, error){"Merge": Merge, "Ort": Ort} {
		tree, err := merge(ctx, filepath.Join(r.dir, ".git"), ours, theirs)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %q, %v; want context.Canceled", name, tree, err)
		}
	}
}
