package gerrit

import (
	"fmt"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/gitid"
)

// GateChange converts a ChangeInfo fetched with the options of
// ChangesForCommits into the gate's view. It fails when a field the gate
// relies on is missing or malformed.
func (ci *ChangeInfo) GateChange() (gate.Change, error) {
	bad := func(format string, args ...any) (gate.Change, error) {
		return gate.Change{}, fmt.Errorf("gerrit: change %s~%d: %s", ci.Project, ci.Number, fmt.Sprintf(format, args...))
	}
	if ci.Number <= 0 || ci.Project == "" || ci.Branch == "" {
		return bad("missing number, project or branch")
	}
	ch := gate.Change{
		Project:         ci.Project,
		Branch:          ci.Branch,
		Number:          ci.Number,
		ChangeID:        ci.ChangeID,
		Subject:         ci.Subject,
		Status:          ci.Status,
		Owner:           account(ci.Owner),
		CurrentRevision: ci.CurrentRevision,
		Revisions:       make(map[string]gate.Revision, len(ci.Revisions)),
		Labels:          make(map[string][]gate.Vote, len(ci.Labels)),
	}
	if ci.Submitter != nil {
		ch.Submitter = account(*ci.Submitter)
	}
	if ci.Submitted != nil {
		ch.Submitted = ci.Submitted.Time
	}
	for sha, r := range ci.Revisions {
		sha = strings.ToLower(sha)
		if !gitid.IsObjectID(sha) {
			return bad("revision key %q is not a SHA", bounded(sha, 64))
		}
		if r.Number <= 0 {
			return bad("revision %s has no patch set number", sha)
		}
		rev := gate.Revision{
			SHA:      sha,
			Number:   r.Number,
			Uploader: account(r.Uploader),
			Created:  r.Created.Time,
			Kind:     r.Kind,
		}
		if r.Commit != nil {
			for _, p := range r.Commit.Parents {
				rev.Parents = append(rev.Parents, p.Commit)
			}
			if r.Commit.Author != nil {
				rev.Author = gate.Person{Name: r.Commit.Author.Name, Email: r.Commit.Author.Email}
			}
		}
		ch.Revisions[sha] = rev
	}
	if ch.CurrentRevision != "" {
		if _, ok := ch.Revisions[ch.CurrentRevision]; !ok && len(ci.Revisions) > 0 {
			return bad("current revision %s is not among its revisions", ch.CurrentRevision)
		}
	}
	for name, l := range ci.Labels {
		if err := l.consistent(); err != nil {
			return bad("label %s: %v", name, err)
		}
		votes := []gate.Vote{}
		for _, a := range l.All {
			if a.Value == nil {
				continue // may not vote on this label
			}
			v := gate.Vote{Account: account(a.AccountInfo), Value: *a.Value, PostSubmit: a.PostSubmit, Tag: a.Tag}
			if a.Date != nil {
				v.Date = a.Date.Time
			}
			votes = append(votes, v)
		}
		ch.Labels[name] = votes
		if lo, hi, ok := l.Range(); ok {
			if ch.LabelRanges == nil {
				ch.LabelRanges = map[string]gate.LabelRange{}
			}
			ch.LabelRanges[name] = gate.LabelRange{Min: lo, Max: hi}
		}
	}
	for _, sr := range ci.SubmitRequirements {
		if sr.Name == "" || sr.Status == "" {
			return bad("submit requirement without name or status")
		}
		ch.SubmitRequirements = append(ch.SubmitRequirements, gate.SubmitRequirement{Name: sr.Name, Status: sr.Status, IsLegacy: sr.IsLegacy})
	}
	for _, m := range ci.Messages {
		if m.Date.IsZero() {
			// The gate orders votes by their messages' dates.
			return bad("message %s has no date", bounded(m.ID, 64))
		}
		// A vote posted on someone's behalf by an account the gate
		// cannot name must not pass as the voter's own.
		if m.RealAuthor != nil && m.RealAuthor.ID <= 0 {
			return bad("message %s has a real author without an account id", bounded(m.ID, 64))
		}
		ch.Messages = append(ch.Messages, message(m))
	}
	return ch, nil
}

// consistent checks that the accounts the label names as approving,
// rejecting, recommending or disliking are among its votes: an "all" list
// cut short must not hide a veto.
func (l LabelInfo) consistent() error {
	listed := map[int]bool{}
	for _, a := range l.All {
		listed[a.ID] = true
	}
	for _, n := range []struct {
		role string
		a    *AccountInfo
	}{{"approved", l.Approved}, {"rejected", l.Rejected}, {"recommended", l.Recommended}, {"disliked", l.Disliked}} {
		if n.a != nil && !listed[n.a.ID] {
			return fmt.Errorf("names account %d as %s but lists no vote by it", n.a.ID, n.role)
		}
	}
	return nil
}

func account(a AccountInfo) gate.Account {
	name := a.Name
	if name == "" {
		name = a.DisplayName
	}
	return gate.Account{ID: a.ID, Username: a.Username, Name: name, Email: a.Email}
}
