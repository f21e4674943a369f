package gerrittest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// fixture is a simulated Gerrit with people and a client logged in as the
// service account.
type fixture struct {
	t      *testing.T
	srv    *gerrittest.Server
	client *gerrit.Client
	alice  gate.Account // change owner
	bob    gate.Account // reviewer, submitter
	svc    gate.Account
	clock  time.Time
}

func newFixture(t *testing.T, opts ...gerrittest.Option) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	opts = append([]gerrittest.Option{gerrittest.WithClock(func() time.Time { return f.clock })}, opts...)
	srv, err := gerrittest.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f.srv = srv
	f.alice = srv.AddAccount("alice")
	f.bob = srv.AddAccount("bob")
	f.svc = srv.SetCredentials("gerritgate", "secret-pw")
	f.client, err = gerrit.New(srv.URL(), gerrit.WithBasicAuth("gerritgate", "secret-pw"), gerrit.WithPageSize(3))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) advance(d time.Duration) { f.clock = f.clock.Add(d) }

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) change(project, subject string, files map[string]string) gerrittest.Change {
	f.t.Helper()
	f.advance(time.Minute)
	c, err := f.srv.CreateChange(gerrittest.ChangeInput{Project: project, Owner: f.alice, Subject: subject, Files: files})
	f.must(err)
	return c
}

func (f *fixture) gateChange(project string, number int) gate.Change {
	f.t.Helper()
	ch, err := f.client.GateChange(context.Background(), project, number)
	f.must(err)
	return ch
}

func TestRoundTripApprovedChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("team/app", gerrittest.MergeIfNecessary))
	c := f.change("team/app", "Add feature", map[string]string{"feature.txt": "hello\n"})
	if !strings.HasPrefix(c.ChangeID, "I") || len(c.ChangeID) != 41 {
		t.Errorf("Change-Id = %q, want I + 40 hex", c.ChangeID)
	}
	if c.PatchSets[0].Ref != "refs/changes/01/1/1" {
		t.Errorf("ref = %s", c.PatchSets[0].Ref)
	}
	f.must(f.srv.AddReviewer(c.Number, f.svc))
	f.advance(time.Minute)
	f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", 2))
	f.advance(time.Minute)
	merged, err := f.srv.Submit(c.Number, f.bob)
	f.must(err)
	tip, _ := f.srv.BranchTip("team/app", "main")
	if tip != c.CurrentRevision || merged.CurrentRevision != tip {
		t.Errorf("fast-forward: tip %s, change %s, merged current %s", tip, c.CurrentRevision, merged.CurrentRevision)
	}

	got, err := f.client.ChangesForCommits(ctx, "team/app", "main", []string{tip, strings.Repeat("ab", 20)})
	f.must(err)
	if len(got) != 1 || len(got[tip]) != 1 {
		t.Fatalf("ChangesForCommits = %v", got)
	}
	ch := got[tip][0]
	if ch.Status != "MERGED" || ch.Number != 1 || ch.Project != "team/app" || ch.ChangeID != c.ChangeID ||
		ch.Submitter != f.bob || ch.Owner != f.alice || ch.Submitted.IsZero() || ch.CurrentRevision != tip {
		t.Errorf("change = %+v", ch)
	}
	rev := ch.Revisions[tip]
	if rev.Number != 1 || rev.Uploader != f.alice || rev.Kind != "REWORK" || len(rev.Parents) != 1 {
		t.Errorf("revision = %+v", rev)
	}
	// Merged: "all" lists those who voted (bob), not reviewers who did not.
	votes := ch.Labels["Code-Review"]
	if len(votes) != 1 || votes[0].Account != f.bob || votes[0].Value != 2 || votes[0].PostSubmit || votes[0].Date.IsZero() {
		t.Errorf("Code-Review votes = %+v", votes)
	}
	if len(ch.SubmitRequirements) != 1 || ch.SubmitRequirements[0] != (gate.SubmitRequirement{Name: "Code-Review", Status: "SATISFIED"}) {
		t.Errorf("submit requirements = %+v", ch.SubmitRequirements)
	}
	var texts []string
	for _, m := range ch.Messages {
		texts = append(texts, m.Message)
	}
	want := []string{"Uploaded patch set 1.", "Patch Set 1: Code-Review+2", "Change has been successfully merged"}
	if fmt.Sprint(texts) != fmt.Sprint(want) {
		t.Errorf("messages = %q, want %q", texts, want)
	}
	if ch.Messages[1].Author != f.bob || ch.Messages[1].RevisionNumber != 1 {
		t.Errorf("vote message = %+v", ch.Messages[1])
	}

	// Raw JSON details the client does not surface.
	ci, err := f.client.Change(ctx, "team/app", 1, gerrit.OptDetailedLabels, gerrit.OptCurrentRevision, gerrit.OptSubmitRequirements)
	f.must(err)
	l := ci.Labels["Code-Review"]
	if _, ok := l.Values[" 0"]; !ok || l.Approved == nil || l.Approved.ID != f.bob.ID || l.Approved.Name != "" {
		t.Errorf("label = %+v (want values key \" 0\", approved by bob without details)", l)
	}
	if r := l.All[0].PermittedVotingRange; r == nil || r.Min != 2 || r.Max != 2 {
		t.Errorf("post-submit permitted range of a +2 voter = %+v, want 2..2", r)
	}
	sr := ci.SubmitRequirements[0].SubmittabilityExpressionResult
	if sr == nil || !sr.Fulfilled || sr.Status != "PASS" || fmt.Sprint(sr.PassingAtoms) != "[label:Code-Review=MAX]" || fmt.Sprint(sr.FailingAtoms) != "[label:Code-Review=MIN]" {
		t.Errorf("submittability = %+v", sr)
	}
	if ci.ID != "team%2Fapp~1" || ci.SubmissionID == "" {
		t.Errorf("id %q, submission id %q", ci.ID, ci.SubmissionID)
	}
}

