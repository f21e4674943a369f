package gerrittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/internal/gitmerge"
)

// zeroSHA is git's "no object" for update-ref's old value.
const zeroSHA = "0000000000000000000000000000000000000000"

// ident is a git author or committer.
type ident struct {
	Name  string
	Email string
	When  time.Time
}

// gitEnv isolates every git run from the machine's configuration.
func (s *Server) gitEnv(extra ...string) []string {
	return gitexec.Env(append([]string{"HOME=" + s.dir}, extra...)...)
}

// git runs C git in dir and returns its trimmed standard output.
func (s *Server) git(dir string, env []string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(s.gitPath, args...)
	cmd.Dir = dir
	cmd.Env = s.gitEnv(env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(out.String()), &gitError{args: args, stderr: strings.TrimSpace(errb.String()), err: err}
	}
	return strings.TrimSpace(out.String()), nil
}

type gitError struct {
	args   []string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.args, " "), e.err, e.stderr)
}

// exitCode is the exit status of a failed git run, or -1.
func exitCode(err error) int {
	var ge *gitError
	var ee *exec.ExitError
	if errors.As(err, &ge) && errors.As(ge.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func repoDir(root, project string) string {
	return filepath.Join(root, filepath.FromSlash(project)+".git")
}

// initRepo creates a bare repository with an initial empty commit on branch.
func (s *Server) initRepo(dir, branch string, author ident) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	if _, err := s.git(filepath.Dir(dir), nil, nil, "init", "--bare", "-q", "--initial-branch="+branch, dir); err != nil {
		return "", err
	}
	tree, err := s.git(dir, nil, nil, "mktree")
	if err != nil {
		return "", err
	}
	sha, err := s.commitTree(dir, tree, nil, "Initial empty repository\n", author, author)
	if err != nil {
		return "", err
	}
	return sha, s.updateRef(dir, "refs/heads/"+branch, sha, "")
}

func dateEnv(prefix string, id ident) []string {
	return []string{
		prefix + "_NAME=" + id.Name,
		prefix + "_EMAIL=" + id.Email,
		prefix + "_DATE=@" + strconv.FormatInt(id.When.Unix(), 10) + " +0000",
	}
}

// commitTree writes a commit object.
func (s *Server) commitTree(dir, tree string, parents []string, msg string, author, committer ident) (string, error) {
	args := []string{"commit-tree", tree}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	args = append(args, "-F", "-")
	env := append(dateEnv("GIT_AUTHOR", author), dateEnv("GIT_COMMITTER", committer)...)
	return s.git(dir, env, []byte(msg), args...)
}

// writeTree returns the tree of base (a commit, or "" for empty) with files
// written over it. A file whose content is nil is deleted.
func (s *Server) writeTree(dir, base string, files map[string]*string) (string, error) {
	idx, err := os.CreateTemp(s.dir, "index-*")
	if err != nil {
		return "", err
	}
	idx.Close()
	os.Remove(idx.Name()) // git wants to create it itself
	defer os.Remove(idx.Name())
	env := []string{"GIT_INDEX_FILE=" + idx.Name()}
	if base == "" {
		_, err = s.git(dir, env, nil, "read-tree", "--empty")
	} else {
		_, err = s.git(dir, env, nil, "read-tree", base)
	}
	if err != nil {
		return "", err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var info strings.Builder
	for _, p := range paths {
		if strings.ContainsAny(p, "\t\n") || p == "" || strings.HasPrefix(p, "/") {
			return "", fmt.Errorf("bad file name %q", p)
		}
		c := files[p]
		if c == nil {
			fmt.Fprintf(&info, "0 %s\t%s\n", zeroSHA, p)
			continue
		}
		blob, err := s.git(dir, nil, []byte(*c), "hash-object", "-w", "--stdin")
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&info, "100644 %s\t%s\n", blob, p)
	}
	if _, err := s.git(dir, env, []byte(info.String()), "update-index", "--index-info"); err != nil {
		return "", err
	}
	return s.git(dir, env, nil, "write-tree")
}

// mergeTrees merges commit theirs into ours (git merge-tree, with their
// merge base) and returns the resulting tree, or errConflict.
func (s *Server) mergeTrees(dir, ours, theirs string) (string, error) {
	out, err := s.git(dir, nil, nil, "merge-tree", "--write-tree", "--no-messages", ours, theirs)
	if err != nil {
		if exitCode(err) == 1 {
			return "", errConflict
		}
		return "", err
	}
	tree, _, _ := strings.Cut(out, "\n")
	return tree, nil
}

var errConflict = errors.New("merge conflict")

// jgitMerge merges like Gerrit's submit does (JGit: no rename detection),
// so a change deleting a file another moves merges cleanly, as on a real
// Gerrit. With several merge bases it falls back to git's own merge.
func (s *Server) jgitMerge(dir, ours, theirs string) (string, error) {
	tree, err := gitmerge.Merge(context.Background(), dir, ours, theirs)
	if errors.Is(err, gitmerge.ErrNoSingleBase) {
		return s.mergeTrees(dir, ours, theirs)
	}
	if errors.Is(err, gitmerge.ErrConflict) {
		return "", errConflict
	}
	return tree, err
}

func (s *Server) revParse(dir, rev string) (string, error) {
	out, err := s.git(dir, nil, nil, "rev-parse", "--verify", "-q", rev)
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return out, nil
}

// isAncestor reports whether commit a is reachable from b.
func (s *Server) isAncestor(dir, a, b string) (bool, error) {
	_, err := s.git(dir, nil, nil, "merge-base", "--is-ancestor", a, b)
	if err == nil {
		return true, nil
	}
	if exitCode(err) == 1 {
		return false, nil
	}
	return false, err
}

// onSomeBranch reports whether sha is reachable from any branch of the
// repository: Gerrit's submit treats such commits as already accepted, so
// a change may build on a commit merged into another branch.
func (s *Server) onSomeBranch(dir, sha string) (bool, error) {
	out, err := s.git(dir, nil, nil, "for-each-ref", "--contains", sha, "--format=%(refname)", "refs/heads/")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) != "", nil
}

// updateRef moves ref from old ("" for must-not-exist) to sha.
func (s *Server) updateRef(dir, ref, sha, old string) error {
	if old == "" {
		old = zeroSHA
	}
	_, err := s.git(dir, nil, nil, "update-ref", ref, sha, old)
	return err
}

// diffStat counts inserted and deleted lines between two commits.
func (s *Server) diffStat(dir, from, to string) (ins, del int, err error) {
	args := []string{"diff-tree", "--numstat", "--root", "-r", "--no-commit-id", to}
	if from != "" {
		args = []string{"diff", "--numstat", from, to}
	}
	out, err := s.git(dir, nil, nil, args...)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		a, _ := strconv.Atoi(f[0]) // "-" for binary files counts 0
		d, _ := strconv.Atoi(f[1])
		ins += a
		del += d
	}
	return ins, del, nil
}
