package main

import (
	"fmt"
	"io"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
)

// printDecision writes a result for people: the outcome, then each commit
// with its rules (all of them, or only the failing ones).
func printDecision(w io.Writer, r deploy.Result, allRules bool) {
	fmt.Fprintf(w, "%s %s -> deploy/%s (policy %s): %s: %s\n", r.Project, r.Branch, r.Env, r.Policy, r.Reason, r.Message)
	if d := r.Debt; d != nil {
		due := "due " + d.Expires.Format(time.RFC3339)
		if d.Overdue {
			due = "OVERDUE since " + d.Expires.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  override debt: %d of %d commits not approved, owed for %s (since %s), %s; the verdicts below are on the commits the override let through\n",
			len(d.Unapproved), len(d.Commits), time.Duration(d.AgeSeconds)*time.Second, d.Since.Format(time.RFC3339), due)
	}
	if r.Decision == nil {
		return
	}
	for _, v := range r.Decision.Verdicts {
		mark := "approved    "
		if !v.Approved {
			mark = "NOT APPROVED"
		}
		change := ""
		if v.Change != 0 {
			change = fmt.Sprintf(" (change %d)", v.Change)
		}
		fmt.Fprintf(w, "  %s %s %q%s\n", mark, v.SHA[:12], v.Subject, change)
		for _, rule := range v.Rules {
			if rule.Pass && !allRules {
				continue
			}
			m := "pass"
			if !rule.Pass {
				m = "FAIL"
			}
			fmt.Fprintf(w, "      %s %s: %s\n", m, rule.Name, rule.Detail)
		}
	}
}
