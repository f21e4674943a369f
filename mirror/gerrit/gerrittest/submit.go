package gerrittest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
)

// Submit merges a change the way the project's submit type does:
//
//   - FAST_FORWARD_ONLY: the branch moves to the patch set; fails unless
//     that is a fast-forward.
//   - MERGE_IF_NECESSARY: fast-forward when possible, else a merge commit
//     with parents (old tip, change commit) and message `Merge "subject"`
//     (+ " into <branch>" unless the branch is master).
//   - MERGE_ALWAYS: always that merge commit.
//   - REBASE_IF_NECESSARY: fast-forward when possible, else the commit is
//     rebased onto the tip as a new patch set uploaded by the submitter.
//   - REBASE_ALWAYS, CHERRY_PICK: always a new patch set on the tip, with
//     Reviewed-on/Reviewed-by footers added to the message.
//
// A new patch set gets the approvals of the one before, and becomes the
// current revision (the merged SHA). Submit checks no votes unless
// SetEnforceRequirements(true); the submit requirement results are stored
// with the change either way, as Gerrit stores them at submit time.
//
// A change whose parent is not yet on the branch (it depends on another
// open change) is refused: the simulator submits one change at a time.
func (s *Server) Submit(number int, submitter gate.Account) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.changeFor(number)
	if err != nil {
		return Change{}, err
	}
	sub, err := s.accountFor(submitter)
	if err != nil {
		return Change{}, err
	}
	if err := s.submit(c, sub); err != nil {
		return Change{}, err
	}
	return s.snapshot(c), nil
}

func submitFailed(number int, reason string) error {
	return errorf(409, "Failed to submit 1 change due to the following problems:\nChange %d: %s", number, reason)
}

func (s *Server) submit(c *change, sub *account) error {
	if c.status != StatusNew {
		return errorf(409, "change is %s", strings.ToLower(c.status))
	}
	p := c.project
	if s.enforce {
		for _, r := range s.evalRequirements(c) {
			switch r.Status {
			case "SATISFIED", "OVERRIDDEN", "NOT_APPLICABLE":
			default:
				return submitFailed(c.number, fmt.Sprintf("submit requirement '%s' is %s", r.Name, strings.ToLower(r.Status)))
			}
		}
	}
	ps := c.current()
	ref := "refs/heads/" + c.branch
	tip, err := s.revParse(p.dir, ref)
	if err != nil {
		return err
	}
	ff := true
	if tip != "" {
		for _, par := range ps.parents {
			ok, err := s.isAncestor(p.dir, par, tip)
			if err != nil {
				return err
			}
			if !ok {
				return submitFailed(c.number, "depends on change that was not submitted")
			}
		}
		if ff, err = s.isAncestor(p.dir, tip, ps.sha); err != nil {
			return err
		}
	}

	now := s.tick()
	subIdent := ident{sub.Name, sub.Email, now}
	newTip := ps.sha
	rebased := false
	switch p.submitType {
	case FastForwardOnly:
		if !ff {
			return submitFailed(c.number, "Project policy requires all submissions to be a fast-forward. Please rebase the change locally and upload again for review.")
		}
	case MergeIfNecessary, MergeAlways:
		if tip != "" && (!ff || p.submitType == MergeAlways) {
			tree, err := s.mergeTrees(p.dir, tip, ps.sha)
			if err == errConflict {
				return submitFailed(c.number, "Change could not be merged due to a path conflict. Please rebase the change locally and upload the rebased commit for review.")
			} else if err != nil {
				return err
			}
			msg := "Merge \"" + firstLine(ps.message) + "\""
			if c.branch != "master" {
				msg += " into " + c.branch
			}
			server := ident{serverIdentName, serverIdentAddress, now}
			if newTip, err = s.commitTree(p.dir, tree, []string{tip, ps.sha}, msg+"\n", subIdent, server); err != nil {
				return err
			}
		}
	case RebaseIfNecessary, RebaseAlways, CherryPick:
		if tip != "" && (!ff || p.submitType != RebaseIfNecessary) {
			tree, err := s.mergeTrees(p.dir, tip, ps.sha)
			if err == errConflict {
				return submitFailed(c.number, "Change could not be rebased due to a conflict during merge.")
			} else if err != nil {
				return err
			}
			msg := ps.message
			if p.submitType != RebaseIfNecessary {
				msg = s.withSubmitFooters(c, msg)
			}
			next, err := s.storePatchSet(p, c.number, ps.number+1, tree, []string{tip}, msg, ps.author, subIdent, sub.ID, now)
			if err != nil {
				return err
			}
			next.kind = changeKind(ps, next, true)
			// Submit copies every approval onto the patch set it creates.
			copied := map[string]map[int]approval{}
			for name, votes := range c.currentApprovals() {
				copied[name] = map[int]approval{}
				for acct, a := range votes {
					copied[name][acct] = a
				}
			}
			c.patchSets = append(c.patchSets, next)
			c.approvals[next.number] = copied
			newTip, rebased = next.sha, true
		}
	default:
		return errorf(500, "unknown submit type %s", p.submitType)
	}
	if err := s.updateRef(p.dir, ref, newTip, tip); err != nil {
		return err
	}
	c.storedSR = s.evalRequirements(c)
	c.status = StatusMerged
	c.submitted, c.mergedOn = now, now
	c.submitter = sub.ID
	c.submissionID = strconv.Itoa(c.number) // one change submitted alone
	var text string
	switch {
	case rebased && p.submitType == CherryPick:
		text = "Change has been successfully cherry-picked as " + newTip
	case rebased:
		text = "Change has been successfully rebased and submitted as " + newTip
	default:
		text = "Change has been successfully merged"
	}
	s.addMessage(c, sub.ID, now, c.current().number, "autogenerated:gerrit:merged", text)
	return nil
}

