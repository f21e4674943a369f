package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	fluxgit "github.com/fluxcd/pkg/git"
	"github.com/fluxcd/pkg/git/gogit"
	"github.com/fluxcd/pkg/git/repository"
	gogitrepo "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// auditKey makes a signing key with `gerritgate key new` in dir and
// returns the private key's path and the public key's.
func auditKey(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	useBinary(t)
	priv := filepath.Join(dir, name+".asc")
	out, err := exec.Command(binary, "key", "new", "--out", priv).Output()
	if err != nil {
		t.Fatalf("gerritgate key new: %v", err)
	}
	pub := filepath.Join(dir, name+".pub.asc")
	if err := os.WriteFile(pub, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func signedSetup(sim *sim, key string) gateSetup {
	s := sim.setup(reviewedPolicy)
	s.extra = fmt.Sprintf("audit:\n  signingKey: %s\n", key)
	return s
}

// gerritgateVerify runs `gerritgate verify` and returns its output and
// whether it passed.
func gerritgateVerify(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"verify"}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// stockVerify checks every audit commit and the tag with C git and gpg,
// as docs/audit.md tells an auditor to; it returns the first failure.
func stockVerify(t *testing.T, clone, pub string) error {
	t.Helper()
	home := t.TempDir()
	env := []string{"GNUPGHOME=" + home}
	if out, err := exec.Command("gpg", "--homedir", home, "--batch", "--quiet", "--import", pub).CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	list, err := git(t, clone, "rev-list", "origin/audit/prod")
	if err != nil {
		t.Fatal(list)
	}
	for _, sha := range strings.Fields(list) {
		if out, err := gitEnv(t, clone, env, "verify-commit", sha); err != nil {
			return fmt.Errorf("git verify-commit %s: %v\n%s", sha[:12], err, out)
		}
	}
	if out, err := gitEnv(t, clone, env, "verify-tag", "gerritgate/prod"); err != nil {
		return fmt.Errorf("git verify-tag gerritgate/prod: %v\n%s", err, out)
	}
	return nil
}

// Issue 11, done-means 1: a C git clone of the served repository verifies
// with stock git and with gerritgate verify; a changed record, a dropped
// one, or a record signed by another key fails both.
func TestAuditTrailVerifiesOffline(t *testing.T) {
	keys := t.TempDir()
	key, pub := auditKey(t, keys, "gate")
	otherKey, _ := auditKey(t, keys, "other")
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, signedSetup(sim, key))
	g.waitDeployed(project, "prod", sim.head()) // record 1: from the root
	a := sim.mergeApproved("A: add podinfo")
	g.waitDeployed(project, "prod", a) // record 2
	cChange, c := sim.mergeUnapproved("C: not yet")
	g.settle()
	sim.approve(cChange)
	g.waitDeployed(project, "prod", c) // record 3
	url := g.url + "/" + project + ".git"

	clone := func() string { return g.cloneServed(t, project) }
	dir := clone()
	if err := stockVerify(t, dir, pub); err != nil {
		t.Fatalf("stock git rejects the real trail: %v", err)
	}
	out, ok := gerritgateVerify(t, dir, "--key", pub, "--recheck")
	if !ok || strings.Count(out, "rechecked") != 3 || !strings.Contains(out, "ok: ") {
		t.Fatalf("gerritgate verify of the real trail (want 3 rechecked records):\n%s", out)
	}
	if out, ok := gerritgateVerify(t, url, "--key", pub, "--json"); !ok || !strings.Contains(out, `"auditCommit"`) {
		t.Fatalf("gerritgate verify <URL> --json:\n%s", out)
	}

	other, err := audit.LoadSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what   string
		tamper func(st *gogitrepo.Repository, trail []*object.Commit) plumbing.Hash // returns the new audit tip
		stock  bool                                                                 // stock git can tell
		want   string
	}{
		{"one record changed", func(r *gogitrepo.Repository, trail []*object.Commit) plumbing.Hash {
			rec := readRecord(t, trail[2])
			rec.Commits[0].Submitter = "alice"
			return rewrite(t, r, rec, trail[1].Hash, nil)
		}, true, "not signed"},
		{"the middle record dropped", func(r *gogitrepo.Repository, trail []*object.Commit) plumbing.Hash {
			c := *trail[2]
			c.ParentHashes = []plumbing.Hash{trail[0].Hash} // signature kept
			return store(t, r, &c)
		}, true, "bad signature"},
		{"the last record dropped", func(r *gogitrepo.Repository, trail []*object.Commit) plumbing.Hash {
			return trail[1].Hash
		}, false, "a movement is not recorded"},
		{"the last record signed by another key", func(r *gogitrepo.Repository, trail []*object.Commit) plumbing.Hash {
			return rewrite(t, r, readRecord(t, trail[2]), trail[1].Hash, other)
		}, true, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			dir := clone()
			r, err := gogitrepo.PlainOpen(dir)
			if err != nil {
				t.Fatal(err)
			}
			tip := tt.tamper(r, auditTrail(t, r))
			if out, err := git(t, dir, "update-ref", "refs/remotes/origin/audit/prod", tip.String()); err != nil {
				t.Fatal(out)
			}
			if err := stockVerify(t, dir, pub); tt.stock && err == nil {
				t.Errorf("stock git accepts a trail with %s", tt.what)
			}
			out, ok := gerritgateVerify(t, dir, "--key", pub)
			if ok || !strings.Contains(out, tt.want) {
				t.Errorf("gerritgate verify of a trail with %s: ok=%v, want a failure saying %q:\n%s", tt.what, ok, tt.want, out)
			}
		})
	}
}

