package main

import (
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/yamlfile"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage"
)

// PolicyInGerrit is a policy file reviewed in Gerrit: the file at Path
// in Branch of Project (policy: {project: ..., branch: ..., path: ...}).
type PolicyInGerrit struct {
	Project string
	Branch  string
	Path    string
}

// PolicyPolicyConfig is what a commit of the reviewed policy's branch
// needs (policyPolicy:): Code-Review +2 from Approvals distinct members
// of Group (default 2), none of them the change's owner or an uploader
// of its code, no Code-Review -2, and each label in Labels at its
// minimum with no negative vote on it (e.g. Verified: 1 from a CI job
// running gerritgate check).
type PolicyPolicyConfig struct {
	Group     string         `yaml:"group"`
	Approvals int            `yaml:"approvals"`
	Labels    map[string]int `yaml:"labels"`
}

// policyEnv is the environment whose deploy ref (deploy/gerritgate-policy
// in the policy project's served repository) marks the newest policy
// commit the policyPolicy approved; its audit trail says who approved
// each. A policy file may not gate the policy project into it.
const policyEnv = status.PolicyEnv

var (
	policyBranchRE = regexp.MustCompile(`^[A-Za-z0-9._/+@-]{1,255}$`)
	policyLabelRE  = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

// parsePolicyKey reads policy: (a local path, or the mapping naming a
// file in Gerrit) and, for a reviewed policy, policyPolicy:.
func (c *Config) parsePolicyKey(doc *yamlfile.Doc) error {
	switch v := c.PolicyKey.(type) {
	case nil:
		return doc.Errorf("$", "policy is required: a local file's path, or {project, branch, path} of a file reviewed in Gerrit")
	case string:
		if v == "" {
			return doc.Errorf("$.policy", "policy is empty")
		}
		c.Policy = v
		if c.PolicyPolicy.Group != "" || c.PolicyPolicy.Approvals != 0 || c.PolicyPolicy.Labels != nil {
			return doc.Errorf("$.policyPolicy", "policyPolicy applies to a policy reviewed in Gerrit (policy: {project, branch, path}), not to a local file")
		}
		return nil
	case map[string]any:
		return c.parsePolicyInGerrit(doc, v)
	default:
		return doc.Errorf("$.policy", "policy must be a file's path or a mapping {project, branch, path}")
	}
}

func (c *Config) parsePolicyInGerrit(doc *yamlfile.Doc, m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := map[string]string{}
	for _, k := range keys {
		if k != "project" && k != "branch" && k != "path" {
			return doc.Errorf("$.policy."+k, "unknown field %q in policy (want project, branch, path)", k)
		}
		s, ok := m[k].(string)
		if !ok || s == "" {
			return doc.Errorf("$.policy."+k, "policy.%s must be a non-empty string", k)
		}
		vals[k] = s
	}
	for _, k := range []string{"project", "branch", "path"} {
		if vals[k] == "" {
			return doc.Errorf("$.policy", "policy.%s is required (policy: {project, branch, path})", k)
		}
	}
	src := &PolicyInGerrit{Project: vals["project"], Branch: vals["branch"], Path: vals["path"]}
	if err := storage.ValidateProject(src.Project); err != nil {
		return doc.Errorf("$.policy.project", "policy.project: %v", err)
	}
	if !policyBranchRE.MatchString(src.Branch) || strings.HasPrefix(src.Branch, "refs/") {
		return doc.Errorf("$.policy.branch", "policy.branch %q must be a branch name such as main", src.Branch)
	}
	if p := src.Path; path.IsAbs(p) || path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." {
		return doc.Errorf("$.policy.path", "policy.path %q must be a clean path inside the repository, such as policy.yaml", p)
	}
	pp := &c.PolicyPolicy
	if pp.Group == "" {
		return doc.Errorf("$", "policyPolicy.group is required with a policy reviewed in Gerrit: the Gerrit group whose members approve policy changes")
	}
	if pp.Approvals == 0 {
		pp.Approvals = 2
	}
	if pp.Approvals < 1 || pp.Approvals > 20 {
		return doc.Errorf("$.policyPolicy.approvals", "policyPolicy.approvals must be between 1 and 20, got %d", pp.Approvals)
	}
	for _, l := range sortedLabels(pp.Labels) {
		if !policyLabelRE.MatchString(l) || l == gate.ReviewLabel {
			return doc.Errorf("$.policyPolicy.labels", "policyPolicy.labels: bad label %q (Code-Review is set by group and approvals)", l)
		}
		if v := pp.Labels[l]; v < 1 || v > 127 {
			return doc.Errorf("$.policyPolicy.labels."+l, "policyPolicy.labels.%s must be a positive vote (+1 or more), got %d", l, v)
		}
	}
	c.PolicyReviewed = src
	return nil
}

func sortedLabels(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Rules is the gate.Policy a policy commit is decided with.
func (pp PolicyPolicyConfig) Rules() *gate.Policy {
	p := &gate.Policy{
		Name:      "policyPolicy",
		Labels:    map[string]gate.LabelRule{gate.ReviewLabel: {Min: 2}},
		Vetoes:    map[string]int{gate.ReviewLabel: -2},
		Approvers: pp.Approvals,
		Owners:    []gate.OwnerRule{{Paths: []string{"**"}, Groups: []string{pp.Group}, Approvals: pp.Approvals}},
	}
	for l, v := range pp.Labels {
		p.Labels[l] = gate.LabelRule{Min: v}
		p.Vetoes[l] = -1
	}
	return p
}
