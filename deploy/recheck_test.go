package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
)

// changingGerrit is fakeGerrit whose answers change from its at-th
// question about commits on: the questions before are the decision's,
// the at-th is the recheck right before the move.
type changingGerrit struct {
	*fakeGerrit
	at      int
	calls   int
	edit    func(map[string][]gate.Change) // applied to the answers from the at-th on
	down    bool                           // from the at-th on, Gerrit does not answer
	members []gate.Account                 // of group sre; from the at-th on, members[1:]
}

func (c *changingGerrit) ChangesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error) {
	c.calls++
	if c.calls >= c.at && c.down {
		return nil, errors.New("503 Service Unavailable")
	}
	out, err := c.fakeGerrit.ChangesForCommits(ctx, project, branch, shas)
	if err == nil && c.calls >= c.at && c.edit != nil {
		c.edit(out)
	}
	return out, err
}

func (c *changingGerrit) GroupMembers(ctx context.Context, group string, recursive bool) ([]gate.Account, error) {
	if group != "sre" {
		return nil, errors.New("no such group")
	}
	if c.calls >= c.at {
		return c.members[1:], nil
	}
	return c.members, nil
}

// withdraw takes bob's Code-Review +2 off the change of sha, with the
// message Gerrit writes.
func withdraw(sha string) func(map[string][]gate.Change) {
	return func(out map[string][]gate.Change) {
		for i := range out[sha] {
			ch := &out[sha][i]
			ch.Labels = map[string][]gate.Vote{"Code-Review": {{Account: ch.Submitter, Value: 0}}}
			ch.Messages = append(ch.Messages, gate.Message{Author: ch.Submitter, Message: "Patch Set 1: -Code-Review", RevisionNumber: 1})
		}
	}
}

// vetoElsewhere adds to sha a second change, on branch stable, that carol
// vetoes.
func vetoElsewhere(sha string) func(map[string][]gate.Change) {
	return func(out map[string][]gate.Change) {
		carol := gate.Account{ID: 3, Username: "carol"}
		ch := out[sha][0]
		ch.Number, ch.Branch, ch.Status = 99, "stable", "NEW"
		ch.Labels = map[string][]gate.Vote{"Code-Review": {{Account: carol, Value: -2}}}
		ch.Messages = []gate.Message{{Author: carol, Message: "Patch Set 1: Code-Review-2", RevisionNumber: 1}}
		out[sha] = append(out[sha], ch)
	}
}

const changedNote = "Gerrit's answer changed between the decision and the move"

// Votes, vetoes and group members are read again right before the ref
// moves: what changed since the decision stops the advance there, and
// the result names it.
func TestRecheckBeforeTheMove(t *testing.T) {
	vetoing := &gate.Policy{Name: "reviewed", Labels: policy.Labels, Vetoes: map[string]int{"Code-Review": -2}}
	owned := &gate.Policy{Name: "owned", Labels: policy.Labels, Owners: []gate.OwnerRule{{Paths: []string{"**"}, Groups: []string{"sre"}}}}
	bob := gate.Account{ID: 2, Username: "bob", Email: "bob@example.com"}
	dave := gate.Account{ID: 4, Username: "dave"}
	for _, tt := range []struct {
		what    string
		policy  *gate.Policy
		change  func(a, b plumbing.Hash, g *changingGerrit)
		reason  Reason
		to      int // index into [base, a, b, c]
		message []string
	}{
		{what: "nothing changed", reason: Advanced, to: 3},
		{what: "the vote on a withdrawn", change: func(a, b plumbing.Hash, g *changingGerrit) { g.edit = withdraw(a.String()) },
			reason: NotApproved, to: 0, message: []string{"needs Code-Review +2", changedNote, "label Code-Review: Code-Review +2 or more by bob +2"}},
		{what: "the vote on b withdrawn", change: func(a, b plumbing.Hash, g *changingGerrit) { g.edit = withdraw(b.String()) },
			reason: Advanced, to: 1, message: []string{"stopped before", "label Code-Review: Code-Review +2 or more by bob +2"}},
		{what: "a veto on another change of a", policy: vetoing, change: func(a, b plumbing.Hash, g *changingGerrit) { g.edit = vetoElsewhere(a.String()) },
			reason: NotApproved, to: 0, message: []string{"change 99 (branch stable, NEW), which also has this commit as patch set 1: vetoed: Code-Review -2 by carol", changedNote}},
		{what: "the approving owner removed from the group", policy: owned, change: func(a, b plumbing.Hash, g *changingGerrit) { g.members = []gate.Account{bob, dave} },
			reason: NotApproved, to: 0, message: []string{"no member voted (members: dave)", changedNote + ": a moment before, this commit was approved (owners: ** (f) approved by bob +2, member of sre)"}},
		{what: "Gerrit cannot be asked again", change: func(a, b plumbing.Hash, g *changingGerrit) { g.down = true },
			reason: Failed, to: 0, message: []string{"ask Gerrit again about the 3 commits entering deploy/prod, right before moving it", "503"}},
	} {
		t.Run(tt.what, func(t *testing.T) {
			store, r, f, _, target := setup(t)
			if tt.policy != nil {
				target.Policy = tt.policy
			}
			g := &changingGerrit{fakeGerrit: f, at: 2, members: []gate.Account{dave, bob}}
			d := New(store, g)
			base := r.emptyRoot()
			r.setBranch(base)
			if res := d.Reconcile(context.Background(), target); res.Reason != Initialized {
				t.Fatalf("first reconcile: %s %s", res.Reason, res.Message)
			}
			g.calls, f.asked = 0, nil
			a := r.commit("a", base)
			b := r.commit("b", a)
			c := r.commit("c", b)
			r.setBranch(c)
			for _, h := range []plumbing.Hash{a, b, c} {
				f.approved[h.String()] = true
			}
			if tt.change != nil {
				tt.change(a, b, g)
			}
			res := d.Reconcile(context.Background(), target)
			want := []plumbing.Hash{base, a, b, c}[tt.to]
			served, _ := store.Served("platform/fleet")
			got, _ := served.Ref(target.Ref())
			if res.Reason != tt.reason || got != want || res.To != want.String() {
				t.Fatalf("%s to %s (deploy/prod at %s): %q; want %s to %s", res.Reason, res.To, got, res.Message, tt.reason, want)
			}
			for _, m := range tt.message {
				if !strings.Contains(res.Message, m) {
					t.Errorf("message %q does not say %q", res.Message, m)
				}
			}
			if g.calls != 2 || len(f.asked[len(f.asked)-1]) != 3 {
				t.Errorf("asked Gerrit %d times, last about %d commits; want twice (decision, recheck) about the 3 entering", g.calls, len(f.asked[len(f.asked)-1]))
			}
		})
	}
}