func TestOpenChangeLabelsAndRequirements(t *testing.T) {
	f := newFixture(t)
	f.must(f.srv.CreateProject("p", "", gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified()),
		gerrittest.WithRequirements(gerrittest.CodeReviewRequirement(), gerrittest.Requirement{
			Name: "Verified", Submittability: "label:Verified=MAX AND -label:Verified=MIN",
			Override: "label:Code-Review=+1",
		})))
	c := f.change("p", "Change", map[string]string{"a": "1"})
	f.must(f.srv.AddReviewer(c.Number, f.svc))
	f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", -2))
	ch := f.gateChange("p", c.Number)
	cr := ch.Labels["Code-Review"]
	// Open: reviewers without votes get 0 placeholders.
	if len(cr) != 2 || cr[1].Account.ID != f.bob.ID || cr[1].Value != -2 || cr[0].Account.ID != f.svc.ID || cr[0].Value != 0 {
		t.Errorf("Code-Review = %+v", cr)
	}
	want := []gate.SubmitRequirement{{Name: "Code-Review", Status: "UNSATISFIED"}, {Name: "Verified", Status: "UNSATISFIED"}}
	if fmt.Sprint(ch.SubmitRequirements) != fmt.Sprint(want) {
		t.Errorf("requirements = %+v, want %+v", ch.SubmitRequirements, want)
	}
	f.must(f.srv.Vote(c.Number, f.alice, "Code-Review", 1))
	ch = f.gateChange("p", c.Number)
	if ch.SubmitRequirements[1].Status != "OVERRIDDEN" {
		t.Errorf("Verified with override = %s, want OVERRIDDEN", ch.SubmitRequirements[1].Status)
	}

	f.srv.SetEnforceRequirements(true)
	if _, err := f.srv.Submit(c.Number, f.bob); err == nil || !strings.Contains(err.Error(), "submit requirement 'Code-Review' is unsatisfied") {
		t.Errorf("enforced submit of a -2 change: error = %v", err)
	}
}

