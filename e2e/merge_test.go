package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// A merge commit Gerrit made on submit deploys; a merge commit with content
// of its own (an evil merge) pushed past review does not.
func TestMergeCommits(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy})
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
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: policy})
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	infraHead, _ := sim.srv.BranchTip("platform/infra", "main")
	g.waitDeployed("platform/infra", "prod", infraHead)
	if got := g.deployed("other/app", "prod"); got != "" {
		t.Errorf("other/app is served at %s though no pattern matches it", got)
	}
}
