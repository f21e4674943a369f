package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// The gate fetches from Gerrit over SSH with a key and a pinned host key.
func TestMirrorOverSSH(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY", gerrittest.WithSSH("127.0.0.1:0"))
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "gate")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	registerSecret(string(pem.EncodeToMemory(block)))
	if err := sim.srv.AddSSHKey("gate", ssh.MarshalAuthorizedKey(sshPub)); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, gateSetup{
		gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy,
		gitURL: "ssh://gate@" + sim.srv.SSHAddr(),
		sshKey: pem.EncodeToMemory(block), knownHosts: sim.srv.KnownHosts(),
	})
	a := sim.mergeApproved("A over ssh")
	g.waitDeployed(project, "prod", a)
}

// A wrong pinned host key stops the fetch: nothing is deployed from an
// impostor.
func TestMirrorOverSSHRefusesUnknownHostKey(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY", gerrittest.WithSSH("127.0.0.1:0"))
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "gate")
	sshPub, _ := ssh.NewPublicKey(priv.Public())
	sim.srv.AddSSHKey("gate", ssh.MarshalAuthorizedKey(sshPub))
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(otherPub)
	host := "[" + strings.Replace(sim.srv.SSHAddr(), ":", "]:", 1)
	g := startGate(t, gateSetup{
		gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy,
		gitURL: "ssh://gate@" + sim.srv.SSHAddr(),
		sshKey: pem.EncodeToMemory(block), knownHosts: host + " " + string(ssh.MarshalAuthorizedKey(other)),
	})
	g.settle()
	st := g.env(project, "prod")
	if st.Reason != "Failed" || !strings.Contains(st.Message, "key") {
		t.Errorf("status = %+v, want Failed with a host key error", st)
	}
	if got := g.deployed(project, "prod"); got != "" {
		t.Errorf("deploy/prod = %s, want nothing served", got)
	}
}

// Only branches and tags are mirrored; an upstream branch called deploy/*
// never becomes, or moves, a served ref.
func TestMirrorKeepsChangesAndDeployBranchesOut(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	if err := sim.srv.CreateBranch(project, "deploy/prod", a); err != nil {
		t.Fatal(err)
	}
	evil, err := sim.srv.DirectPush(project, "deploy/prod", sim.carol, "evil on upstream deploy/prod", map[string]string{"x": "y"})
	if err != nil {
		t.Fatal(err)
	}
	sim.create("open change", nil) // lives under refs/changes/ in Gerrit
	g.settle()
	if got := g.deployed(project, "prod"); got != a {
		t.Fatalf("deploy/prod = %s, want %s (upstream deploy/prod is %s)", got, a, evil)
	}
	up := filepath.Join(g.dir, "data", "upstream", project+".git")
	refs, _ := git(t, "", "--git-dir", up, "for-each-ref", "--format=%(refname)")
	for _, r := range strings.Fields(refs) {
		if strings.HasPrefix(r, "refs/changes/") || strings.HasPrefix(r, "refs/meta/") {
			t.Errorf("mirrored %s", r)
		}
	}
	if !strings.Contains(refs, "refs/heads/deploy/prod") {
		t.Errorf("upstream deploy/prod branch not mirrored at all (test would be vacuous): %s", refs)
	}
	served, _ := git(t, "", "ls-remote", g.url+"/"+project+".git")
	if strings.Contains(served, evil) {
		t.Errorf("served refs include the upstream deploy branch's commit:\n%s", served)
	}
}

// While Gerrit is down nothing moves; when it is back the gate resumes by
// itself.
func TestGerritOutageFailsClosedAndResumes(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	b := sim.mergeApproved("B, merged just before the outage")
	sim.srv.SetDown(true)
	g.settle()
	if got := g.deployed(project, "prod"); got != a && got != b {
		t.Fatalf("deploy/prod = %s", got)
	}
	st := g.env(project, "prod")
	if st.Reason != "Failed" {
		t.Errorf("status during outage = %+v, want Failed", st)
	}
	sim.srv.SetDown(false)
	g.waitDeployed(project, "prod", b)
}