func TestSubmitTypes(t *testing.T) {
	tests := []struct {
		submitType string
		// for the second change, based on the old tip after the first merged:
		wantErr     string
		wantMerge   bool // tip is a merge commit Gerrit wrote
		wantNewPS   bool // the change got a patch set 2 by the submitter
		wantFooters bool
		firstNewPS  bool // even the fast-forwardable first change got one
	}{
		{submitType: gerrittest.FastForwardOnly, wantErr: "fast-forward"},
		{submitType: gerrittest.MergeIfNecessary, wantMerge: true},
		{submitType: gerrittest.MergeAlways, wantMerge: true},
		{submitType: gerrittest.RebaseIfNecessary, wantNewPS: true},
		{submitType: gerrittest.RebaseAlways, wantNewPS: true, wantFooters: true, firstNewPS: true},
		{submitType: gerrittest.CherryPick, wantNewPS: true, wantFooters: true, firstNewPS: true},
	}
	for _, tt := range tests {
		t.Run(tt.submitType, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			project := "team/" + strings.ToLower(tt.submitType)
			f.must(f.srv.CreateProject(project, tt.submitType))
			base, _ := f.srv.BranchTip(project, "main")
			a := f.change(project, "First", map[string]string{"a.txt": "a\n"})
			b := f.change(project, "Second", map[string]string{"b.txt": "b\n"})
			for _, c := range []gerrittest.Change{a, b} {
				f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", 2))
			}
			f.advance(time.Minute)
			ma, err := f.srv.Submit(a.Number, f.bob)
			f.must(err)
			if got := len(ma.PatchSets) == 2; got != tt.firstNewPS {
				t.Errorf("first change has patch set 2: %v, want %v", got, tt.firstNewPS)
			}
			tipA, _ := f.srv.BranchTip(project, "main")
			if tt.submitType == gerrittest.MergeAlways {
				if tipA == a.CurrentRevision {
					t.Errorf("MERGE_ALWAYS fast-forwarded")
				}
			} else if tipA != ma.CurrentRevision {
				t.Errorf("tip after first = %s, want current revision %s", tipA, ma.CurrentRevision)
			}

			f.advance(time.Minute)
			mb, err := f.srv.Submit(b.Number, f.bob)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Submit = %v, want error with %q", err, tt.wantErr)
				}
				return
			}
			f.must(err)
			tip, _ := f.srv.BranchTip(project, "main")
			got, err := f.client.ChangesForCommits(ctx, project, "main", []string{tip, b.CurrentRevision, base})
			f.must(err)
			if _, ok := got[base]; ok {
				t.Errorf("the initial commit maps to a change")
			}
			if cs := got[b.CurrentRevision]; len(cs) != 1 || cs[0].Number != b.Number {
				t.Errorf("patch set 1 of the second change maps to %+v", cs)
			}
			ch := f.gateChange(project, b.Number)
			if tt.wantMerge {
				if _, ok := got[tip]; ok {
					t.Errorf("commit:<merge> returned a change")
				}
				out, err := gitOut(f.srv.RepoDir(project), "log", "-1", "--format=%P%n%B", tip)
				f.must(err)
				wantOut := tipA + " " + b.CurrentRevision + "\nMerge \"Second\" into main"
				if out != wantOut {
					t.Errorf("merge commit = %q, want %q", out, wantOut)
				}
				if ch.CurrentRevision != b.CurrentRevision {
					t.Errorf("current revision moved on merge")
				}
				return
			}
			if !tt.wantNewPS {
				return
			}
			if len(mb.PatchSets) != 2 || tip != mb.CurrentRevision || ch.CurrentRevision != tip {
				t.Fatalf("tip %s, change %+v", tip, mb)
			}
			if cs := got[tip]; len(cs) != 1 || cs[0].Number != b.Number {
				t.Errorf("merged SHA maps to %+v", cs)
			}
			ps2 := ch.Revisions[tip]
			if ps2.Number != 2 || ps2.Uploader != f.bob || len(ps2.Parents) != 1 || ps2.Parents[0] != tipA {
				t.Errorf("patch set 2 = %+v", ps2)
			}
			if ch.Revisions[b.CurrentRevision].Uploader != f.alice {
				t.Errorf("patch set 1 uploader = %+v", ch.Revisions[b.CurrentRevision].Uploader)
			}
			if v := ch.Labels["Code-Review"]; len(v) != 1 || v[0].Value != 2 || v[0].Account != f.bob ||
				v[0].Tag != "autogenerated:gerrit:merged" || !v[0].Date.Equal(ch.Submitted) {
				t.Errorf("approvals not copied as Gerrit copies them (tagged, dated at submit): %+v", v)
			}
			msg, err := gitOut(f.srv.RepoDir(project), "log", "-1", "--format=%B", tip)
			f.must(err)
			hasFooters := strings.Contains(msg, "\nReviewed-on: "+f.srv.URL()+"/c/"+project+"/+/2\nReviewed-by: Bob <bob@example.com>")
			if hasFooters != tt.wantFooters {
				t.Errorf("footers %v, want %v in %q", hasFooters, tt.wantFooters, msg)
			}
			last := ch.Messages[len(ch.Messages)-1].Message
			if !strings.Contains(last, tip) || !strings.HasPrefix(last, "Change has been successfully") {
				t.Errorf("merge message = %q", last)
			}
		})
	}
}

