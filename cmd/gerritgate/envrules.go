package main

import (
	"fmt"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
)

// notEnforced refuses a policy that sets after, soak, windows or freezes:
// this version parses and checks them (gerritgate check) but the
// reconcile does not obey them yet, and a policy that says "prod only
// after staging" must not deploy prod early. The service refuses to start
// with one, and a reload keeps the last good policy.
func notEnforced(pc *gate.Config) error {
	var timed []string
	for _, r := range pc.Repos {
		for _, e := range r.Environments {
			if e.Timed() {
				timed = append(timed, fmt.Sprintf("%s %s -> deploy/%s", r.Project, r.Branch, e.Name))
			}
		}
	}
	if len(timed) == 0 {
		return nil
	}
	return fmt.Errorf("%s set after, soak, windows or freezes, which this version checks but does not enforce yet: gerritgate serve refuses the policy rather than deploy early", strings.Join(timed, ", "))
}

// promotionOrder shows the after edges of one repo entry, as
// "staging -> prod"; "" when there are none.
func promotionOrder(r gate.Repo) string {
	var edges []string
	for _, e := range r.Environments {
		if e.After == "" {
			continue
		}
		edges = append(edges, e.After+" -> "+e.Name)
	}
	return strings.Join(edges, ", ")
}