// MergeByPush marks a change merged because its current patch set was
// pushed straight to the branch (which must fast-forward), as Gerrit
// 3.13.5 records it: MERGED, the message "Change has been successfully
// pushed." by the pusher, who is also the submitter, and no submit
// requirement results at all.
func (s *Server) MergeByPush(number int, pusher gate.Account) (Change, error) {
	return s.mergeByPush(number, pusher, nil)
}

// MergeByPushAmended is MergeByPush of a different commit carrying the
// change's Change-Id: the pusher's own commit (files written over the
// current patch set, rebased onto the branch tip if that moved). Gerrit
// records it as a new patch set uploaded by the pusher, then merges.
func (s *Server) MergeByPushAmended(number int, pusher gate.Account, files map[string]string) (Change, error) {
	if files == nil {
		files = map[string]string{}
	}
	return s.mergeByPush(number, pusher, files)
}

func (s *Server) mergeByPush(number int, pusher gate.Account, amend map[string]string) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.changeFor(number)
	if err != nil {
		return Change{}, err
	}
	a, err := s.accountFor(pusher)
	if err != nil {
		return Change{}, err
	}
	if c.status != StatusNew {
		return Change{}, errorf(409, "change is %s", strings.ToLower(c.status))
	}
	p := c.project
	ref := "refs/heads/" + c.branch
	tip, err := s.revParse(p.dir, ref)
	if err != nil {
		return Change{}, err
	}
	now := s.tick()
	if amend != nil {
		old := c.current()
		parent, base := old.parents[0], old.sha
		if tip != "" && tip != parent {
			tree, err := s.mergeTrees(p.dir, tip, old.sha)
			if err != nil {
				return Change{}, errorf(409, "rebase of change %d: %v", number, err)
			}
			parent, base = tip, tree
		}
		id := ident{a.Name, a.Email, now}
		ps, err := s.writePatchSet(p, number, old.number+1, parent, base, contents(amend), old.message, id, id, a.ID, now)
		if err != nil {
			return Change{}, err
		}
		ps.kind = changeKind(old, ps, len(amend) == 0)
		s.addPatchSet(c, ps)
	}
	ps := c.current()
	if tip != "" {
		ok, err := s.isAncestor(p.dir, tip, ps.sha)
		if err != nil {
			return Change{}, err
		}
		if !ok {
			return Change{}, errorf(409, "push of change %d is not a fast-forward", number)
		}
	}
	if err := s.updateRef(p.dir, ref, ps.sha, tip); err != nil {
		return Change{}, err
	}
	c.storedSR = []srResult{}
	c.status = StatusMerged
	c.submitted, c.mergedOn = now, now
	c.submitter = a.ID
	c.submissionID = strconv.Itoa(c.number)
	s.addMessage(c, a.ID, now, ps.number, "autogenerated:gerrit:merged", "Change has been successfully pushed.")
	return s.snapshot(c), nil
}

// changeKind classifies a new patch set against the one before, as
// Gerrit's ChangeKindCache does. sameDelta says the new one applies the same
// diff (a rebase made by Gerrit, or an upload without file changes).
func changeKind(prev, next *patchSet, sameDelta bool) string {
	sameParents := strings.Join(prev.parents, " ") == strings.Join(next.parents, " ")
	sameMsg := prev.message == next.message
	switch {
	case sameParents && prev.tree == next.tree && sameMsg:
		return "NO_CHANGE"
	case sameParents && prev.tree == next.tree:
		return "NO_CODE_CHANGE"
	case !sameParents && sameDelta && sameMsg:
		return "TRIVIAL_REBASE"
	case !sameParents && sameDelta:
		return "TRIVIAL_REBASE_WITH_MESSAGE_UPDATE"
	}
	return "REWORK"
}

func firstLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\n")
	return line
}

// withSubmitFooters appends the footers CHERRY_PICK and REBASE_ALWAYS add:
// Reviewed-on, then one line per positive vote on the current patch set
// (Reviewed-by for Code-Review, Tested-by for Verified, else the label).
func (s *Server) withSubmitFooters(c *change, msg string) string {
	lines := []string{fmt.Sprintf("Reviewed-on: %s/c/%s/+/%d", s.URL(), c.project.name, c.number)}
	type vote struct {
		label string
		acct  int
		a     approval
	}
	var votes []vote
	for name, byAcct := range c.currentApprovals() {
		for acct, a := range byAcct {
			if a.value > 0 {
				votes = append(votes, vote{name, acct, a})
			}
		}
	}
	// Gerrit 3.13.5 writes Tested-by (Verified) before Reviewed-by
	// (Code-Review); labels in descending name order, then vote time,
	// reproduces that.
	sort.Slice(votes, func(i, j int) bool {
		if votes[i].label != votes[j].label {
			return votes[i].label > votes[j].label
		}
		if !votes[i].a.date.Equal(votes[j].a.date) {
			return votes[i].a.date.Before(votes[j].a.date)
		}
		return votes[i].acct < votes[j].acct
	})
	for _, v := range votes {
		key := v.label
		switch v.label {
		case "Code-Review":
			key = "Reviewed-by"
		case "Verified":
			key = "Tested-by"
		}
		a := s.accountByID(v.acct)
		line := fmt.Sprintf("%s: %s <%s>", key, a.Name, a.Email)
		if !contains(lines, line) && !strings.Contains(msg, "\n"+line+"\n") {
			lines = append(lines, line)
		}
	}
	return strings.TrimRight(msg, "\n") + "\n" + strings.Join(lines, "\n") + "\n"
}