func TestPostSubmitVotesAndReview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("team/app", ""))
	carol := f.srv.AddAccount("carol")
	c := f.change("team/app", "Change", map[string]string{"a": "1"})
	f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", 2))
	f.must(f.srv.Vote(c.Number, carol, "Code-Review", 1))
	_, err := f.srv.Submit(c.Number, f.bob)
	f.must(err)

	if err := f.srv.Vote(c.Number, f.bob, "Code-Review", 1); err == nil || !strings.Contains(err.Error(), "Cannot reduce vote") {
		t.Errorf("lowering a vote after submit: %v", err)
	}
	f.must(f.srv.Vote(c.Number, carol, "Code-Review", 2))
	svcClient := f.client
	err = svcClient.PostReview(ctx, "team/app", c.Number, "current", gerrit.ReviewInput{Message: "Deployed to prod", Tag: "autogenerated:gerritgate", Notify: "NONE"})
	f.must(err)
	err = svcClient.PostReview(ctx, "team/app", c.Number, "current", gerrit.ReviewInput{Labels: map[string]int{"Code-Review": -1}})
	if err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("post-submit -1 by a new voter: %v, want 409", err)
	}
	ch := f.gateChange("team/app", c.Number)
	var carolVote gate.Vote
	for _, v := range ch.Labels["Code-Review"] {
		if v.Account.ID == carol.ID {
			carolVote = v
		}
	}
	if carolVote.Value != 2 || !carolVote.PostSubmit {
		t.Errorf("carol's vote = %+v, want +2 post-submit", carolVote)
	}
	last := ch.Messages[len(ch.Messages)-1]
	if last.Message != "Patch Set 1:\n\nDeployed to prod" || last.Tag != "autogenerated:gerritgate" || last.Author.ID != f.svc.ID {
		t.Errorf("review message = %+v", last)
	}
	// Stored at submit time: still what it was.
	if ch.SubmitRequirements[0].Status != "SATISFIED" {
		t.Errorf("requirement = %+v", ch.SubmitRequirements)
	}
	if _, err := f.client.Change(ctx, "team/app", 99); !errors.Is(err, gerrit.ErrNotFound) {
		t.Errorf("unknown change: %v, want ErrNotFound", err)
	}
	if _, err := f.client.Change(ctx, "team", 1); !errors.Is(err, gerrit.ErrNotFound) {
		t.Errorf("change under the wrong project: %v, want ErrNotFound", err)
	}
}

func TestDirectPushAndMergeByPush(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("p", ""))
	pusher := f.srv.AddAccount("pusher")
	c := f.change("p", "Pushed past review", map[string]string{"a": "1"})
	f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", 1))
	m, err := f.srv.MergeByPush(c.Number, pusher)
	f.must(err)
	direct, err := f.srv.DirectPush("p", "main", f.alice, "Hotfix", map[string]string{"b": "2"})
	f.must(err)
	c2 := f.change("p", "Amended before the push", map[string]string{"c": "1"})
	f.must(f.srv.Vote(c2.Number, f.bob, "Code-Review", 1))
	m2, err := f.srv.MergeByPushAmended(c2.Number, pusher, nil)
	f.must(err)
	got, err := f.client.ChangesForCommits(ctx, "p", "main", []string{m.CurrentRevision, direct, m2.CurrentRevision, c2.CurrentRevision})
	f.must(err)
	if _, ok := got[direct]; ok {
		t.Errorf("direct push maps to a change")
	}
	for _, ch := range []gate.Change{got[m.CurrentRevision][0], got[m2.CurrentRevision][0]} {
		// As Gerrit 3.13.5 answers: the pusher is the submitter, and no
		// submit requirement results are stored.
		if ch.Status != "MERGED" || ch.Submitter != pusher || ch.Submitted.IsZero() || len(ch.SubmitRequirements) != 0 {
			t.Errorf("pushed change = %+v", ch)
		}
		if last := ch.Messages[len(ch.Messages)-1]; last.Message != "Change has been successfully pushed." || last.Author != pusher {
			t.Errorf("message = %+v", last)
		}
		// The pusher (submitter) is listed with a 0 placeholder.
		if v := ch.Labels["Code-Review"]; len(v) != 2 {
			t.Errorf("Code-Review = %+v, want bob's +1 and the pusher's 0", v)
		}
	}
	ch2 := got[m2.CurrentRevision][0]
	if len(ch2.Revisions) != 2 || got[c2.CurrentRevision][0].Number != c2.Number {
		t.Fatalf("amended push: revisions %+v", ch2.Revisions)
	}
	if ps2 := ch2.Revisions[m2.CurrentRevision]; ps2.Number != 2 || ps2.Uploader != pusher || ps2.Kind != "NO_CHANGE" {
		t.Errorf("pushed patch set = %+v (same tree and parent, new committer: NO_CHANGE, as on 3.13.5)", ps2)
	}
}

