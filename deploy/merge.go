package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// cleanMerge reports whether a two-parent commit's tree is exactly what
// merging its parents without conflicts gives, using C git (go-git has no
// merge). A merge carrying anything else has content of its own that no
// change brought.
//
// Gerrit merges with JGit, which detects no renames, so a merge Gerrit made
// cleanly can be a conflict for merge-tree's rename-aware ort (one side
// deletes a file the other moves; one renames a directory the other adds
// to), or come out differently. The tree is accepted when it equals either
// ort's merge or a rename-blind three-way merge: both hold content of the
// parents only.
func (d *Deployer) cleanMerge(repoDir string, c *object.Commit) (bool, error) {
	p1, p2 := c.ParentHashes[0].String(), c.ParentHashes[1].String()
	out, code, err := d.git(repoDir, nil, "", "merge-tree", "--write-tree", "--no-messages", p1, p2)
	if err != nil {
		return false, fmt.Errorf("git merge-tree for %s: %w", short(c.Hash), err)
	}
	if code == 0 && firstLine(out) == c.TreeHash.String() {
		return true, nil
	}
	tree, err := d.renameBlindMerge(repoDir, p1, p2)
	if err != nil {
		return false, fmt.Errorf("rename-blind merge for %s: %w", short(c.Hash), err)
	}
	return tree == c.TreeHash.String(), nil
}

// renameBlindMerge merges ours and theirs path by path, as JGit does:
// read-tree's three-way merge in a scratch index, then a line merge of the
// files both sides changed. It returns "" when the merge has conflicts or
// the parents have no single merge base.
func (d *Deployer) renameBlindMerge(repoDir, ours, theirs string) (string, error) {
	bases, code, err := d.git(repoDir, nil, "", "merge-base", "--all", ours, theirs)
	if err != nil || code != 0 {
		return "", err
	}
	base := strings.Fields(bases)
	if len(base) != 1 {
		return "", nil // criss-cross or unrelated: not this simple case
	}
	tmp, err := os.MkdirTemp("", "gerritgate-merge-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	index := []string{"GIT_INDEX_FILE=" + tmp + "/index"}
	if _, code, err := d.git(repoDir, index, "", "read-tree", "-i", "-m", "--aggressive", base[0], ours, theirs); err != nil || code != 0 {
		return "", fmt.Errorf("read-tree: exit %d: %v", code, err)
	}
	unmerged, _, err := d.git(repoDir, index, "", "ls-files", "-u", "-z")
	if err != nil {
		return "", err
	}
	// path -> stage -> "mode sha"
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
			return "", nil // add/add, modify/delete, mode or type changes: a conflict
		}
		merged, err := d.mergeFile(repoDir, tmp, b[1], o[1], t[1])
		if err != nil || merged == "" {
			return "", err
		}
		if _, code, err := d.git(repoDir, index, "", "update-index", "--cacheinfo", o[0]+","+merged+","+path); err != nil || code != 0 {
			return "", fmt.Errorf("update-index: exit %d: %v", code, err)
		}
	}
	tree, code, err := d.git(repoDir, index, "", "write-tree")
	if err != nil || code != 0 {
		return "", fmt.Errorf("write-tree: exit %d: %v", code, err)
	}
	return firstLine(tree), nil
}

// mergeFile merges three blobs line by line and writes the result as a
// blob, returning its id, or "" when the lines conflict.
func (d *Deployer) mergeFile(repoDir, tmp, base, ours, theirs string) (string, error) {
	var files []string
	for i, blob := range []string{ours, base, theirs} {
		content, code, err := d.git(repoDir, nil, "", "cat-file", "blob", blob)
		if err != nil || code != 0 {
			return "", fmt.Errorf("cat-file %s: exit %d: %v", blob, code, err)
		}
		name := filepath.Join(tmp, strconv.Itoa(i))
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			return "", err
		}
		files = append(files, name)
	}
	merged, code, err := d.git(repoDir, nil, "", append([]string{"merge-file", "-p", "-q"}, files...)...)
	if err != nil || code != 0 {
		return "", err // code > 0 counts conflicts
	}
	blob, code, err := d.git(repoDir, nil, merged, "hash-object", "-w", "--stdin")
	if err != nil || code != 0 {
		return "", fmt.Errorf("hash-object: exit %d: %v", code, err)
	}
	return firstLine(blob), nil
}

// git runs C git on repoDir without user or system config. An exit code
// from 1 to 127 is returned as a code, not an error (merge-tree and
// merge-file use it for conflicts); anything else failing is an error with
// git's message.
func (d *Deployer) git(repoDir string, env []string, stdin string, args ...string) (string, int, error) {
	cmd := exec.Command(d.gitPath, append([]string{"--git-dir", repoDir}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent"}, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() >= 1 && exit.ExitCode() < 128 {
		return out.String(), exit.ExitCode(), nil
	}
	if err != nil {
		return "", -1, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), 0, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}
