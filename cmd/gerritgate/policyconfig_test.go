package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/gate"
)

const reviewedConfig = `dataDir: ./data
gerrit:
  url: http://127.0.0.1:8081
policy:
  project: platform/gate-policy
  branch: main
  path: policy.yaml
policyPolicy:
  group: gate-admins
`

func TestParseConfigReviewedPolicy(t *testing.T) {
	tests := []struct {
		what, from, to string
		want           PolicyInGerrit
		wantPolicy     PolicyPolicyConfig
	}{
		{"defaults", "", "", PolicyInGerrit{"platform/gate-policy", "main", "policy.yaml"}, PolicyPolicyConfig{Group: "gate-admins", Approvals: 2}},
		{"flow mapping, nested path", "policy:\n  project: platform/gate-policy\n  branch: main\n  path: policy.yaml\n", "policy: {project: p, branch: release/1, path: gate/policy.yaml}\n",
			PolicyInGerrit{"p", "release/1", "gate/policy.yaml"}, PolicyPolicyConfig{Group: "gate-admins", Approvals: 2}},
		{"three approvals and Verified", "  group: gate-admins\n", "  group: gate-admins\n  approvals: 3\n  labels: {Verified: 1}\n",
			PolicyInGerrit{"platform/gate-policy", "main", "policy.yaml"}, PolicyPolicyConfig{Group: "gate-admins", Approvals: 3, Labels: map[string]int{"Verified": 1}}},
	}
	for _, tt := range tests {
		c, err := ParseConfig("/etc/gg/gerritgate.yaml", []byte(strings.Replace(reviewedConfig, tt.from, tt.to, 1)))
		if err != nil {
			t.Errorf("%s: %v", tt.what, err)
			continue
		}
		if c.PolicyReviewed == nil || *c.PolicyReviewed != tt.want || c.Policy != "" {
			t.Errorf("%s: reviewed policy = %+v (local %q), want %+v", tt.what, c.PolicyReviewed, c.Policy, tt.want)
		}
		if !reflect.DeepEqual(c.PolicyPolicy, tt.wantPolicy) {
			t.Errorf("%s: policyPolicy = %+v, want %+v", tt.what, c.PolicyPolicy, tt.wantPolicy)
		}
	}
}

func TestParseConfigReviewedPolicyErrors(t *testing.T) {
	tests := []struct {
		what, from, to, want string
	}{
		{"unknown key", "  path: policy.yaml\n", "  path: policy.yaml\n  ref: x\n", `gerritgate.yaml:8:8: unknown field "ref" in policy`},
		{"no path", "  path: policy.yaml\n", "", "gerritgate.yaml:5:10: policy.path is required"},
		{"no branch", "  branch: main\n", "", "gerritgate.yaml:5:10: policy.branch is required"},
		{"no project", "  project: platform/gate-policy\n", "", "gerritgate.yaml:5:9: policy.project is required"},
		{"empty branch", "branch: main", `branch: ""`, "gerritgate.yaml:6:11: policy.branch must be a non-empty string"},
		{"number as path", "path: policy.yaml", "path: 7", "gerritgate.yaml:7:9: policy.path must be a non-empty string"},
		{"list", "policy:\n  project: platform/gate-policy\n  branch: main\n  path: policy.yaml\n", "policy: [a]\n", "gerritgate.yaml:4:9: policy must be a file's path or a mapping"},
		{"bad project", "platform/gate-policy", "../x", "gerritgate.yaml:5:12: policy.project"},
		{"ref as branch", "branch: main", "branch: refs/heads/main", "gerritgate.yaml:6:11: policy.branch \"refs/heads/main\" must be a branch name"},
		{"path outside", "path: policy.yaml", "path: ../policy.yaml", "gerritgate.yaml:7:9: policy.path \"../policy.yaml\" must be a clean path"},
		{"absolute path", "path: policy.yaml", "path: /policy.yaml", "policy.path \"/policy.yaml\" must be a clean path"},
		{"no group", "policyPolicy:\n  group: gate-admins\n", "", "policyPolicy.group is required"},
		{"approvals", "  group: gate-admins\n", "  group: gate-admins\n  approvals: 0\n  labels: {Verified: 0}\n", "gerritgate.yaml:11:22: policyPolicy.labels.Verified must be a positive vote"},
		{"too many approvals", "  group: gate-admins\n", "  group: gate-admins\n  approvals: 50\n", "gerritgate.yaml:10:14: policyPolicy.approvals must be between 1 and 20"},
		{"Code-Review in labels", "  group: gate-admins\n", "  group: gate-admins\n  labels: {Code-Review: 2}\n", "policyPolicy.labels: bad label \"Code-Review\""},
		{"unknown policyPolicy key", "  group: gate-admins\n", "  group: gate-admins\n  grop: x\n", `gerritgate.yaml:10:3: unknown field "grop"`},
		{"policyPolicy with a local file", "policy:\n  project: platform/gate-policy\n  branch: main\n  path: policy.yaml\n", "policy: ./policy.yaml\n", "gerritgate.yaml:6:8: policyPolicy applies to a policy reviewed in Gerrit"},
	}
	for _, tt := range tests {
		src := strings.Replace(reviewedConfig, tt.from, tt.to, 1)
		if src == reviewedConfig {
			t.Fatalf("%s: replacement did not apply", tt.what)
		}
		_, err := ParseConfig("gerritgate.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.what, err, tt.want)
		}
	}
}

// The policyPolicy's rules: Code-Review +2 from the configured number of
// distinct group members, no self-approval, Code-Review -2 vetoes, and
// each extra label at its minimum with -1 vetoing.
func TestPolicyPolicyRules(t *testing.T) {
	got := PolicyPolicyConfig{Group: "gate-admins", Approvals: 2, Labels: map[string]int{"Verified": 1}}.Rules()
	want := &gate.Policy{
		Name:      "policyPolicy",
		Labels:    map[string]gate.LabelRule{"Code-Review": {Min: 2}, "Verified": {Min: 1}},
		Vetoes:    map[string]int{"Code-Review": -2, "Verified": -1},
		Approvers: 2,
		Owners:    []gate.OwnerRule{{Paths: []string{"**"}, Groups: []string{"gate-admins"}, Approvals: 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rules() = %+v, want %+v", got, want)
	}
}
