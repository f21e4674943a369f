package main

import (
	"fmt"
	"io"

	"github.com/gerritgate/gerritgate/deploy"
)

// printDecision writes a result for people: the outcome, then each commit
// with its rules (all of them, or only the failing ones).
func printDecision(w io.Writer, r deploy.Result, allRules bool) {
	fmt.Fprintf(w, "%s %s -> deploy/%s (policy %s): %s: %s\n", r.Project, r.Branch, r.Env, r.Policy, r.Reason, r.Message)
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
