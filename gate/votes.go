package gate

// Which votes count.
//
// Gerrit reports, for a merged change, the votes on the merged patch set:
// cast on it, or copied onto it from an earlier patch set by the label's
// copy condition, or (for a rebasing or cherry-picking submit) copied onto
// the patch set that submit wrote. The gate decides for itself whether each
// vote may count toward Labels, Approvers and Owners (vetoes count every
// vote, always):
//
//   - The patch set a vote was cast on is taken from the change messages:
//     the latest "Patch Set N: Label+V" (or "Uploaded patch set N: ...")
//     posted by the voter that mentions the label, when it records the
//     value Gerrit reports. A post-submit vote is on the merged patch set.
//     On a change whose merged patch set is 1 there is no other. Otherwise,
//     when no message says, the vote could have been cast on any patch set
//     up to the merged one, and it counts only if it would count whichever
//     it was.
//   - A vote cast on patch set P counts for the merged patch set M only if
//     every patch set after P up to M is a TRIVIAL_REBASE,
//     TRIVIAL_REBASE_WITH_MESSAGE_UPDATE, NO_CODE_CHANGE,
//     MERGE_FIRST_PARENT_UPDATE or NO_CHANGE of the one before: the code it
//     reviewed is the code that merged. A vote Gerrit copied across a
//     REWORK (or a patch set of unknown kind) does not count; a vote cast
//     on the REWORK patch set itself does.
//   - Without SelfApproval, a vote cast on P does not count when the voter
//     owns the change, uploaded P, or uploaded one of the patch sets P
//     carries unchanged (walking back from P across the kinds above to the
//     last REWORK, which is included). The submitter who uploaded the
//     rebased patch set at submit time is not an uploader of the reviewed
//     patch set, so their review of an earlier patch set still counts.
//     Uploaders of earlier REWORK patch sets are not excluded: Gerrit does
//     not say what of their code survived.

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

