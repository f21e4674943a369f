package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

const latePolicy = lateFleetPolicy + `  - project: late/*
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
` + latePolicies

const lateFleetPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
  - project: platform/fleet
    branch: release
    environments:
      - {name: release, policy: reviewed, baseline: upstream}
`

const latePolicies = `policies:
  reviewed:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
`

// A project a glob matches only later (late/app: the glob is added by a
// policy edit; late/new: created in Gerrit after it), and a branch that
// appears only later, are decided from their roots: a direct push is not
// adopted as their baseline. late/new and the branch start at their
// reviewed (or empty) root; late/app, whose history starts with a direct
// push, waits (AwaitingBaseline) until an operator names a commit with
// gerritgate adopt, beside the running service, and the act is recorded
// in the served repository and logged.
func TestLateProjectAndBranchAreNotAdoptedUnchecked(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	// late/app exists before the glob that gates it: its history starts
	// with an import (as when a project is created without an empty
	// commit and pushed to).
	const late = "late/app"
	sim.must(sim.srv.CreateProject(late, "MERGE_IF_NECESSARY"))
	pushedOnEmpty, err := sim.srv.DirectPush(late, "main", sim.carol, "import the old repository", map[string]string{"app.yaml": "old"})
	sim.must(err)
	lateRepo := sim.srv.RepoDir(late)
	out, err := git(t, "", "--git-dir", lateRepo, "commit-tree", pushedOnEmpty+"^{tree}", "-m", "import the old repository")
	if err != nil {
		t.Fatal(out)
	}
	imported := strings.TrimSpace(out)
	if out, err := git(t, "", "--git-dir", lateRepo, "update-ref", "refs/heads/main", imported); err != nil {
		t.Fatal(out)
	}

	setup := sim.setup(lateFleetPolicy + latePolicies)
	// late/new is created after the glob is listed: listed again each
	// second, not after the default 5m (there is no event stream here).
	setup.gerritExtra = "  projectListInterval: 1s\n"
	g := startGate(t, setup)
	root := sim.head()
	g.waitDeployed(project, "prod", root)

	// A branch created later from reviewed history, then pushed to.
	sim.must(sim.srv.CreateBranch(project, "release", root))
	pushed, err := sim.srv.DirectPush(project, "release", sim.carol, "hotfix past review", map[string]string{"hotfix.yaml": "x"})
	sim.must(err)

	if err := os.WriteFile(filepath.Join(g.dir, "policy.yaml"), []byte(latePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "late/app to be gated", func() bool { return g.env(late, "prod").Reason != "" })

	// A project created after the glob, with Gerrit's empty root, then
	// pushed to past review.
	const created = "late/new"
	sim.must(sim.srv.CreateProject(created, "MERGE_IF_NECESSARY"))
	createdRoot, err := sim.srv.BranchTip(created, "main")
	sim.must(err)
	createdPush, err := sim.srv.DirectPush(created, "main", sim.carol, "pushed past review", map[string]string{"new.yaml": "x"})
	sim.must(err)

	g.waitDeployed(project, "release", root)
	g.waitDeployed(created, "prod", createdRoot)
	g.settle()
	if got := g.deployed(project, "release"); got != root {
		t.Errorf("deploy/release = %s, want %s: the push %s is not approved", got, root, pushed)
	}
	if got := g.deployed(created, "prod"); got != createdRoot {
		t.Errorf("deploy/prod of %s = %s, want its empty root %s: the push %s is not approved", created, got, createdRoot, createdPush)
	}
	if got := g.deployed(late, "prod"); got != "" && got != strings.Repeat("0", 40) {
		t.Errorf("deploy/prod of %s = %s, want none: its history starts with a direct push", late, got)
	}
	st := g.env(late, "prod")
	if st.Reason != "AwaitingBaseline" || !strings.Contains(st.Message, "gerritgate adopt") {
		t.Errorf("%s status = %s %q, want AwaitingBaseline naming the adopt command", late, st.Reason, st.Message)
	}

	cfg := filepath.Join(g.dir, "gerritgate.yaml")
	adoptOut, err := exec.Command(binary, "adopt", "--config", cfg, "--project", late, "--env", "prod",
		"--commit", imported, "--reason", "imported from the old repository, reviewed there (CHG-7)").CombinedOutput()
	if err != nil || !strings.Contains(string(adoptOut), "adopted") {
		t.Fatalf("adopt beside the running service: %v\n%s", err, adoptOut)
	}
	g.waitDeployed(late, "prod", imported)
	log, err := git(t, "", "--git-dir", filepath.Join(g.dir, "data", "served", late+".git"), "log", "-1", "--format=%B", "refs/gerritgate/adopted/prod")
	if err != nil || !strings.Contains(log, "CHG-7") || !strings.Contains(log, "By: ") {
		t.Errorf("adoption record: %v\n%s", err, log)
	}
	if !strings.Contains(g.log.String(), "operator adopted a commit") {
		t.Errorf("the service did not log the adoption:\n%s", g.log)
	}
	if m := g.metrics(); !strings.Contains(m, `gerritgate_gerrit_requests_total{op="query changes",outcome="ok"}`) {
		t.Errorf("metrics do not count Gerrit's REST calls:\n%s", grepLines(m, "gerritgate_gerrit_requests"))
	}
}

const acceptStablePolicy = `repos:
  - project: platform/fleet
    branch: main
    acceptFrom: [stable]
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
`

// A commit reviewed and merged on stable that reaches main through a
// reviewed merge of stable into main is reported as belonging to its stable change;
// with acceptFrom: [stable] it deploys when its stable change meets the
// policy too.
func TestCommitReviewedOnAnotherBranch(t *testing.T) {
	for _, accept := range []bool{false, true} {
		sim := newSim(t, "MERGE_IF_NECESSARY")
		policy := reviewedPolicy
		if accept {
			policy = acceptStablePolicy
		}
		g := startGate(t, sim.setup(policy))
		root := sim.head()
		g.waitDeployed(project, "prod", root)

		sim.must(sim.srv.CreateBranch(project, "stable", root))
		fix, err := sim.srv.CreateChange(gerrittest.ChangeInput{Project: project, Branch: "stable", Owner: sim.alice, Subject: "fix on stable", Files: map[string]string{"fix.yaml": "fix"}})
		sim.must(err)
		sim.must(sim.srv.Vote(fix.Number, sim.bob, "Code-Review", 2))
		sim.must(sim.srv.Vote(fix.Number, sim.carol, "Verified", 1))
		_, err = sim.srv.Submit(fix.Number, sim.bob)
		sim.must(err)
		fixSHA, err := sim.srv.BranchTip(project, "stable")
		sim.must(err)

		// A change of main built on stable's fix is an implicit merge,
		// refused as on Gerrit; a reviewed merge of stable brings it in.
		if _, err := sim.srv.CreateChange(gerrittest.ChangeInput{Project: project, Branch: "main", Owner: sim.alice, Subject: "implicit", Parent: fixSHA}); err == nil || !strings.Contains(err.Error(), "Implicit Merge") {
			t.Fatalf("premise: a change on main built on stable's commit: %v, want refused as an implicit merge", err)
		}
		up, err := sim.srv.CreateChange(gerrittest.ChangeInput{Project: project, Branch: "main", Owner: sim.alice, Subject: "Merge stable into main", Merge: fixSHA})
		sim.must(err)
		sim.must(sim.srv.Vote(up.Number, sim.bob, "Code-Review", 2))
		sim.must(sim.srv.Vote(up.Number, sim.carol, "Verified", 1))
		head := sim.submit(up.Number)

		if accept {
			g.waitDeployed(project, "prod", head)
			continue
		}
		g.settle()
		if got := g.deployed(project, "prod"); got != root {
			t.Errorf("without acceptFrom: deploy/prod = %s, want %s", got, root)
		}
		st := g.env(project, "prod")
		want := fmt.Sprintf("belongs to change %d on branch stable", fix.Number)
		if st.Decision == nil || st.Decision.BlockedAt != fixSHA || !strings.Contains(st.Message, want) {
			t.Errorf("without acceptFrom: status %s %q, want blocked at %s saying %q", st.Reason, st.Message, fixSHA, want)
		}
	}
}