func TestPatchSetKindsAndCopiedVotes(t *testing.T) {
	f := newFixture(t)
	f.must(f.srv.CreateProject("p", ""))
	c := f.change("p", "Work", map[string]string{"a": "1"})
	carol := f.srv.AddAccount("carol")
	f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", 2))
	f.must(f.srv.Vote(c.Number, carol, "Code-Review", -2))
	_, err := f.srv.DirectPush("p", "main", f.alice, "Other", map[string]string{"z": "1"})
	f.must(err)
	for _, tt := range []struct {
		in       gerrittest.PatchSetInput
		wantKind string
		wantBob  int // bob's +2 survives only trivial kinds
	}{
		{gerrittest.PatchSetInput{Rebase: true}, "TRIVIAL_REBASE", 2},
		{gerrittest.PatchSetInput{}, "NO_CHANGE", 2},
		{gerrittest.PatchSetInput{Subject: "Work, better said"}, "NO_CODE_CHANGE", 0},
		{gerrittest.PatchSetInput{Files: map[string]string{"a": "2"}}, "REWORK", 0},
	} {
		got, err := f.srv.NewPatchSet(c.Number, f.alice, tt.in)
		f.must(err)
		ps := got.PatchSets[len(got.PatchSets)-1]
		ch := f.gateChange("p", c.Number)
		votes := map[int]int{}
		for _, v := range ch.Labels["Code-Review"] {
			votes[v.Account.ID] = v.Value
		}
		if ps.Kind != tt.wantKind || votes[f.bob.ID] != tt.wantBob || votes[carol.ID] != -2 {
			t.Errorf("%+v: kind %s, votes %v; want %s, bob %d, carol's MIN copied", tt.in, ps.Kind, votes, tt.wantKind, tt.wantBob)
		}
		if ch.Revisions[ps.SHA].Kind != tt.wantKind {
			t.Errorf("REST kind = %s", ch.Revisions[ps.SHA].Kind)
		}
	}
}

