package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
)

// cmdCheck validates a policy file and prints what each environment
// requires, then each repo entry's environment graph with its rules.
func cmdCheck(args []string, stdout io.Writer) error {
	const use = "usage: gerritgate check policy.yaml"
	if len(args) != 1 || isHelp(args[0]) {
		return usageError(args, stdout, use)
	}
	if strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("check takes no flags, only a policy file; for a file named %q write ./%s", args[0], args[0])
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
		fmt.Fprintf(stdout, "%s %s environments, each under the one it comes after:\n", r.Project, r.Branch)
		for _, line := range environmentTree(r) {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
	}
	fmt.Fprintln(stdout, "policy OK")
	return nil
}

// isHelp reports whether arg asks for a command's usage.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// usageError prints use and returns flag.ErrHelp (exit 0) when args ask
// for help, and returns use as the error otherwise.
func usageError(args []string, w io.Writer, use string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(w, use)
		return flag.ErrHelp
	}
	return errors.New(use)
}
