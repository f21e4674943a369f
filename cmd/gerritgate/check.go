package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
)

// cmdCheck validates a policy file and prints what each environment
// requires.
func cmdCheck(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: gerritgate check policy.yaml")
	}
	pc, err := gate.LoadPolicy(args[0])
	if err != nil {
		return err
	}
	for _, r := range pc.Repos {
		for _, e := range r.Environments {
			accepts := ""
			if len(r.AcceptFrom) > 0 {
				accepts = ", also changes merged into " + strings.Join(r.AcceptFrom, ", ")
			}
			fmt.Fprintf(stdout, "%s %s -> deploy/%s (policy %s, baseline %s%s)\n", r.Project, r.Branch, e.Name, e.Policy, e.Baseline, accepts)
			for _, line := range pc.Policies[e.Policy].Summary() {
				fmt.Fprintf(stdout, "  - %s\n", line)
			}
			for _, line := range e.RulesSummary() {
				fmt.Fprintf(stdout, "  - %s\n", line)
			}
		}
		if order := promotionOrder(r); order != "" {
			fmt.Fprintf(stdout, "%s %s promotes %s\n", r.Project, r.Branch, order)
		}
	}
	fmt.Fprintln(stdout, "policy OK")
	return nil
}