func TestQueriesPagingAndMergedAfter(t *testing.T) {
	f := newFixture(t, gerrittest.WithQueryLimit(4))
	ctx := context.Background()
	f.must(f.srv.CreateProject("team/app", ""))
	f.must(f.srv.CreateProject("team/other", ""))
	var merged []int
	for i := 0; i < 7; i++ {
		c := f.change("team/app", fmt.Sprintf("Change %d", i), map[string]string{fmt.Sprintf("f%d", i): "x"})
		if i%2 == 0 {
			f.advance(time.Minute)
			_, err := f.srv.Submit(c.Number, f.bob)
			f.must(err)
			merged = append(merged, c.Number)
		}
	}
	f.change("team/other", "Elsewhere", nil)

	all, err := f.client.QueryChanges(ctx, `project:"team/app"`)
	f.must(err)
	if len(all) != 7 {
		t.Errorf("%d changes, want 7", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].Updated.Before(all[i].Updated.Time) {
			t.Errorf("not sorted by updated, newest first: %v", all)
		}
	}
	for _, tt := range []struct {
		q    string
		want int
	}{
		{`project:"team/app" status:merged`, 4},
		{`project:"team/app" status:open`, 3},
		{`project:{team/app} -status:merged`, 3},
		{`(project:"team/app" OR project:"team/other") is:open`, 4},
		{`project:"team/other" OR (project:"team/app" AND status:merged)`, 5},
		{`branch:refs/heads/main project:team/app NOT status:open`, 4},
		{`project:"team/app" label:Code-Review=MAX`, 0},
	} {
		got, err := f.client.QueryChanges(ctx, tt.q)
		if err != nil || len(got) != tt.want {
			t.Errorf("query %s: %d changes, %v; want %d", tt.q, len(got), err, tt.want)
		}
	}
	for _, q := range []string{"bogus:1", `mergedafter:"2026-01-02T10:00:00Z"`, "project:p (", `project:"p`, "plainword"} {
		_, err = f.client.QueryChanges(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("query %s: %v, want 400", q, err)
		}
	}

	// Merged at 10:09, 10:12, 10:15 (wall clock moves a minute per change
	// and per submit) ...: mergedafter is inclusive, at second precision.
	ch, ok := f.srv.Change(merged[2])
	if !ok {
		t.Fatal("no change")
	}
	full := f.gateChange("team/app", ch.Number)
	after, err := f.client.MergedAfter(ctx, "team/app", "main", full.Submitted)
	f.must(err)
	if len(after) != 2 || after[0].Number != merged[3] || after[1].Number != merged[2] {
		var nums []int
		for _, c := range after {
			nums = append(nums, c.Number)
		}
		t.Errorf("merged after the third merge: %v, want [%d %d]", nums, merged[3], merged[2])
	}
}

func TestDriftWhilePaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("p", ""))
	for i := 0; i < 6; i++ {
		f.change("p", fmt.Sprintf("C%d", i), nil)
	}
	// Order: 6 5 4 | 3 2 1. After the first page a bot comments on change
	// 1: it jumps to the front (1 6 5 | 4 3 2), so page two repeats 4 and
	// change 1 is missed, as against a real Gerrit.
	var calls atomic.Int32
	f.srv.SetRequestHook(func(r *http.Request) {
		if calls.Add(1) == 2 {
			f.advance(time.Minute)
			f.must(f.srv.Touch(1, f.bob, "CI passed"))
		}
	})
	got, err := f.client.QueryChanges(ctx, "project:p")
	f.must(err)
	var nums []int
	for _, c := range got {
		nums = append(nums, c.Number)
	}
	if fmt.Sprint(nums) != "[6 5 4 3 2]" {
		t.Errorf("changes %v, want [6 5 4 3 2] (4 once, 1 missed)", nums)
	}
}

func TestAuthAndFaults(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("p", ""))
	bad, _ := gerrit.New(f.srv.URL(), gerrit.WithBasicAuth("gerritgate", "wrong"))
	_, err := bad.Version(ctx)
	if !errors.Is(err, gerrit.ErrUnauthorized) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v", err)
	}
	resp, err := http.Get(f.srv.URL() + "/a/changes/")
	f.must(err)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("unauthenticated /a/: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	anon, _ := gerrit.New(f.srv.URL())
	if v, err := anon.Version(ctx); err != nil || v != gerrittest.Version {
		t.Errorf("anonymous version = %q, %v", v, err)
	}
	if _, err := anon.Self(ctx); !errors.Is(err, gerrit.ErrUnauthorized) {
		t.Errorf("anonymous self: %v", err)
	}
	self, err := f.client.Self(ctx)
	if err != nil || self != f.svc {
		t.Errorf("self = %+v, %v", self, err)
	}

	var n atomic.Int32
	f.srv.SetRequestHook(func(*http.Request) { n.Add(1) })
	f.srv.SetDown(true)
	_, err = f.client.Version(ctx)
	var ge *gerrit.Error
	if !errors.As(err, &ge) || ge.StatusCode != 503 {
		t.Errorf("down: %v, want 503", err)
	}
	resp, err = http.Get(f.srv.URL() + "/p/info/refs?service=git-upload-pack")
	f.must(err)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("git while down: %d", resp.StatusCode)
	}
	f.srv.SetDown(false)
	if _, err := f.client.Version(ctx); err != nil {
		t.Errorf("up again: %v", err)
	}
	if n.Load() != 3 {
		t.Errorf("hook saw %d requests, want 3", n.Load())
	}

	// Stopped: connections refused, then back on the same address.
	f.must(f.srv.SetUnreachable(true))
	_, err = f.client.Version(ctx)
	if !errors.As(err, &ge) || ge.StatusCode != 0 || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("unreachable: %v, want connection refused", err)
	}
	f.must(f.srv.SetUnreachable(false))
	if _, err := f.client.Version(ctx); err != nil {
		t.Errorf("reachable again: %v", err)
	}

	// A slow server and a client that gives up.
	f.srv.SetRequestHook(func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := f.client.Version(tctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: %v", err)
	}
	f.srv.SetRequestHook(nil)
}

