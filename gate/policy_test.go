package gate

import (
	"reflect"
	"regexp"
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
	checkEdits(t, goodPolicy, []policyEdit{
		{"unknown key", "    branch: main\n", "    branch: main\n    brnach: x\n", `policy.yaml:4:5: unknown field "brnach"`},
		{"undefined policy", "policy: reviewed", "policy: reviewd", `policy.yaml:6:17: undefined policy "reviewd"`},
		{"wrong type", "{min: 1}", "{min: one}", "policy.yaml:10:54: label Verified: min must be a whole number"},
		{"bad baseline", "baseline: upstream", "baseline: HEAD", `policy.yaml:7:19: baseline must be`},
		{"short sha baseline", "baseline: upstream", "baseline: abc123", `baseline must be`},
		{"bad env name", "name: prod", "name: ../prod", `policy.yaml:5:15: bad environment name`},
		{"env name with ..", "name: prod", "name: a..b", `policy.yaml:5:15: bad environment name`},
		{"env name ending .lock", "name: prod", "name: x.lock", `policy.yaml:5:15: bad environment name`},
		{"positive veto", "Code-Review: -2}", "Code-Review: 1}", `veto on Code-Review must be a negative vote`},
		{"zero min", "{min: 1}", "{min: 0}", `min must be a positive vote`},
		{"bad branch", "branch: main", "branch: refs/heads/main", `policy.yaml:3:13: bad branch`},
		{"duplicate key", "    branch: main\n", "    branch: main\n    branch: dev\n", `policy.yaml:4:5:`},
		{"no labels", "    labels: {Code-Review: {min: +2}, Verified: {min: 1}}\n", "", "requires no label"},
		{"bad project", "project: platform/fleet", "project: ../etc", "bad project"},
	})
}

// policyEdit is a policy file made bad by replacing from with to, and the
// error ParsePolicy must give.
type policyEdit struct {
	what string
	from string
	to   string
	want string // error contains
}

