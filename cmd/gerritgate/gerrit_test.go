package main

import (
	"slices"
	"testing"

	"github.com/gerritgate/gerritgate/gate"
)

// A bound reader is checked against the branches the policy gates for a
// project: each once, none for a project the policy does not gate.
func TestGatedBranches(t *testing.T) {
	pc, err := gate.ParsePolicy("policy.yaml", []byte(`repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: p, baseline: upstream}
  - project: platform/fleet
    branch: stable
    environments:
      - {name: legacy, policy: p, baseline: upstream}
  - project: "apps/*"
    branch: release
    environments:
      - {name: prod, policy: p, baseline: upstream}
      - {name: staging, policy: p, baseline: upstream}
policies:
  p:
    labels: {Code-Review: {min: 2}}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		project string
		want    []string
	}{
		{"platform/fleet", []string{"main", "stable"}},
		{"apps/web", []string{"release"}},
		{"apps/web/deep", nil},
		{"other", nil},
	}
	for _, tt := range tests {
		if got := gatedBranches(pc, tt.project); !slices.Equal(got, tt.want) {
			t.Errorf("gatedBranches(%q) = %q, want %q", tt.project, got, tt.want)
		}
	}
	if got := gatedBranches(nil, "platform/fleet"); got != nil {
		t.Errorf("without a policy: %q, want none", got)
	}
}
