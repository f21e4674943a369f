package gerrittest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
)

// AddReviewer makes an account a reviewer, so it appears in labels with a
// 0 placeholder vote.
func (s *Server) AddReviewer(number int, reviewer gate.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.changeFor(number)
	if err != nil {
		return err
	}
	a, err := s.accountFor(reviewer)
	if err != nil {
		return err
	}
	c.reviewers[a.ID] = true
	c.updated = s.tick()
	return nil
}

// ReviewInput is a review: a message and votes by one account.
type ReviewInput struct {
	Message string
	Tag     string
	Labels  map[string]int
}

// Vote records one vote on the current patch set, with the change message
// Gerrit writes ("Patch Set 1: Code-Review+2"). On a merged change the vote
// is post-submit, and, as in Gerrit, may not lower the voter's earlier vote
// nor be cast on a label that disallows post-submit votes.
func (s *Server) Vote(number int, voter gate.Account, label string, value int) error {
	return s.Review(number, voter, ReviewInput{Labels: map[string]int{label: value}})
}

// Review posts a review on the current patch set.
func (s *Server) Review(number int, voter gate.Account, in ReviewInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.changeFor(number)
	if err != nil {
		return err
	}
	a, err := s.accountFor(voter)
	if err != nil {
		return err
	}
	return s.review(c, a, c.current().number, in)
}

func (s *Server) review(c *change, a *account, psNum int, in ReviewInput) error {
	// Gerrit 3.13.5 takes votes on an outdated patch set too (after merge
	// as well, when they do not lower a vote there); they stay on it.
	if len(in.Labels) > 0 && c.status == StatusAbandoned {
		return errorf(409, "change is abandoned")
	}
	cur := c.approvalsOn(psNum)
	names := make([]string, 0, len(in.Labels))
	for name := range in.Labels {
		names = append(names, name)
	}
	sort.Strings(names)
	var changed []string
	values := map[string]int{}
	for _, name := range names {
		v := in.Labels[name]
		l, ok := c.project.label(name)
		if !ok {
			return errorf(400, "label \"%s\" is not a configured label", name)
		}
		if _, ok := l.Values[v]; !ok {
			return errorf(400, "label \"%s\": %d is not a valid value", name, v)
		}
		prev := cur[l.Name][a.ID]
		if c.status == StatusMerged {
			if l.DisallowPostSubmit {
				return errorf(409, "Voting on labels disallowed after submit: %s", l.Name)
			}
			if v < prev.value {
				return errorf(409, "Cannot reduce vote on labels for closed change: %s", l.Name)
			}
		}
		if v != prev.value {
			changed = append(changed, l.Name)
			values[l.Name] = v
		}
	}
	if len(changed) == 0 && in.Message == "" {
		return nil
	}
	now := s.tick()
	var text strings.Builder
	fmt.Fprintf(&text, "Patch Set %d:", psNum)
	for _, name := range changed {
		l, _ := c.project.label(name)
		v := values[name]
		if cur[l.Name] == nil {
			cur[l.Name] = map[int]approval{}
		}
		if v == 0 {
			delete(cur[l.Name], a.ID)
			fmt.Fprintf(&text, " -%s", l.Name)
		} else {
			cur[l.Name][a.ID] = approval{value: v, date: now, tag: in.Tag, postSubmit: c.status == StatusMerged}
			fmt.Fprintf(&text, " %s%s", l.Name, formatVote(v))
		}
	}
	if in.Message != "" {
		text.WriteString("\n\n" + in.Message)
	}
	if len(changed) > 0 {
		c.reviewers[a.ID] = true
	}
	s.addMessage(c, a.ID, now, psNum, in.Tag, text.String())
	s.emitChange("comment-added", c)
	return nil
}

func formatVote(v int) string {
	if v > 0 {
		return fmt.Sprintf("+%d", v)
	}
	return fmt.Sprintf("%d", v)
}
