// Package gitmerge merges two commits the way Gerrit's JGit merges them on
// submit: path by path, without rename detection, with a line merge of the
// files both sides changed. C git's merge-tree (ort) detects renames, and
// git 2.39's ort ignores merge.renames=false, so it calls some of Gerrit's
// clean merges conflicts (one side deletes a file the other moves; one
// renames a directory the other adds to). The gate and the simulated
// Gerrit both need JGit's answer.
//
// It runs C git on a bare repository and writes objects into it (the
// merged blobs and trees); it never touches a ref.
package gitmerge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// ErrConflict is a merge with conflicts: the same path changed differently
// on both sides in a way a line merge cannot settle, or added, deleted or
// retyped on one side and changed on the other.
var ErrConflict = errors.New("merge conflict")

// ErrNoSingleBase is two commits with no merge base or several (criss-cross).
var ErrNoSingleBase = errors.New("no single merge base")

// Merge returns the tree of the rename-blind three-way merge of commits
// ours and theirs in the bare repository dir. Its git processes are
// killed when ctx ends.
func Merge(ctx context.Context, dir, ours, theirs string) (string, error) {
	bases, code, err := run(ctx, dir, nil, "", "merge-base", "--all", ours, theirs)
	if err != nil {
		return "", err
	}
	base := strings.Fields(bases)
	if code != 0 || len(base) != 1 {
		return "", ErrNoSingleBase
	}
	tmp, err := os.MkdirTemp("", "gitmerge-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}
	if _, code, err := run(ctx, dir, index, "", "read-tree", "-i", "-m", "--aggressive", base[0], ours, theirs); err != nil || code != 0 {
		return "", fmt.Errorf("read-tree: exit %d: %v", code, err)
	}
	unmerged, _, err := run(ctx, dir, index, "", "ls-files", "-u", "-z")
	if err != nil {
		return "", err
	}
	// path -> stage ("1" base, "2" ours, "3" theirs) -> {mode, blob}
	stages := map[string]map[string][2]string{}
	for _, rec := range strings.Split(unmerged, "\x00") {
		meta, path, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			continue
		}
		if stages[path] == nil {
			stages[path] = map[string][2]string{}
		}
		stages[path][f[2]] = [2]string{f[0], f[1]}
	}
	for path, st := range stages {
		b, o, t := st["1"], st["2"], st["3"]
		if len(st) != 3 || o[0] != t[0] || (o[0] != "100644" && o[0] != "100755") {
			return "", ErrConflict
		}
		merged, err := mergeFile(ctx, dir, tmp, b[1], o[1], t[1])
		if err != nil {
			return "", err
		}
		if _, code, err := run(ctx, dir, index, "", "update-index", "--cacheinfo", o[0]+","+merged+","+path); err != nil || code != 0 {
			return "", fmt.Errorf("update-index: exit %d: %v", code, err)
		}
	}
	tree, code, err := run(ctx, dir, index, "", "write-tree")
	if err != nil || code != 0 {
		return "", fmt.Errorf("write-tree: exit %d: %v", code, err)
	}
	return strings.TrimSpace(tree), nil
}

// Ort returns the tree of C git's rename-aware merge of commits ours and
// theirs (git merge-tree --write-tree), ErrConflict when it has conflicts.
func Ort(ctx context.Context, dir, ours, theirs string) (string, error) {
	out, code, err := run(ctx, dir, nil, "", "merge-tree", "--write-tree", "--no-messages", ours, theirs)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", ErrConflict
	}
	tree, _, _ := strings.Cut(out, "\n")
	return strings.TrimSpace(tree), nil
}

// mergeFile merges three blobs line by line and writes the result as a
// blob, returning its id.
func mergeFile(ctx context.Context, dir, tmp, base, ours, theirs string) (string, error) {
	var files []string
	for i, blob := range []string{ours, base, theirs} {
		content, code, err := run(ctx, dir, nil, "", "cat-file", "blob", blob)
		if err != nil || code != 0 {
			return "", fmt.Errorf("cat-file %s: exit %d: %v", blob, code, err)
		}
		name := filepath.Join(tmp, strconv.Itoa(i))
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			return "", err
		}
		files = append(files, name)
	}
	merged, code, err := run(ctx, dir, nil, "", append([]string{"merge-file", "-p", "-q"}, files...)...)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", ErrConflict // merge-file's code counts the conflicts
	}
	blob, code, err := run(ctx, dir, nil, merged, "hash-object", "-w", "--stdin")
	if err != nil || code != 0 {
		return "", fmt.Errorf("hash-object: exit %d: %v", code, err)
	}
	return strings.TrimSpace(blob), nil
}

// run runs C git on the bare repository dir (gitexec's clean
// environment plus env). An exit code from 1 to 127 is returned, not an
// error; anything else failing, ctx ending included, is an error with
// git's message.
func run(ctx context.Context, dir string, env []string, stdin string, args ...string) (string, int, error) {
	cmd := gitexec.Command(ctx, dir, args...)
	cmd.Env = append(cmd.Env, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", -1, fmt.Errorf("git %s: %w", args[0], ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() >= 1 && exit.ExitCode() < 128 {
		return out.String(), exit.ExitCode(), nil
	}
	if err != nil {
		return "", -1, fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), 0, nil
}