// auditTrail returns the audit commits of origin/audit/prod, oldest first.
func auditTrail(t *testing.T, r *gogitrepo.Repository) []*object.Commit {
	t.Helper()
	ref, err := r.Reference("refs/remotes/origin/audit/prod", true)
	if err != nil {
		t.Fatal(err)
	}
	var out []*object.Commit
	for h := ref.Hash(); !h.IsZero(); {
		c, err := r.CommitObject(h)
		if err != nil {
			t.Fatal(err)
		}
		out = append([]*object.Commit{c}, out...)
		h = plumbing.ZeroHash
		if len(c.ParentHashes) > 0 {
			h = c.ParentHashes[0]
		}
	}
	if len(out) != 3 {
		t.Fatalf("audit/prod has %d records, want 3", len(out))
	}
	return out
}

func readRecord(t *testing.T, c *object.Commit) *audit.Record {
	t.Helper()
	f, err := c.File(audit.RecordFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Contents()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audit.DecodeRecord([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func rewrite(t *testing.T, r *gogitrepo.Repository, rec *audit.Record, parent plumbing.Hash, s *audit.Signer) plumbing.Hash {
	t.Helper()
	h, err := audit.Write(r.Storer, rec, parent, s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func store(t *testing.T, r *gogitrepo.Repository, c *object.Commit) plumbing.Hash {
	t.Helper()
	obj := r.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := r.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Issue 11, done-means 4 (the tag): Flux's own code clones
// spec.ref.tag gerritgate/prod and verifies it as source-controller does
// for verify.mode Tag: the service's key accepts it, another key does
// not, and a tag forged with another key is rejected.
func TestFluxVerifiesSignedTag(t *testing.T) {
	keys := t.TempDir()
	key, pub := auditKey(t, keys, "gate")
	otherKey, otherPub := auditKey(t, keys, "other")
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, signedSetup(sim, key))
	a := sim.mergeApproved("A: add podinfo")
	g.waitDeployed(project, "prod", a)
	url := g.url + "/" + project + ".git"
	keyring := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	c, err := fluxCloneTag(t, url, audit.TagName("prod"))
	if err != nil {
		t.Fatalf("flux clone of tag %s: %v", audit.TagName("prod"), err)
	}
	if c.Hash.String() != a || c.ReferencingTag == nil {
		t.Fatalf("flux cloned %s (tag %v), want the deployed %s through the annotated tag", c.Hash, c.ReferencingTag, a)
	}
	if _, err := c.ReferencingTag.Verify(keyring(pub)); err != nil {
		t.Fatalf("Flux rejects the service's tag with the service's key: %v", err)
	}
	if _, err := c.ReferencingTag.Verify(keyring(otherPub)); err == nil {
		t.Fatal("Flux accepts the service's tag with another key")
	}
	if !strings.Contains(c.ReferencingTag.Message, "Approved by policy reviewed") {
		t.Errorf("tag message %q does not summarise the approval", c.ReferencingTag.Message)
	}

	// Someone with write access to the served repository forges the tag
	// with another key: Flux refuses it.
	g.stop()
	served, err := gogitrepo.PlainOpen(filepath.Join(g.dir, "data", "served", project+".git"))
	if err != nil {
		t.Fatal(err)
	}
	auditTip, err := served.Reference(plumbing.ReferenceName(audit.Ref("prod")), true)
	if err != nil {
		t.Fatal(err)
	}
	tip, _ := served.CommitObject(auditTip.Hash())
	rec := readRecord(t, tip)
	other, err := audit.LoadSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := audit.WriteTag(served.Storer, rec, other)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := git(t, "", "--git-dir", filepath.Join(g.dir, "data", "served", project+".git"), "update-ref", audit.TagRef("prod"), forged.String()); err != nil {
		t.Fatal(out)
	}
	g.start()
	c, err = fluxCloneTag(t, url, audit.TagName("prod"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReferencingTag.Verify(keyring(pub)); err == nil {
		t.Fatal("Flux accepts a tag signed by another key")
	}
}

// fluxCloneTag clones a tag as source-controller does for a GitRepository
// with spec.ref.tag.
func fluxCloneTag(t *testing.T, url, tag string) (*fluxgit.Commit, error) {
	t.Helper()
	client, err := gogit.NewClient(t.TempDir(), &fluxgit.AuthOptions{Transport: fluxgit.HTTP}, gogit.WithDiskStorage())
	if err != nil {
		return nil, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return client.Clone(ctx, url, repository.CloneConfig{CheckoutStrategy: repository.CheckoutStrategy{Tag: tag}, ShallowClone: true})
}

// Records of an owners policy carry the changed files and the group
// members the gate read; recheck decides again with them (and the files
// git computes) and agrees.
func TestAuditRecheckOwners(t *testing.T) {
	key, pub := auditKey(t, t.TempDir(), "gate")
	sim := newSim(t, "MERGE_IF_NECESSARY")
	_, err := sim.srv.AddGroup("sre", gerrittest.Members(sim.bob), gerrittest.VisibleToAll())
	sim.must(err)
	setup := signedSetup(sim, key)
	setup.policy = ownersPolicy
	g := startGate(t, setup)
	g.waitDeployed(project, "prod", sim.head())
	a := sim.mergeApprovedFiles("A: add apps", map[string]string{"apps/podinfo.yaml": "replicas: 2\n", "README": "x\n"})
	g.waitDeployed(project, "prod", a)

	dir := g.cloneServed(t, project)
	out, ok := gerritgateVerify(t, dir, "--key", pub, "--recheck")
	if !ok || strings.Count(out, "rechecked") != 2 {
		t.Fatalf("gerritgate verify --recheck under an owners policy (want 2 rechecked records):\n%s", out)
	}
	rec := readRecordAt(t, dir, "origin/audit/prod")
	files := slices.Sorted(slices.Values(rec.Evidence.Files[a]))
	if !slices.Equal(files, []string{"README", "apps/podinfo.yaml"}) {
		t.Errorf("recorded files of A = %v", files)
	}
	if members := rec.Evidence.Groups["sre"]; len(members) != 1 || members[0].Username != "bob" {
		t.Errorf("recorded members of sre = %+v, want bob", members)
	}
}

func readRecordAt(t *testing.T, dir, rev string) *audit.Record {
	t.Helper()
	out, err := git(t, dir, "show", rev+":"+audit.RecordFile)
	if err != nil {
		t.Fatal(out)
	}
	rec, err := audit.DecodeRecord([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
