package gate

import (
	"fmt"
	"strings"
)

// Rule names, as they appear in Verdict.Rules. Label and veto rules are
// named "label <Label>" and "veto <Label>".
const (
	RuleProvenance   = "provenance"
	RuleMerged       = "merged"
	RuleRequirements = "submit requirements"
	RuleApprovers    = "approvers"
	RuleOwners       = "owners"
)

// Submit requirement statuses as Gerrit stores them. Any other status
// (TIMEOUT on newer servers, or one not invented yet) is not met.
const (
	StatusSatisfied     = "SATISFIED"
	StatusUnsatisfied   = "UNSATISFIED"
	StatusOverridden    = "OVERRIDDEN"
	StatusNotApplicable = "NOT_APPLICABLE"
	StatusError         = "ERROR"
	StatusForced        = "FORCED"
)

func rule(name string, pass bool, format string, args ...any) Rule {
	return Rule{Name: name, Pass: pass, Detail: fmt.Sprintf(format, args...)}
}

// mergedRule: the commit is the merged patch set of a MERGED change that
// was submitted through review.
func mergedRule(c Commit, ch Change) Rule {
	rev := ch.Revisions[c.SHA]
	switch {
	case ch.Status != "MERGED":
		status := ch.Status
		if status == "" {
			status = "of no status"
		}
		return rule(RuleMerged, false, "change %d is %s, not MERGED", ch.Number, status)
	case ch.CurrentRevision != c.SHA:
		return rule(RuleMerged, false, "commit is patch set %d of change %d, but the change merged another patch set", rev.Number, ch.Number)
	case ch.Submitter.ID == 0:
		return rule(RuleMerged, false, "change %d was merged by a direct push, not submitted through review", ch.Number)
	}
	how := ""
	if rev.Number > 1 && rev.Kind != "" {
		how = fmt.Sprintf(", %s uploaded by %s", rev.Kind, rev.Uploader.Display())
	}
	return rule(RuleMerged, true, "merged revision (patch set %d%s) of change %d, submitted by %s", rev.Number, how, ch.Number, ch.Submitter.Display())
}

// labelRule: at least one counted vote at or above min.
func labelRule(rv *review, label string, min int) Rule {
	name := "label " + label
	var counted, discounted []ballot
	for _, b := range rv.ballots(label, min) {
		if b.Counts {
			counted = append(counted, b)
		} else {
			discounted = append(discounted, b)
		}
	}
	if len(counted) > 0 {
		detail := fmt.Sprintf("%s %s or more by %s", label, FormatValue(min), ballotList(counted))
		if len(discounted) > 0 {
			detail += "; also " + ballotList(discounted)
		}
		return rule(name, true, "%s", detail)
	}
	var seen []string
	for _, v := range rv.ch.Labels[label] {
		if v.Value != 0 && v.Value < min {
			seen = append(seen, v.Account.Display()+" "+FormatValue(v.Value))
		}
	}
	for _, b := range discounted {
		seen = append(seen, b.String())
	}
	votes := "no votes"
	if len(seen) > 0 {
		votes = "votes: " + strings.Join(seen, ", ")
	}
	return rule(name, false, "needs %s %s or more; %s", label, FormatValue(min), votes)
}

// vetoRule: no vote at all at or below limit, whoever cast it and when.
func vetoRule(ch Change, label string, limit int) Rule {
	name := "veto " + label
	var vetoes []string
	for _, vote := range ch.Labels[label] {
		if vote.Value <= limit {
			s := fmt.Sprintf("%s %s by %s", label, FormatValue(vote.Value), vote.Account.Display())
			if vote.PostSubmit {
				s += " (after submit)"
			}
			vetoes = append(vetoes, s)
		}
	}
	if len(vetoes) > 0 {
		return rule(name, false, "vetoed: %s", strings.Join(vetoes, ", "))
	}
	return rule(name, true, "no %s vote at %s or below", label, FormatValue(limit))
}

// approversRule: n distinct accounts with a counted Code-Review vote at or
// above min.
func approversRule(rv *review, min, n int) Rule {
	var counted, discounted []ballot
	seen := map[int]bool{}
	for _, b := range rv.ballots(ReviewLabel, min) {
		switch {
		case !b.Counts:
			discounted = append(discounted, b)
		case !seen[b.Account.ID]:
			seen[b.Account.ID] = true
			counted = append(counted, b)
		}
	}
	want := fmt.Sprintf("%d distinct accounts with %s %s or more", n, ReviewLabel, FormatValue(min))
	got := "none"
	if len(counted) > 0 {
		got = fmt.Sprintf("%d: %s", len(counted), ballotList(counted))
	}
	if len(discounted) > 0 {
		got += "; " + ballotList(discounted)
	}
	if len(counted) >= n {
		return rule(RuleApprovers, true, "needs %s, has %s", want, got)
	}
	return rule(RuleApprovers, false, "needs %s, has %s", want, got)
}

// requirementsRule checks Gerrit's stored submit requirement results.
func requirementsRule(p *Policy, ch Change) Rule {
	met := func(status string, named bool) (bool, string) {
		switch status {
		case StatusSatisfied:
			return true, ""
		case StatusNotApplicable:
			if named {
				return false, "named in the policy, so it must be SATISFIED"
			}
			return true, ""
		case StatusOverridden, StatusForced:
			if p.AllowOverridden {
				return true, "allowOverridden"
			}
			return false, "allowOverridden is false"
		case StatusUnsatisfied, StatusError:
			return false, ""
		}
		return false, "unknown status, not met"
	}
	show := func(sr SubmitRequirement, note string) string {
		s := sr.Name + " " + sr.Status
		if sr.Status == "" {
			s = sr.Name + " (no status)"
		}
		if note != "" {
			s += " (" + note + ")"
		}
		return s
	}
	var ok, bad []string
	if p.SubmitRequirements.AllApplicable {
		if len(ch.SubmitRequirements) == 0 {
			return rule(RuleRequirements, false, "Gerrit reported no submit requirement results for change %d", ch.Number)
		}
		for _, sr := range ch.SubmitRequirements {
			if m, note := met(sr.Status, false); m {
				ok = append(ok, show(sr, note))
			} else {
				bad = append(bad, show(sr, note))
			}
		}
	}
	for _, name := range p.SubmitRequirements.Names {
		found := false
		for _, sr := range ch.SubmitRequirements {
			if sr.Name != name {
				continue
			}
			found = true
			if m, note := met(sr.Status, true); m {
				ok = append(ok, show(sr, note))
			} else {
				bad = append(bad, show(sr, note))
			}
		}
		if !found {
			bad = append(bad, fmt.Sprintf("%s not reported by Gerrit", name))
		}
	}
	if len(bad) > 0 {
		detail := "not met: " + strings.Join(bad, ", ")
		if len(ok) > 0 {
			detail += "; met: " + strings.Join(ok, ", ")
		}
		return rule(RuleRequirements, false, "%s", detail)
	}
	return rule(RuleRequirements, true, "met: %s", strings.Join(ok, ", "))
}
