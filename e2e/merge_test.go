package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// A merge commit Gerrit made on submit deploys; a merge commit with content
// of its own (an evil merge) pushed past review does not.
func TestMergeCommits(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	p := sim.head()
	g.waitDeployed(project, "prod", p)

	side, err := sim.srv.CreateChange(gerrittest.ChangeInput{Project: project, Owner: sim.alice, Subject: "S: side change", Parent: p,
		Files: map[string]string{"side.yaml": "side\n"}})
	if err != nil {
		t.Fatal(err)
	}
	sim.mergeApproved("A: first")
	sim.must(sim.srv.Vote(side.Number, sim.bob, "Code-Review", 2))
	sim.must(sim.srv.Vote(side.Number, sim.carol, "Verified", 1))
	m := sim.submit(side.Number)
	if out, _ := git(t, "", "--git-dir", sim.repoDir(), "rev-list", "--parents", "-n1", m); len(strings.Fields(out)) != 3 {
		t.Fatalf("Gerrit's submit did not make a merge commit: %s", out)
	}
	g.waitDeployed(project, "prod", m)

	// An evil merge: parents (M, S), tree = M's tree plus a file no change
	// brought. It brings in no new commit, so only its content is wrong.
	repo := sim.repoDir()
	sideSHA := side.CurrentRevision
	index := filepath.Join(t.TempDir(), "index")
	env := []string{"GIT_INDEX_FILE=" + index}
	steps := [][]string{{"--git-dir", repo, "read-tree", m}}
	for _, s := range steps {
		if out, err := gitEnv(t, "", env, s...); err != nil {
			t.Fatal(out)
		}
	}
	blobFile := filepath.Join(t.TempDir(), "evil")
	os.WriteFile(blobFile, []byte("replicas: 0\n"), 0o644)
	blob, err := gitEnv(t, "", env, "--git-dir", repo, "hash-object", "-w", blobFile)
	if err != nil {
		t.Fatal(blob)
	}
	if out, err := gitEnv(t, "", env, "--git-dir", repo, "update-index", "--add", "--cacheinfo", "100644,"+strings.TrimSpace(blob)+",evil.yaml"); err != nil {
		t.Fatal(out)
	}
	tree, err := gitEnv(t, "", env, "--git-dir", repo, "write-tree")
	if err != nil {
		t.Fatal(tree)
	}
	evil, err := git(t, "", "--git-dir", repo, "commit-tree", strings.TrimSpace(tree), "-p", m, "-p", sideSHA, "-m", "Merge \"S: side change\"")
	if err != nil {
		t.Fatal(evil)
	}
	evil = strings.TrimSpace(evil)
	if out, err := git(t, "", "--git-dir", repo, "update-ref", "refs/heads/main", evil); err != nil {
		t.Fatal(out)
	}
	after := sim.mergeApproved("F: approved, after the evil merge")
	g.settle()
	if got := g.deployed(project, "prod"); got != m {
		t.Fatalf("deploy/prod = %s, want it to stay at the clean merge %s (evil %s, F %s)", got, m, evil, after)
	}
	st := g.env(project, "prod")
	if st.Decision == nil || st.Decision.BlockedAt != evil || !strings.Contains(st.Message, "clean merge") {
		t.Errorf("status = %+v, want blocked at the evil merge", st)
	}
}

// One policy entry with a project pattern gates every matching project.
func TestProjectPattern(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	if err := sim.srv.CreateProject("platform/infra", "MERGE_IF_NECESSARY",
		gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())); err != nil {
		t.Fatal(err)
	}
	if err := sim.srv.CreateProject("other/app", ""); err != nil {
		t.Fatal(err)
	}
	policy := strings.Replace(reviewedPolicy, "project: platform/fleet", "project: platform/*", 1)
	g := startGate(t, sim.setup(policy))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	infraHead, _ := sim.srv.BranchTip("platform/infra", "main")
	g.waitDeployed("platform/infra", "prod", infraHead)
	if got := g.deployed("other/app", "prod"); got != "" {
		t.Errorf("other/app is served at %s though no pattern matches it", got)
	}
}

// Gerrit merges without rename detection (JGit), so these submits make
// merge commits git merge-tree would call conflicts; the simulated Gerrit
// merges the same way, and the gate deploys them.
func TestRenameBlindMergesDeploy(t *testing.T) {
	for _, tt := range []struct {
		name   string
		setup  map[string]string
		first  gerrittest.ChangeInput
		second gerrittest.ChangeInput
	}{
		{
			name:   "one change deletes a file another moves",
			setup:  map[string]string{"apps/a.yaml": "a: 1\n"},
			first:  gerrittest.ChangeInput{Subject: "X: drop a", Delete: []string{"apps/a.yaml"}},
			second: gerrittest.ChangeInput{Subject: "Y: move a to b", Delete: []string{"apps/a.yaml"}, Files: map[string]string{"apps/b.yaml": "a: 1\n"}},
		},
		{
			name:   "one change renames a directory another adds to",
			setup:  map[string]string{"old/x.yaml": "x: 1\n"},
			first:  gerrittest.ChangeInput{Subject: "X: old/ is now new/", Delete: []string{"old/x.yaml"}, Files: map[string]string{"new/x.yaml": "x: 1\n"}},
			second: gerrittest.ChangeInput{Subject: "Y: add old/y", Files: map[string]string{"old/y.yaml": "y: 1\n"}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, "MERGE_IF_NECESSARY")
			g := startGate(t, sim.setup(reviewedPolicy))
			base := sim.mergeApprovedFiles("setup", tt.setup)
			g.waitDeployed(project, "prod", base)
			var numbers []int
			for _, in := range []gerrittest.ChangeInput{tt.first, tt.second} {
				in.Project, in.Branch, in.Owner, in.Parent = project, "main", sim.alice, base
				ch, err := sim.srv.CreateChange(in)
				sim.must(err)
				sim.must(sim.srv.Vote(ch.Number, sim.bob, "Code-Review", 2))
				sim.must(sim.srv.Vote(ch.Number, sim.carol, "Verified", 1))
				numbers = append(numbers, ch.Number)
			}
			x := sim.submit(numbers[0])
			m := sim.submit(numbers[1])
			if err := mergeTreeConflicts(t, sim.repoDir(), x, m+"^2"); err != nil {
				t.Fatalf("premise: %v", err)
			}
			g.waitDeployed(project, "prod", m)
		})
	}
}

// mergeTreeConflicts is the premise of the rename-blind merge tests: C
// git's merge-tree, even with merge.renames=false (ort ignores it), calls
// the merge of a and b in the repository gitDir a conflict, which is why
// the gate merges with internal/gitmerge. It returns nil only when
// merge-tree exits 1 (conflicts) and names a CONFLICT; any other exit,
// a clean merge or an error (a bad revision), is the error returned.
func mergeTreeConflicts(t testing.TB, gitDir, a, b string) error {
	t.Helper()
	out, err := git(t, "", "--git-dir", gitDir, "-c", "merge.renames=false", "merge-tree", "--write-tree", a, b)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return fmt.Errorf("git merge-tree should call the merge of %s and %s a conflict; it merged cleanly:\n%s", a, b, out)
	case !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "CONFLICT ("):
		return fmt.Errorf("git merge-tree should call the merge of %s and %s a conflict (exit 1, a CONFLICT line); it said: %v\n%s", a, b, err, out)
	}
	return nil
}
