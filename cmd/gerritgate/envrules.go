package main

import (
	"github.com/gerritgate/gerritgate/gate"
)

// environmentTree draws the environments of one repo entry as a tree,
// each under the environment it comes after, with its policy and rules:
//
//	staging (policy reviewed)
//	└─ prod (policy prod, after staging, soak 30m)
//
// Environments are listed in the policy file's order. The after chains
// are a DAG with one parent each (ParsePolicy refuses cycles and unknown
// names), so every environment is drawn once.
func environmentTree(r gate.Repo) []string {
	children := map[string][]gate.Environment{}
	var roots []gate.Environment
	for _, e := range r.Environments {
		if e.After == "" {
			roots = append(roots, e)
		} else {
			children[e.After] = append(children[e.After], e)
		}
	}
	var out []string
	var draw func(e gate.Environment, lead, branch string)
	draw = func(e gate.Environment, lead, branch string) {
		out = append(out, lead+branch+e.Name+" ("+e.Brief()+")")
		switch branch {
		case "├─ ":
			lead += "│  "
		case "└─ ":
			lead += "   "
		}
		kids := children[e.Name]
		for i, k := range kids {
			b := "├─ "
			if i == len(kids)-1 {
				b = "└─ "
			}
			draw(k, lead, b)
		}
	}
	for _, e := range roots {
		draw(e, "", "")
	}
	return out
}
