//go:build realgerrit

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Which votes count, against a real Gerrit: who wrote the reviewed code
// (uploaders of reworks, not of rebases), vetoes Gerrit stopped listing,
// and which merge messages Gerrit itself wrote (docs/gerrit.md).

// revisionsInfo is what these scenarios check of a change's patch sets and
// messages.
type revisionsInfo struct {
	Submitted string `json:"submitted"`
	Submitter struct {
		ID int `json:"_account_id"`
	} `json:"submitter"`
	Revisions map[string]struct {
		Number   int    `json:"_number"`
		Kind     string `json:"kind"`
		Uploader struct {
			Username string `json:"username"`
		} `json:"uploader"`
		Commit struct {
			Author struct {
				Email string `json:"email"`
			} `json:"author"`
		} `json:"commit"`
	} `json:"revisions"`
	Messages []struct {
		Author struct {
			ID       int    `json:"_account_id"`
			Username string `json:"username"`
		} `json:"author"`
		RealAuthor *struct {
			ID int `json:"_account_id"`
		} `json:"real_author"`
		Date    string `json:"date"`
		Tag     string `json:"tag"`
		Message string `json:"message"`
	} `json:"messages"`
}

func (r *realGerrit) revisions(c change) revisionsInfo {
	r.t.Helper()
	var ri revisionsInfo
	r.must(gateU, http.MethodGet, c.path()+"?o=ALL_REVISIONS&o=ALL_COMMITS&o=MESSAGES&o=DETAILED_ACCOUNTS", nil, &ri)
	return ri
}

// patchSet returns patch set n of ri, failing when there is none.
func (ri revisionsInfo) patchSet(t *testing.T, n int) (sha, kind, uploader, authorEmail string) {
	t.Helper()
	for sha, rev := range ri.Revisions {
		if rev.Number == n {
			return sha, rev.Kind, rev.Uploader.Username, rev.Commit.Author.Email
		}
	}
	t.Fatalf("no patch set %d in %+v", n, ri.Revisions)
	return "", "", "", ""
}

// amend makes user amend rev (keeping its git author) with a file of
// their own and push the result as a new patch set of its change; it
// returns the new commit.
func (w *workspace) amend(user, rev, content string) string {
	w.t.Helper()
	w.git(user, "fetch", "-q", "origin", "+refs/changes/*:refs/remotes/origin/changes/*")
	w.git(user, "checkout", "-q", "--detach", rev)
	w.n++
	file := fmt.Sprintf("clusters/prod/%s-%d.yaml", user, w.n)
	if err := os.MkdirAll(filepath.Join(w.dir, "clusters", "prod"), 0o755); err != nil {
		w.t.Fatal(err)
	}
	writeFile(w.t, filepath.Join(w.dir, file), content)
	w.git(user, "add", file)
	w.git(user, "commit", "-q", "--amend", "--no-edit")
	w.git(user, "push", "-q", "origin", "HEAD:refs/for/main")
	return w.git(user, "rev-parse", "HEAD")
}

// Issue 8, item 3: alice (a reviewer) adds her own image: line to carol's
// change as patch set 2, carol reworks it into patch set 3 keeping it, and
// alice +2s patch set 3. The git author stays carol throughout, so only
// the uploader of the earlier rework ties alice to the code: her vote must
// not count. bob's +2 after submit approves it.
func TestRealGerritReworkChainSelfApproval(t *testing.T) {
	r, _, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")

	c := w.upload(base, "C: podinfo")
	w.amend(alice, c.sha, "image: alice/own:1\n")
	ps2, _, _, _ := r.revisions(c).patchSet(t, 2)
	w.amend(carol, ps2, "replicas: 2\n")
	ri := r.revisions(c)
	for n, want := range map[int]string{2: alice, 3: carol} {
		_, kind, up, author := ri.patchSet(t, n)
		if kind != "REWORK" || up != want || author != carol+"@example.com" {
			t.Fatalf("premise: patch set %d should be a REWORK uploaded by %s with git author carol; got %s by %s, author %s", n, want, kind, up, author)
		}
	}
	r.approve(c) // alice +2, bob Verified +1, on patch set 3
	blockedUntilBobApproves(t, r, g, base, c, "alice +2 (not counted: uploader of patch set 2 (REWORK), whose code the reviewed patch set 3 may carry")
}

// blockedUntilBobApproves submits c, checks that deploy/prod stays at base
// with a status saying says, then has bob +2 c after submit and waits for
// it to deploy.
func blockedUntilBobApproves(t *testing.T, r *realGerrit, g *gateProc, base string, c change, says string) {
	t.Helper()
	tip := r.submit(c)
	st := stays(t, g, c.project, base, tip)
	if !strings.Contains(st.Message, says) {
		t.Errorf("status message %q does not say %q", st.Message, says)
	}
	r.mustVote(bob, c, map[string]int{"Code-Review": 2})
	g.waitDeployed(c.project, "prod", tip)
}