var (
	// The first line of a change message that records votes.
	voteLineRE = regexp.MustCompile(`^(?:Patch Set|Uploaded patch set) ([1-9][0-9]{0,5})(?::(.*))?$`)
	voteRE     = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9-]*?)([+-][0-9]{1,3})$`)
	removeRE   = regexp.MustCompile(`^-([A-Za-z0-9][A-Za-z0-9-]*)$`)
)

// copySafe reports whether a patch set of this kind has the code of the one
// before it, so that a vote may carry across it.
func copySafe(kind string) bool {
	return slices.Contains(copySafeKinds(), kind)
}

func copySafeKinds() []string {
	return []string{"TRIVIAL_REBASE", "TRIVIAL_REBASE_WITH_MESSAGE_UPDATE", "NO_CODE_CHANGE", "MERGE_FIRST_PARENT_UPDATE", "NO_CHANGE"}
}

// review is one change seen from its merged patch set.
type review struct {
	ch     Change
	merged int // patch set number of the merged revision
	byNum  map[int]Revision
	cast   map[castKey]castOn
	self   bool // the policy lets self-approvals count
}

type castKey struct {
	account int
	label   string
}

type castOn struct {
	patchSet int
	value    int
}

// ballot is one vote as the gate judged it.
type ballot struct {
	Vote
	PatchSet int // cast on; 0 when no message says
	Counts   bool
	Why      string // why it does not count
	merged   int    // the merged patch set, for String
}

func newReview(p *Policy, ch Change, mergedSHA string) *review {
	rv := &review{ch: ch, merged: ch.Revisions[mergedSHA].Number, byNum: map[int]Revision{}, cast: map[castKey]castOn{}, self: p.SelfApproval}
	dup := map[int]bool{}
	for _, r := range ch.Revisions {
		if _, seen := rv.byNum[r.Number]; seen {
			dup[r.Number] = true
		}
		rv.byNum[r.Number] = r
	}
	for n := range dup {
		delete(rv.byNum, n) // two revisions claim it: know neither
	}
	msgs := append([]Message(nil), ch.Messages...)
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].Date.Before(msgs[j].Date) })
	for _, m := range msgs {
		if m.Author.ID <= 0 {
			continue
		}
		ps, votes, ok := parseVoteMessage(m.Message)
		if !ok || (m.RevisionNumber != 0 && m.RevisionNumber != ps) {
			continue
		}
		for label, value := range votes {
			rv.cast[castKey{m.Author.ID, label}] = castOn{ps, value}
		}
	}
	return rv
}

// parseVoteMessage reads the votes a change message records: "Patch Set 3:
// Code-Review+2 Verified+1" (a removed vote, "-Code-Review", is 0).
func parseVoteMessage(msg string) (patchSet int, votes map[string]int, ok bool) {
	line, _, _ := strings.Cut(msg, "\n")
	m := voteLineRE.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return 0, nil, false
	}
	patchSet, _ = strconv.Atoi(m[1])
	votes = map[string]int{}
	for _, tok := range strings.Fields(strings.TrimSuffix(strings.TrimSpace(m[2]), ".")) {
		if r := removeRE.FindStringSubmatch(tok); r != nil {
			votes[r[1]] = 0
		} else if v := voteRE.FindStringSubmatch(tok); v != nil {
			n, _ := strconv.Atoi(v[2])
			votes[v[1]] = n
		}
	}
	return patchSet, votes, len(votes) > 0
}

// judge decides whether vote v on label counts toward approval.
func (rv *review) judge(label string, v Vote) ballot {
	b := ballot{Vote: v, merged: rv.merged}
	if v.Account.ID <= 0 {
		b.Why = "vote by an unidentified account"
		return b
	}
	if !rv.self {
		switch {
		case rv.ch.Owner.ID <= 0:
			b.Why = "the change owner is unknown" + selfNote
			return b
		case rv.ch.Owner.ID == v.Account.ID:
			b.Why = "change owner" + selfNote
			return b
		}
	}
	c, known := rv.cast[castKey{v.Account.ID, label}]
	switch {
	case known && c.value == v.Value:
		b.PatchSet = c.patchSet
	case v.PostSubmit || rv.merged == 1:
		b.PatchSet = rv.merged
	}
	if b.PatchSet != 0 {
		b.Why = rv.problem(b.PatchSet, v.Account)
		b.Counts = b.Why == ""
		return b
	}
	for ps := 1; ps <= rv.merged; ps++ {
		if why := rv.problem(ps, v.Account); why != "" {
			b.Why = fmt.Sprintf("no change message says which patch set it was cast on, and if it was patch set %d: %s", ps, why)
			return b
		}
	}
	if rv.merged < 1 {
		b.Why = "the merged patch set has no number"
		return b
	}
	b.Counts = true
	return b
}

// selfNote ends the reasons that selfApproval: true would lift.
const selfNote = ", and selfApproval is false"

// problem says why a vote by a cast on patch set ps would not count, or "".
func (rv *review) problem(ps int, a Account) string {
	if ps < 1 || ps > rv.merged {
		return fmt.Sprintf("cast on patch set %d, but patch set %d merged", ps, rv.merged)
	}
	for k := ps + 1; k <= rv.merged; k++ {
		rev, ok := rv.byNum[k]
		if !ok {
			return fmt.Sprintf("cast on patch set %d, and patch set %d is unknown, so the copy onto merged patch set %d cannot be checked", ps, k, rv.merged)
		}
		if !copySafe(rev.Kind) {
			kind := rev.Kind
			if kind == "" {
				kind = "of unknown kind"
			}
			return fmt.Sprintf("cast on patch set %d, but patch set %d is %s: a vote does not carry over a code change", ps, k, kind)
		}
	}
	if rv.self {
		return ""
	}
	for k := ps; k >= 1; k-- {
		rev, ok := rv.byNum[k]
		if !ok {
			return fmt.Sprintf("patch set %d is unknown, so its uploader cannot be ruled out", k) + selfNote
		}
		if rev.Uploader.ID <= 0 {
			return fmt.Sprintf("the uploader of patch set %d is unknown", k) + selfNote
		}
		if rev.Uploader.ID == a.ID {
			if k == ps {
				return fmt.Sprintf("uploader of patch set %d, the one reviewed", k) + selfNote
			}
			return fmt.Sprintf("uploader of patch set %d, whose code the reviewed patch set %d carries", k, ps) + selfNote
		}
		if rev.Kind == "REWORK" {
			break
		}
	}
	return ""
}

// ballots judges the votes on label at or above min, in Gerrit's order.
func (rv *review) ballots(label string, min int) []ballot {
	var out []ballot
	for _, v := range rv.ch.Labels[label] {
		if v.Value >= min {
			out = append(out, rv.judge(label, v))
		}
	}
	return out
}

// String shows a vote with what matters about it: "bob +2", "bob +2 (after
// submit)", "bob +2 (on patch set 1)" when it was cast on an earlier patch
// set than the merged one, and why it does not count.
func (b ballot) String() string {
	s := b.Account.Display() + " " + FormatValue(b.Value)
	var notes []string
	if b.PostSubmit {
		notes = append(notes, "after submit")
	}
	if b.PatchSet != 0 && b.PatchSet != b.merged {
		notes = append(notes, fmt.Sprintf("on patch set %d", b.PatchSet))
	}
	if !b.Counts {
		notes = append(notes, "not counted: "+b.Why)
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}

func ballotList(bs []ballot) string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.String()
	}
	return strings.Join(out, ", ")
}
