package main

import (
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/gate"
)

// The environment graph draws each environment once, under the one it
// comes after, in the policy file's order, with its rules.
func TestEnvironmentTree(t *testing.T) {
	env := func(name, after string) string {
		s := "      - name: " + name + "\n        policy: reviewed\n        baseline: upstream\n"
		if after != "" {
			s += "        after: " + after + "\n        soak: 1h30m\n"
		}
		return s
	}
	tests := []struct {
		what string
		envs string
		want []string
	}{
		{"one", env("prod", ""), []string{"prod (policy reviewed)"}},
		{"chain defined backwards", env("prod", "staging") + env("staging", "dev") + env("dev", ""), []string{
			"dev (policy reviewed)",
			"└─ staging (policy reviewed, after dev, soak 1h30m)",
			"   └─ prod (policy reviewed, after staging, soak 1h30m)",
		}},
		{"fan out with a grandchild", env("dev", "") + env("a", "dev") + env("b", "dev") + env("a2", "a") + env("other", ""), []string{
			"dev (policy reviewed)",
			"├─ a (policy reviewed, after dev, soak 1h30m)",
			"│  └─ a2 (policy reviewed, after a, soak 1h30m)",
			"└─ b (policy reviewed, after dev, soak 1h30m)",
			"other (policy reviewed)",
		}},
	}
	for _, tt := range tests {
		src := "repos:\n  - project: p\n    branch: main\n    environments:\n" + tt.envs + "policies:\n  reviewed:\n    labels: {Code-Review: {min: 2}}\n"
		pc, err := gate.ParsePolicy("policy.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", tt.what, err)
		}
		if got := environmentTree(pc.Repos[0]); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: tree\n%s\nwant\n%s", tt.what, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}