// checkEdits parses each edit of base and wants its error, at a
// file:line:column.
func checkEdits(t *testing.T, base string, tests []policyEdit) {
	t.Helper()
	for _, tt := range tests {
		src := strings.Replace(base, tt.from, tt.to, 1)
		if src == base {
			t.Fatalf("%s: replacement did not apply", tt.what)
		}
		_, err := ParsePolicy("policy.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.what, err, tt.want)
			continue
		}
		if !regexp.MustCompile(`^policy\.yaml:\d+:\d+: `).MatchString(err.Error()) {
			t.Errorf("%s: err = %v, want a file:line:column", tt.what, err)
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

// fullPolicy uses every key of the policy language.
const fullPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - name: staging
        policy: reviewed
        baseline: upstream
      - name: prod
        policy: prod
        baseline: upstream
  - project: platform/*
    branch: main
    environments:
      - name: staging
        policy: reviewed
        baseline: upstream
policies:
  reviewed:
    labels:
      Code-Review: {min: 2}
      Verified: {min: 1}
    vetoes: {Code-Review: -2, Verified: -1}
    submitRequirements: satisfied
    allowOverridden: false
    selfApproval: false
  prod:
    extends: reviewed
    approvers: 2
    submitRequirements: [Code-Review, Verified]
    owners:
      - paths: ["clusters/prod/**", "infra/**"]
        groups: ["sre"]
`

func TestParsePolicyFull(t *testing.T) {
	c, err := ParsePolicy("policy.yaml", []byte(fullPolicy))
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{
		Name:               "prod",
		Extends:            "reviewed",
		Labels:             map[string]LabelRule{"Code-Review": {Min: 2}, "Verified": {Min: 1}},
		Vetoes:             map[string]int{"Code-Review": -2, "Verified": -1},
		SubmitRequirements: Requirements{Names: []string{"Code-Review", "Verified"}},
		Approvers:          2,
		Owners:             []OwnerRule{{Paths: []string{"clusters/prod/**", "infra/**"}, Groups: []string{"sre"}}},
	}
	if got := c.Policies["prod"]; !reflect.DeepEqual(got, want) {
		t.Errorf("policy prod = %+v, want %+v", got, want)
	}
	if got := c.Policies["reviewed"]; !got.SubmitRequirements.AllApplicable || got.Approvers != 0 || got.Owners != nil || got.Extends != "" {
		t.Errorf("policy reviewed = %+v", got)
	}
	if got := c.GroupNames(); !reflect.DeepEqual(got, []string{"sre"}) {
		t.Errorf("GroupNames() = %v, want [sre]", got)
	}
}

// TestParsePolicyErrorsFull: every error of the full language names the
// place in the file, the exact one where it matters.
func TestParsePolicyErrorsFull(t *testing.T) {
	checkEdits(t, fullPolicy, []policyEdit{
		{"undefined parent", "extends: reviewed", "extends: reviewd", `policy.yaml:27:14: policy "prod" extends undefined policy "reviewd" (defined: prod, reviewed)`},
		{"extends itself", "extends: reviewed", "extends: prod", `policy.yaml:27:14: policy "prod": extends cycle prod -> prod`},
		{"extends cycle", "    selfApproval: false\n", "    selfApproval: false\n    extends: prod\n", `policy.yaml:26:14: policy "reviewed": extends cycle prod -> reviewed -> prod`},
		{"unknown key", "approvers: 2", "approvers: 2\n    approver: 2", `policy.yaml:29:5: unknown field "approver"`},
		{"unknown owners key", `groups: ["sre"]`, `group: ["sre"]`, `policy.yaml:32:9: unknown field "group"`},
		{"approvers not a number", "approvers: 2", "approvers: two", `policy.yaml:28:16: approvers must be a whole number, got "two"`},
		{"approvers fraction", "approvers: 2", "approvers: 1.5", `policy.yaml:28:16: approvers must be a whole number, got 1.5`},
		{"approvers quoted", "approvers: 2", `approvers: "2"`, `policy.yaml:28:16: approvers must be a whole number, got "2"`},
		{"approvers negative", "approvers: 2", "approvers: -1", `policy.yaml:28:16: approvers must be between 0 and 100, got -1`},
		{"approvers huge", "approvers: 2", "approvers: 1000", `approvers must be between 0 and 100, got 1000`},
		{"min fraction", "Verified: {min: 1}", "Verified: {min: 1.5}", `policy.yaml:21:23: label Verified: min must be a whole number such as 2, got 1.5`},
		{"min too big", "Verified: {min: 1}", "Verified: {min: 128}", `policy.yaml:21:23: label Verified: min must be a positive vote`},
		{"veto not a number", "Verified: -1}", "Verified: minus}", `policy.yaml:22:41: veto on Verified must be a whole number such as -2, got "minus"`},
		{"veto zero", "Verified: -1}", "Verified: 0}", `veto on Verified must be a negative vote (-1 or less), got 0`},
		{"selfApproval not a bool", "selfApproval: false", "selfApproval: no", `policy.yaml:25:19: cannot unmarshal`},
		{"requirements word", "submitRequirements: satisfied", "submitRequirements: all", `policy.yaml:23:25: submitRequirements must be "satisfied" or a list of requirement names, got "all"`},
		{"requirements mapping", "submitRequirements: satisfied", "submitRequirements: {all: true}", `policy.yaml:23:25: submitRequirements must be "satisfied" or a list of requirement names, got a mapping`},
		{"requirements empty list", "[Code-Review, Verified]", "[]", `policy.yaml:29:25: submitRequirements lists no requirement`},
		{"requirement not a name", "[Code-Review, Verified]", "[Code-Review, 7]", `policy.yaml:29:39: bad submit requirement name 7`},
		{"requirement bad name", "[Code-Review, Verified]", `[Code-Review, "a b"]`, `policy.yaml:29:39: bad submit requirement name "a b"`},
		{"requirement twice", "[Code-Review, Verified]", "[Code-Review, Code-Review]", `policy.yaml:29:39: submit requirement "Code-Review" is listed twice`},
		{"allowOverridden without requirements", "    submitRequirements: satisfied\n    allowOverridden: false\n", "    allowOverridden: true\n", `policy "reviewed": allowOverridden is set but submitRequirements is not`},
		{"owners glob bad", `"infra/**"`, `"infra/[a"`, `policy.yaml:31:37: owners path: bad pattern "infra/[a": syntax error in pattern`},
		{"owners glob ** in a segment", `"infra/**"`, `"infra/**.tf"`, `** must be a whole path segment`},
		{"owners glob absolute", `"infra/**"`, `"/infra/**"`, `without a leading /`},
		{"owners glob directory", `"infra/**"`, `"infra/"`, `write infra/**`},
		{"owners glob dot-dot", `"infra/**"`, `"infra/../x"`, `.. segment`},
		{"owners glob empty segment", `"infra/**"`, `"infra//x"`, `empty path segment`},
		{"owners path twice", `"infra/**"`, `"clusters/prod/**"`, `owners path "clusters/prod/**" is listed twice`},
		{"owners no paths", `paths: ["clusters/prod/**", "infra/**"]`, `paths: []`, `policy.yaml:31:16: owners entry lists no paths`},
		{"owners no groups", `groups: ["sre"]`, `groups: []`, `policy.yaml:32:17: owners entry lists no groups`},
		{"owners bad group", `groups: ["sre"]`, `groups: [" sre"]`, `policy.yaml:32:18: owners group: bad group " sre"`},
		{"owners group twice", `groups: ["sre"]`, `groups: ["sre", "sre"]`, `owners group "sre" is listed twice`},
		{"approvers without Code-Review", "      Code-Review: {min: 2}\n", "", `policy "prod": approvers counts Code-Review votes at its min, but the policy has no labels.Code-Review`},
		{"acceptFrom the branch itself", "project: platform/*\n    branch: main\n", "project: platform/*\n    branch: main\n    acceptFrom: [stable, main]\n", `policy.yaml:13:26: acceptFrom names main, the branch itself`},
		{"acceptFrom twice", "project: platform/*\n    branch: main\n", "project: platform/*\n    branch: main\n    acceptFrom: [stable, stable]\n", `policy.yaml:13:26: acceptFrom names stable twice`},
		{"acceptFrom bad branch", "project: platform/*\n    branch: main\n", "project: platform/*\n    branch: main\n    acceptFrom: [refs/heads/stable]\n", `policy.yaml:13:18: bad branch "refs/heads/stable"`},
		{"acceptFrom not a list", "project: platform/*\n    branch: main\n", "project: platform/*\n    branch: main\n    acceptFrom: stable\n", `policy.yaml:13:17: string was used where sequence is expected`},
		{"bad project pattern", "project: platform/*", "project: platform/[", `policy.yaml:11:14: project: bad pattern "platform/[": syntax error in pattern`},
		{"** inside a project segment", "project: platform/*", "project: platform/**x", `** must be a whole path segment`},
		{"bad policy name", "  prod:\n", "  prod now:\n", `bad policy name "prod now"`},
		{"empty policy", "policies:\n", "policies:\n  empty:\n", `policy "empty" is empty`},
	})
}

func TestExtends(t *testing.T) {
	const base = `repos:
  - project: p
    branch: main
    environments: [{name: e, policy: child, baseline: upstream}]
policies:
  parent:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
    vetoes: {Code-Review: -2}
    submitRequirements: [Code-Review]
    allowOverridden: true
    approvers: 2
    owners: [{paths: ["infra/**"], groups: [sre]}]
  child:
    extends: parent
`
	parent := &Policy{
		Labels:             map[string]LabelRule{"Code-Review": {Min: 2}, "Verified": {Min: 1}},
		Vetoes:             map[string]int{"Code-Review": -2},
		SubmitRequirements: Requirements{Names: []string{"Code-Review"}},
		AllowOverridden:    true,
		Approvers:          2,
		Owners:             []OwnerRule{{Paths: []string{"infra/**"}, Groups: []string{"sre"}}},
	}
	tests := []struct {
		what  string
		child string // appended to base, indented under child
		want  func(p *Policy)
	}{
		{"inherits everything", "", func(p *Policy) {}},
		{"overrides one label, keeps the other", "    labels: {Code-Review: {min: 1}}\n", func(p *Policy) { p.Labels["Code-Review"] = LabelRule{Min: 1} }},
		{"adds a label", "    labels: {QA: {min: 1}}\n", func(p *Policy) { p.Labels["QA"] = LabelRule{Min: 1} }},
		{"adds a veto", "    vetoes: {Verified: -1}\n", func(p *Policy) { p.Vetoes["Verified"] = -1 }},
		{"replaces requirements", "    submitRequirements: satisfied\n", func(p *Policy) { p.SubmitRequirements = Requirements{AllApplicable: true} }},
		{"turns allowOverridden off", "    allowOverridden: false\n", func(p *Policy) { p.AllowOverridden = false }},
		{"allows self-approval", "    selfApproval: true\n", func(p *Policy) { p.SelfApproval = true }},
		{"drops approvers", "    approvers: 0\n", func(p *Policy) { p.Approvers = 0 }},
		{"replaces owners", "    owners: [{paths: [\"db/**\"], groups: [dba]}]\n", func(p *Policy) {
			p.Owners = []OwnerRule{{Paths: []string{"db/**"}, Groups: []string{"dba"}}}
		}},
		{"clears owners", "    owners: []\n", func(p *Policy) { p.Owners = []OwnerRule{} }},
	}
	for _, tt := range tests {
		c, err := ParsePolicy("p.yaml", []byte(base+tt.child))
		if err != nil {
			t.Errorf("%s: %v", tt.what, err)
			continue
		}
		want := clonePolicy(parent)
		want.Name, want.Extends = "child", "parent"
		tt.want(want)
		if got := c.Policies["child"]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: child = %+v, want %+v", tt.what, got, want)
		}
		if got := c.Policies["parent"]; got.Name != "parent" || got.Labels["Code-Review"].Min != 2 || len(got.Owners) != 1 {
			t.Errorf("%s: the parent changed: %+v", tt.what, got)
		}
	}
}

// clonePolicy copies p deeply enough for a test to change the copy.
func clonePolicy(p *Policy) *Policy {
	q := *p
	q.Labels = map[string]LabelRule{}
	for k, v := range p.Labels {
		q.Labels[k] = v
	}
	q.Vetoes = map[string]int{}
	for k, v := range p.Vetoes {
		q.Vetoes[k] = v
	}
	q.SubmitRequirements.Names = append([]string(nil), p.SubmitRequirements.Names...)
	q.Owners = copyOwners(p.Owners)
	return &q
}

func TestExtendsChain(t *testing.T) {
	src := `repos:
  - project: p
    branch: main
    environments: [{name: e, policy: c, baseline: upstream}]
policies:
  c: {extends: b, approvers: 3}
  b: {extends: a, labels: {Verified: {min: 1}}}
  a: {labels: {Code-Review: {min: 2}}, approvers: 1}
`
	c, err := ParsePolicy("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policies["c"]
	if p.Approvers != 3 || p.Labels["Code-Review"].Min != 2 || p.Labels["Verified"].Min != 1 || p.Extends != "b" {
		t.Errorf("c = %+v, want approvers 3 and both labels", p)
	}
	if b := c.Policies["b"]; b.Approvers != 1 {
		t.Errorf("b = %+v, want approvers 1 from a", b)
	}
	bad := strings.Replace(src, "extends: a,", "extends: c,", 1)
	_, err = ParsePolicy("p.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:6:16: policy "c": extends cycle b -> c -> b`) {
		t.Errorf("cycle through three: err = %v", err)
	}
}

func TestParsePolicyPolicyNameWithDot(t *testing.T) {
	src := strings.ReplaceAll(fullPolicy, "prod", "prod.v2")
	src = strings.Replace(src, "approvers: 2", "approvers: -2", 1)
	_, err := ParsePolicy("policy.yaml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), "policy.yaml:28:16: approvers must be") {
		t.Errorf("err = %v, want it at the approvers of policy prod.v2", err)
	}
}
