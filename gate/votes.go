package gate

// Which votes count.
//
// Gerrit reports, for a merged change, the votes on the merged patch set:
// cast on it, or copied onto it from an earlier patch set by the label's
// copy condition, or (for a rebasing or cherry-picking submit) copied onto
// the patch set that submit wrote. The gate decides for itself whether each
// vote may count toward Labels, Approvers and Owners:
//
//   - The patch set a vote was cast on is taken from the change messages:
//     of the "Patch Set N: Label+V" (or "Uploaded patch set N: ...")
//     messages posted by the voter that mention the label, the latest on
//     the highest patch set, when it records the value Gerrit reports.
//     Gerrit accepts votes on outdated patch sets (after merge too, when
//     they do not lower a vote), and those do not change the vote on the
//     merged patch set. Gerrit writes such a message for every vote,
//     and a user cannot write one for someone else: a review message a
//     user posts always starts with Gerrit's own "Patch Set N:" line,
//     which records only that user's votes.
//   - With SelfApproval, a vote no message records counts when it is a
//     post-submit vote or the merged patch set is 1 (it was cast on the
//     merged patch set), or when it would count whichever patch set up to
//     the merged one it was cast on. Without SelfApproval it does not
//     count: who cast it, on whose behalf, is unknown.
//   - A vote cast on patch set P counts for the merged patch set M only if
//     every patch set after P up to M is a TRIVIAL_REBASE,
//     TRIVIAL_REBASE_WITH_MESSAGE_UPDATE, NO_CODE_CHANGE,
//     MERGE_FIRST_PARENT_UPDATE or NO_CHANGE of the one before (copy-safe
//     kinds): the code it reviewed is the code that merged. A vote Gerrit
//     copied across a REWORK (or a patch set of unknown kind) does not
//     count; a vote cast on the REWORK patch set itself does.
//   - Without SelfApproval, a vote cast on P does not count when its voter
//     (or, for a vote posted on the voter's behalf, the account that
//     posted it: the message's real_author) may have written code in P:
//     the change owner; the uploader of patch set 1 or of any patch set up
//     to P that is not of a copy-safe kind (REWORK, unknown kinds), across
//     every REWORK, since Gerrit does not say what of an earlier rework
//     survived; and the git author of any patch set up to P, matched
//     case-insensitively by the email Gerrit reports for the account. The
//     uploader of a copy-safe patch set wrote no code (a reviewer who
//     pressed Rebase, a submitter whose rebasing or cherry-picking submit
//     wrote the merged patch set) and still counts. A patch set that is
//     missing, an uploader without an account id, a git author without an
//     email, or a voter whose email Gerrit does not report leaves the
//     question open, and the vote does not count. Emails are compared with
//     the account's preferred email only: a secondary email of the voter
//     used as git author is not seen.
//
// Vetoes count every vote at or below the limit whoever cast it, as Gerrit
// lists it on the merged patch set and as the change messages record it on
// any patch set: a voter's veto stands until the same voter replaces it
// with another value (or removes it: "-Label") on the same or a later patch
// set. The latest record on the highest patch set the voter voted on is
// what stands, so a voter who changed -2 to +1 on patch set 1 does not
// veto, and one who vetoed patch set 2 is not lifted by a +1 they post on
// patch set 1 afterwards. A veto on patch set 1 that the label's copy
// condition dropped from patch set 2 still vetoes. A vote Gerrit deleted
// (its message "Removed Label-2 by <GERRIT_ACCOUNT_N>", written when the
// voter or an account with the Remove Reviewer permission deletes the vote
// or the reviewer) is replaced by 0 on that message's patch set; the
// owner cannot delete a negative vote. A label Gerrit does not report on
// the change at all fails the veto rule: Gerrit lists every label that
// applies to a change, voted or not, so a missing one is a misspelt or
// removed label, not the absence of a veto; so does a veto below the
// label's lowest value, which no vote can reach, and a change merged after
// patch set 1 that has no change messages at all. These veto rules apply
// to every change of the project that has the commit as a patch set, on
// any branch and in any status, not only to the one that approves it
// (vetoedElsewhere in evaluate.go).

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	// The first line of a change message that records votes.
	voteLineRE = regexp.MustCompile(`^(?:Patch Set|Uploaded patch set) ([1-9][0-9]{0,5})(?::(.*))?$`)
	voteRE     = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9-]*?)([+-][0-9]{1,3})$`)
	removeRE   = regexp.MustCompile(`^-([A-Za-z0-9][A-Za-z0-9-]*)$`)
	// A vote Gerrit removed: "Removed Code-Review-2 by <GERRIT_ACCOUNT_1000005>",
	// or one line "* Code-Review-2 by <GERRIT_ACCOUNT_1000005>" of "Removed
	// reviewer ... with the following votes:".
	removedRE = regexp.MustCompile(`^(?:Removed |\* )([A-Za-z0-9][A-Za-z0-9-]*?)[+-][0-9]{1,3} by <GERRIT_ACCOUNT_([1-9][0-9]{0,9})>$`)
)

// copySafe reports whether a patch set of this kind has the code of the one
// before it, so that a vote may carry across it. It names every kind
// Gerrit reports (ChangeKind); a kind it does not know, or none, may hold
// new code and is not copy-safe.
func copySafe(kind string) bool {
	switch kind {
	case "TRIVIAL_REBASE", "TRIVIAL_REBASE_WITH_MESSAGE_UPDATE", "NO_CODE_CHANGE", "MERGE_FIRST_PARENT_UPDATE", "NO_CHANGE":
		return true
	case "REWORK":
		return false
	default:
		return false
	}
}

// copySafeKinds lists the kinds copySafe accepts, in the order the policy
// summary names them.
func copySafeKinds() []string {
	return []string{"TRIVIAL_REBASE", "TRIVIAL_REBASE_WITH_MESSAGE_UPDATE", "NO_CODE_CHANGE", "MERGE_FIRST_PARENT_UPDATE", "NO_CHANGE"}
}

// review is one change seen from its merged patch set.
type review struct {
	ch     Change
	merged int // patch set number of the merged revision
	byNum  map[int]Revision
	// cast is the record of each voter's vote on each label that reached
	// the newest patch set: on the highest patch set the voter voted on,
	// the latest there (a vote cast later on an older patch set, which
	// Gerrit accepts even after merge, does not replace it); standing is
	// the same for vetoes, also from messages filed under another patch
	// set and with Gerrit's removals.
	cast     map[castKey]castOn
	standing map[castKey]castOn
	self     bool // the policy lets self-approvals count
}

type castKey struct {
	account int
	label   string
}

type castOn struct {
	patchSet int
	value    int
	voter    Account
	by       Account // who posted it on the voter's behalf; zero if the voter did
}

// ballot is one vote as the gate judged it.
type ballot struct {
	Vote
	PatchSet int     // cast on; 0 when no message says
	By       Account // posted on the voter's behalf by; zero if not
	Counts   bool
	Why      string // why it does not count
	merged   int    // the merged patch set, for String
}

func newReview(p *Policy, ch Change, mergedSHA string) *review {
	rv := &review{ch: ch, merged: ch.Revisions[mergedSHA].Number, byNum: map[int]Revision{},
		cast: map[castKey]castOn{}, standing: map[castKey]castOn{}, self: p.SelfApproval}
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
		for _, k := range parseRemovals(m.Message) {
			// Gerrit names the patch set a removal happened on only in
			// _revision_number; without it the removal lifts nothing.
			if prev, seen := rv.standing[k]; m.RevisionNumber > 0 && (!seen || m.RevisionNumber >= prev.patchSet) {
				rv.standing[k] = castOn{patchSet: m.RevisionNumber, voter: Account{ID: k.account}}
			}
		}
		ps, votes, ok := parseVoteMessage(m.Message)
		if !ok {
			continue
		}
		// A message filed under another patch set than it names proves no
		// patch set for a vote to count, but a veto in it still stands,
		// as if cast on the later of the two.
		mismatch := m.RevisionNumber != 0 && m.RevisionNumber != ps
		for label, value := range votes {
			k := castKey{m.Author.ID, label}
			on := castOn{patchSet: max(ps, m.RevisionNumber), value: value, voter: m.Author}
			if m.RealAuthor.ID != 0 && m.RealAuthor.ID != m.Author.ID {
				on.by = m.RealAuthor
			}
			if prev, seen := rv.cast[k]; !mismatch && (!seen || ps >= prev.patchSet) {
				rv.cast[k] = on
			}
			if prev, seen := rv.standing[k]; !seen || on.patchSet >= prev.patchSet {
				rv.standing[k] = on
			}
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

// parseRemovals reads the votes a change message says Gerrit removed
// ("Removed Code-Review-2 by <GERRIT_ACCOUNT_1000005>", or "Removed
// reviewer ... with the following votes:" and a line per vote). Only
// Gerrit writes a message that starts with "Removed": one a user posts
// starts with "Patch Set N:".
func parseRemovals(msg string) []castKey {
	if !strings.HasPrefix(msg, "Removed ") {
		return nil
	}
	var out []castKey
	for _, line := range strings.Split(msg, "\n") {
		if m := removedRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			id, _ := strconv.Atoi(m[2])
			out = append(out, castKey{account: id, label: m[1]})
		}
	}
	return out
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
	recorded := known && c.value == v.Value
	switch {
	case recorded:
		b.PatchSet, b.By = c.patchSet, c.by
	case !rv.self:
		b.Why = "no change message records this vote, so who cast it, and on whose behalf, is unknown" + selfNote
		return b
	case v.PostSubmit || rv.merged == 1:
		b.PatchSet = rv.merged
	}
	if b.PatchSet != 0 {
		b.Why = rv.problem(b.PatchSet, v.Account)
		if b.Why == "" && b.By.ID != 0 && !rv.self {
			b.Why = rv.poster(b.PatchSet, b.By)
		}
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
			return fmt.Sprintf("cast on patch set %d, but patch set %d is %s: a vote does not carry over a code change", ps, k, kindName(rev.Kind))
		}
	}
	if rv.self {
		return ""
	}
	return rv.authorship(ps, a)
}

// poster says why a vote posted on its voter's behalf by a, cast on patch
// set ps, does not count: a may not approve code a may have written.
func (rv *review) poster(ps int, a Account) string {
	if a.ID == rv.ch.Owner.ID {
		return fmt.Sprintf("posted on the voter's behalf by %s, the change owner", a.Display()) + selfNote
	}
	if why := rv.authorship(ps, a); why != "" {
		return fmt.Sprintf("posted on the voter's behalf by %s, who is the %s", a.Display(), why)
	}
	return ""
}

// authorship says how a may have written code that patch set ps holds
// (see the top of this file), or "".
func (rv *review) authorship(ps int, a Account) string {
	for k := ps; k >= 1; k-- {
		rev, ok := rv.byNum[k]
		if !ok {
			return fmt.Sprintf("patch set %d is unknown, so its uploader and author cannot be ruled out", k) + selfNote
		}
		if k == 1 || !copySafe(rev.Kind) {
			switch {
			case rev.Uploader.ID <= 0:
				return fmt.Sprintf("the uploader of patch set %d is unknown", k) + selfNote
			case rev.Uploader.ID == a.ID && k == ps:
				return fmt.Sprintf("uploader of patch set %d, the one reviewed", k) + selfNote
			case rev.Uploader.ID == a.ID:
				return fmt.Sprintf("uploader of patch set %d (%s), whose code the reviewed patch set %d may carry", k, kindName(rev.Kind), ps) + selfNote
			}
		}
		switch {
		case rev.Author.Email == "":
			return fmt.Sprintf("the git author of patch set %d is unknown", k) + selfNote
		case a.Email == "":
			return fmt.Sprintf("Gerrit reports no email for %s, so they cannot be ruled out as git author of patch set %d (%s)", a.Display(), k, rev.Author.Email) + selfNote
		case strings.EqualFold(strings.TrimSpace(rev.Author.Email), strings.TrimSpace(a.Email)):
			return fmt.Sprintf("git author (%s) of patch set %d", rev.Author.Email, k) + selfNote
		}
	}
	return ""
}

func kindName(kind string) string {
	if kind == "" {
		return "of unknown kind"
	}
	return kind
}

// recordedVetoes lists the standing vetoes on label at or below limit that the
// change messages record and Gerrit no longer lists, for voters not in
// listed.
func (rv *review) recordedVetoes(label string, limit int, listed map[int]bool) []castOn {
	var out []castOn
	for k, c := range rv.standing {
		if k.label == label && c.value <= limit && !listed[k.account] {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].patchSet != out[j].patchSet {
			return out[i].patchSet < out[j].patchSet
		}
		return out[i].voter.ID < out[j].voter.ID
	})
	return out
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
	if b.By.ID != 0 {
		notes = append(notes, "posted on its behalf by "+b.By.Display())
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