// Issue 8, item 10: uploaders of code-preserving patch sets wrote no code.
// A reviewer who presses Rebase (REST, default mode: the reviewer becomes
// the uploader of a TRIVIAL_REBASE) and then votes counts; so does the
// submitter's vote after a REBASE_ALWAYS or CHERRY_PICK submit, cast on
// the patch set that submit wrote.
func TestRealGerritCodePreservingUploaders(t *testing.T) {
	t.Run("Rebase", func(t *testing.T) {
		r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")

		first := w.upload(base, "A: lands first")
		c := w.upload(base, "C: rebased by its reviewer")
		r.approve(first)
		r.submit(first)
		r.must(alice, http.MethodPost, c.path()+"/rebase", map[string]any{}, nil)
		if _, kind, up, _ := r.revisions(c).patchSet(t, 2); kind != "TRIVIAL_REBASE" || up != alice {
			t.Fatalf("premise: alice's Rebase should make patch set 2 a TRIVIAL_REBASE she uploaded; got %s by %s", kind, up)
		}
		r.approve(c) // alice +2 on patch set 2
		tip := r.submit(c)
		g.waitDeployed(p, "prod", tip)
	})
	for _, submitType := range []string{"REBASE_ALWAYS", "CHERRY_PICK"} {
		t.Run(submitType, func(t *testing.T) {
			r, p, w, base, g := gatedProject(t, submitType)
			// +1 submits here; the gate's policy asks +2.
			r.setCodeReviewRequirement(p, "label:Code-Review>=1 AND -label:Code-Review=MIN")

			c := w.upload(base, "C: submitted with +1")
			r.mustVote(alice, c, map[string]int{"Code-Review": 1})
			r.mustVote(bob, c, map[string]int{"Verified": 1})
			tip := r.submit(c)
			sha, kind, up, _ := r.revisions(c).patchSet(t, 2)
			if sha != tip || up != bob || (kind != "TRIVIAL_REBASE" && kind != "TRIVIAL_REBASE_WITH_MESSAGE_UPDATE" && kind != "NO_CODE_CHANGE") {
				t.Fatalf("premise: the %s submit should write patch set 2 = tip %s, a code-preserving kind uploaded by bob; got %s (%s by %s)", submitType, tip, sha, kind, up)
			}
			stays(t, g, p, base, tip)
			r.mustVote(bob, c, map[string]int{"Code-Review": 2}) // after submit, on patch set 2
			g.waitDeployed(p, "prod", tip)
		})
	}
}

// Issue 8, item 6: any registered user can post a review tagged
// autogenerated:gerrit:merged saying "successfully pushed"; Gerrit stores
// it as "Patch Set N:\n\n..." by that user. It must not make a submitted
// change look merged by push, and the converse forgery ("successfully
// merged" on a change merged by push) must not make that one look
// submitted.
func TestRealGerritForgedMergeMessages(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")

	forge := func(c change, text string) {
		t.Helper()
		r.must(pusher, http.MethodPost, c.path()+"/revisions/current/review",
			map[string]any{"message": text, "tag": "autogenerated:gerrit:merged", "notify": "NONE"}, nil)
	}
	a := w.upload(base, "A: submitted, then a forged push message")
	r.approve(a)
	ta := r.submit(a)
	forge(a, "Change has been successfully pushed.")
	ri := r.revisions(a)
	var own, forged int
	for _, m := range ri.Messages {
		if m.Tag != "autogenerated:gerrit:merged" {
			continue
		}
		switch {
		case m.Message == "Change has been successfully merged" && m.Author.Username == bob && m.Author.ID == ri.Submitter.ID && m.RealAuthor == nil:
			own++
			t.Logf("Gerrit's merge message dated %s, change submitted %s", m.Date, ri.Submitted)
		case m.Message == "Patch Set 1:\n\nChange has been successfully pushed." && m.Author.Username == pusher && m.RealAuthor == nil:
			forged++
		default:
			t.Errorf("unexpected merge-tagged message %+v", m)
		}
	}
	if own != 1 || forged != 1 {
		t.Fatalf("premise (docs/gerrit.md): Gerrit's own merge message by the submitter at the submit time, and the forged one prefixed \"Patch Set 1:\"; got %+v", ri.Messages)
	}
	g.waitDeployed(p, "prod", ta)

	b := w.upload(ta, "B: merged by push, then a forged submit message")
	r.approve(b)
	w.pushDirect(b.sha)
	forge(b, "Change has been successfully merged")
	st := stays(t, g, p, ta, b.sha)
	if !strings.Contains(st.Message, "merged by a direct push") {
		t.Errorf("status message %q does not say B was merged by push", st.Message)
	}
}