func TestGroups(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	carol := f.srv.AddAccount("carol")
	inner, err := f.srv.AddGroup("inner", gerrittest.Members(carol))
	f.must(err)
	outer, err := f.srv.AddGroup("releasers", gerrittest.Members(f.bob, f.alice), gerrittest.Subgroups(inner), gerrittest.VisibleToAll())
	f.must(err)
	hidden, err := f.srv.AddGroup("hidden", gerrittest.Members(f.bob))
	f.must(err)
	mine, err := f.srv.AddGroup("mine", gerrittest.Members(f.svc))
	f.must(err)
	// Owned by a group of the caller: Gerrit then lists its included
	// groups, also those the caller cannot read.
	owned, err := f.srv.AddGroup("owned", gerrittest.Members(f.alice), gerrittest.Subgroups(hidden), gerrittest.VisibleToAll(), gerrittest.OwnedBy(mine))
	f.must(err)
	if len(outer) != 40 || strings.Trim(outer, "0123456789abcdef") != "" {
		t.Errorf("uuid %q is not 40 hex", outer)
	}
	names := func(as []gate.Account) string {
		var s []string
		for _, a := range as {
			s = append(s, a.Username)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		id        string
		recursive bool
		want      string
		wantErr   error
	}{
		{outer, false, "alice,bob", nil},
		// Like Gerrit 3.13: members of an included group the caller cannot
		// see are left out without a sign (inner is not shown to svc).
		{outer, true, "alice,bob", nil},
		{"releasers", true, "alice,bob", nil},
		{mine, false, "gerritgate", nil},
		{hidden, false, "", gerrit.ErrNotFound},
		{inner, false, "", gerrit.ErrNotFound},
		{strings.Repeat("0", 40), false, "", gerrit.ErrNotFound},
	} {
		got, err := f.client.GroupMembers(ctx, tt.id, tt.recursive)
		if !errors.Is(err, tt.wantErr) || names(got) != tt.want {
			t.Errorf("GroupMembers(%s, %v) = %s, %v; want %s, %v", tt.id, tt.recursive, names(got), err, tt.want, tt.wantErr)
		}
	}
	var hiddenErr *gerrit.HiddenGroupError
	if _, err := f.client.GroupMembers(ctx, owned, true); !errors.As(err, &hiddenErr) || !strings.Contains(err.Error(), "group hidden") {
		t.Errorf("GroupMembers of a group including one the caller cannot see = %v, want a HiddenGroupError naming hidden", err)
	}
	groups, err := f.client.AccountGroups(ctx, "carol")
	f.must(err)
	if len(groups) != 1 || groups[0].ID != outer || groups[0].Name != "releasers" || groups[0].Options == nil || !groups[0].Options.VisibleToAll {
		t.Errorf("carol's visible groups = %+v, want only releasers", groups)
	}
}

// As Gerrit 3.13.5 does, a vote on an outdated patch set is taken, before
// and after merge (when it does not lower a vote there), written as
// "Patch Set 1: ..." and left out of the current patch set's labels.
func TestVoteOnOutdatedPatchSet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("p", ""))
	c := f.change("p", "Work", map[string]string{"a": "1"})
	_, err := f.srv.NewPatchSet(c.Number, f.alice, gerrittest.PatchSetInput{Files: map[string]string{"a": "2"}})
	f.must(err)
	review := func(labels map[string]int) error {
		return f.client.PostReview(ctx, "p", c.Number, "1", gerrit.ReviewInput{Labels: labels})
	}
	f.must(review(map[string]int{"Code-Review": 1}))
	f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", 2))
	_, err = f.srv.Submit(c.Number, f.bob)
	f.must(err)
	f.must(review(map[string]int{"Code-Review": 2}))
	if err := review(map[string]int{"Code-Review": -2}); err == nil || !strings.Contains(err.Error(), "Cannot reduce vote") {
		t.Errorf("lowering a vote on patch set 1 after submit: %v, want 409 Cannot reduce vote", err)
	}
	ch := f.gateChange("p", c.Number)
	for _, v := range ch.Labels["Code-Review"] {
		if v.Account.ID == f.svc.ID && v.Value != 0 {
			t.Errorf("the vote on patch set 1 shows on the current patch set: %+v", v)
		}
	}
	last := ch.Messages[len(ch.Messages)-1]
	if last.Message != "Patch Set 1: Code-Review+2" || last.RevisionNumber != 1 || last.Author.ID != f.svc.ID {
		t.Errorf("last message = %+v, want the post-submit vote on patch set 1", last)
	}
}

