package gate

import (
	"strings"
	"testing"
)

const goodPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - name: prod
        policy: reviewed
        baseline: upstream
policies:
  reviewed:
    labels: {Code-Review: {min: +2}, Verified: {min: 1}}
    vetoes: {Code-Review: -2}
`

func TestParsePolicy(t *testing.T) {
	c, err := ParsePolicy("policy.yaml", []byte(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policies["reviewed"]
	if p.Name != "reviewed" || p.Labels["Code-Review"].Min != 2 || p.Labels["Verified"].Min != 1 || p.Vetoes["Code-Review"] != -2 {
		t.Errorf("parsed policy = %+v", p)
	}
	if e := c.Repos[0].Environments[0]; e.Name != "prod" || e.Baseline != "upstream" {
		t.Errorf("environment = %+v", e)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		what string
		from string // replaced in goodPolicy
		to   string
		want string // error contains, with position
	}{
		{"unknown key", "    branch: main\n", "    branch: main\n    brnach: x\n", `policy.yaml:4:5: unknown field "brnach"`},
		{"undefined policy", "policy: reviewed", "policy: reviewd", `policy.yaml:6:17: undefined policy "reviewd"`},
		{"wrong type", "{min: 1}", "{min: one}", "policy.yaml:10:54: label Verified: min must be a whole number"},
		{"bad baseline", "baseline: upstream", "baseline: HEAD", `policy.yaml:7:19: baseline must be`},
		{"short sha baseline", "baseline: upstream", "baseline: abc123", `baseline must be`},
		{"bad env name", "name: prod", "name: ../prod", `policy.yaml:5:15: bad environment name`},
		{"positive veto", "Code-Review: -2}", "Code-Review: 1}", `veto on Code-Review must be a negative vote`},
		{"zero min", "{min: 1}", "{min: 0}", `min must be a positive vote`},
		{"bad branch", "branch: main", "branch: refs/heads/main", `policy.yaml:3:13: bad branch`},
		{"duplicate key", "    branch: main\n", "    branch: main\n    branch: dev\n", `policy.yaml:4:5:`},
		{"no labels", "    labels: {Code-Review: {min: +2}, Verified: {min: 1}}\n", "", "requires no label"},
		{"bad project", "project: platform/fleet", "project: ../etc", "bad project"},
	}
	for _, tt := range tests {
		src := strings.Replace(goodPolicy, tt.from, tt.to, 1)
		if src == goodPolicy {
			t.Fatalf("%s: replacement did not apply", tt.what)
		}
		_, err := ParsePolicy("policy.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.what, err, tt.want)
		}
	}
}

func TestParsePolicyTwoBranchesOneEnv(t *testing.T) {
	src := goodPolicy + `  # second branch feeding the same env
`
	src = strings.Replace(src, "policies:", `  - project: platform/fleet
    branch: hotfix
    environments:
      - name: prod
        policy: reviewed
        baseline: upstream
policies:`, 1)
	_, err := ParsePolicy("p.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "already fed by branch main") {
		t.Errorf("err = %v", err)
	}
}