// Issue 8, items 1 and 2: a veto on a label the change does not report
// (here a typo) fails closed; a -2 that admin deleted no longer vetoes; a
// Verified -1 on patch set 1, which the label's copy condition drops from
// the reworked patch set 2, still vetoes.
func TestRealGerritVetoesFailClosed(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	w := r.workspace(p)
	base := r.tip(p)
	g := startGate(t, gateSetup{
		gerritURL: r.url, username: r.env["GERRIT_GATE_USER"], password: r.env["GERRIT_GATE_PASSWORD"],
		policy: fmt.Sprintf(`repos:
  - project: %s
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
      - {name: typo, policy: typo, baseline: upstream}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
    vetoes: {Code-Review: -2, Verified: -1}
  typo:
    extends: reviewed
    vetoes: {Verifed: -1}
`, p),
	})
	g.waitDeployed(p, "prod", base)
	g.waitDeployed(p, "typo", base)

	a := w.upload(base, "A: approved")
	r.approve(a)
	ta := r.submit(a)
	g.waitDeployed(p, "prod", ta)
	g.settle() // typo is reconciled after prod: let its poll finish
	if got := g.deployed(p, "typo"); got != base {
		t.Fatalf("deploy/typo = %s, want it to stay at %s: the policy vetoes a label Gerrit does not have", got, base)
	}
	if st := g.env(p, "typo"); !strings.Contains(st.Message, "Gerrit reports no label Verifed on change") {
		t.Errorf("typo status message %q does not name the missing label", st.Message)
	}

	// A -2 that admin (Remove Reviewer) deletes vetoes no more; the owner
	// may not delete it.
	c := w.upload(ta, "C: vetoed, the veto deleted")
	r.mustVote(pusher, c, map[string]int{"Code-Review": -2})
	if err := r.call(carol, http.MethodPost, c.path()+"/reviewers/pusher/votes/Code-Review/delete", map[string]any{}, nil); err == nil {
		t.Fatal("premise: the change owner should not be allowed to delete another account's -2")
	}
	r.must(admin, http.MethodPost, c.path()+"/reviewers/pusher/votes/Code-Review/delete", map[string]any{}, nil)
	r.approve(c)
	tc := r.submit(c)
	g.waitDeployed(p, "prod", tc)

	b := w.upload(tc, "B: vetoed on patch set 1")
	r.mustVote(pusher, b, map[string]int{"Verified": -1})
	w.amend(carol, b.sha, "fixed: true\n")
	var labels struct {
		Labels map[string]struct {
			All []struct {
				Username string `json:"username"`
				Value    int    `json:"value"`
			} `json:"all"`
		} `json:"labels"`
	}
	r.must(gateU, http.MethodGet, b.path()+"?o=DETAILED_LABELS&o=DETAILED_ACCOUNTS", nil, &labels)
	for _, v := range labels.Labels["Verified"].All {
		if v.Username == pusher && v.Value != 0 {
			t.Fatalf("premise: Verified's copy condition should drop pusher's -1 from the reworked patch set 2; labels %+v", labels.Labels["Verified"])
		}
	}
	r.approve(b)
	tb := r.submit(b)
	st := stays(t, g, p, tc, tb)
	if !strings.Contains(st.Message, "Verified -1 by pusher (on patch set 1, not replaced by that voter since)") {
		t.Errorf("status message %q does not name pusher's veto on patch set 1", st.Message)
	}
}

// Gerrit accepts a vote on an outdated patch set (before and after merge,
// when it does not lower a vote), and it does not touch the vote on the
// current one: alice's +2 on patch set 2, then another +2 on the outdated
// patch set 1, still approves patch set 2.
func TestRealGerritOutdatedPatchSetVote(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")
	c := w.upload(base, "C: reworked once")
	w.amend(carol, c.sha, "replicas: 3\n")
	r.approve(c) // alice +2 and bob Verified +1 on patch set 2
	r.must(alice, http.MethodPost, c.path()+"/revisions/1/review", map[string]any{"labels": map[string]int{"Code-Review": 2}, "notify": "NONE"}, nil)
	ri := r.revisions(c)
	last := ri.Messages[len(ri.Messages)-1]
	if last.Author.Username != alice || last.Message != "Patch Set 1: Code-Review+2" {
		t.Fatalf("premise: Gerrit should record alice's vote on the outdated patch set 1; last message %+v", last)
	}
	tip := r.submit(c)
	g.waitDeployed(p, "prod", tip)
}