// TestUploadExisting: a commit uploaded again for another branch is a patch
// set of both changes, and a query for it finds both.
func TestUploadExisting(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("team/app", gerrittest.MergeIfNecessary))
	root, _ := f.srv.BranchTip("team/app", "main")
	f.must(f.srv.CreateBranch("team/app", "stable", root))
	c := f.change("team/app", "Fix", map[string]string{"fix.txt": "x\n"})
	sha := c.CurrentRevision
	if _, err := f.srv.UploadExisting("team/app", "nosuch", f.bob, sha); err == nil {
		t.Error("uploading to a branch that does not exist: no error")
	}
	if _, err := f.srv.UploadExisting("team/app", "stable", f.bob, strings.Repeat("ab", 20)); err == nil {
		t.Error("uploading a commit the project does not have: no error")
	}
	other, err := f.srv.UploadExisting("team/app", "stable", f.bob, sha)
	f.must(err)
	if other.Number == c.Number || other.Branch != "stable" || other.CurrentRevision != sha || other.ChangeID != c.ChangeID ||
		other.Owner != f.bob || other.PatchSets[0].Ref != "refs/changes/02/2/1" || other.Subject != "Fix" {
		t.Errorf("uploaded change = %+v, want change 2 on stable with %s and Change-Id %s", other, sha, c.ChangeID)
	}
	got, err := f.client.ChangesForCommits(ctx, "team/app", "main", []string{sha})
	f.must(err)
	if len(got[sha]) != 2 || got[sha][0].Number != c.Number || got[sha][1].Number != other.Number || got[sha][1].Revisions[sha].Number != 1 {
		t.Errorf("changes of %s = %+v, want change %d (main) then %d (stable)", sha[:8], got[sha], c.Number, other.Number)
	}
}

// TestOnQuery: the callback runs once, before the answer to the n-th query
// that matches the change, and that answer shows what it did; queries
// that do not match the change do not count.
func TestOnQuery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("team/app", gerrittest.MergeIfNecessary))
	c := f.change("team/app", "Fix", map[string]string{"fix.txt": "x\n"})
	other := f.change("team/app", "Other", map[string]string{"o.txt": "x\n"})
	fired := 0
	f.srv.OnQuery(c.Number, 2, func() {
		fired++
		f.must(f.srv.Vote(c.Number, f.bob, "Code-Review", -2))
	})
	vetoed := func() bool {
		got, err := f.client.ChangesForCommits(ctx, "team/app", "main", []string{c.CurrentRevision})
		f.must(err)
		for _, v := range got[c.CurrentRevision][0].Labels["Code-Review"] {
			if v.Value == -2 {
				return true
			}
		}
		return false
	}
	for i, want := range []bool{false, true, true} {
		if _, err := f.client.ChangesForCommits(ctx, "team/app", "main", []string{other.CurrentRevision}); err != nil {
			t.Fatal(err)
		}
		if got := vetoed(); got != want {
			t.Errorf("query %d of change %d: vetoed %v, want %v", i+1, c.Number, got, want)
		}
	}
	if fired != 1 {
		t.Errorf("callback ran %d times, want once", fired)
	}
}
