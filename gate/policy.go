package gate

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gerritgate/gerritgate/internal/projectglob"
	"github.com/gerritgate/gerritgate/internal/yamlfile"
)

// Config is a whole policy file: which branches of which projects deploy to
// which environments, under which named policies.
type Config struct {
	Repos []Repo
	// Policies are resolved: a policy that extends another holds the
	// inherited rules too.
	Policies map[string]*Policy
}

// Repo maps one upstream branch of a project, or of every project matching
// a pattern, to its environments.
type Repo struct {
	// Project is a Gerrit project name, or a project pattern such as
	// platform/* or platform/** (internal/projectglob; see IsPattern).
	// Match returns copies with the concrete project here and the pattern
	// in Pattern.
	Project      string        `yaml:"project"`
	Branch       string        `yaml:"branch"`
	Environments []Environment `yaml:"environments"`
	// AcceptFrom names other branches of the project whose merged changes
	// count for a commit of Branch (e.g. stable merged into main), judged
	// by the environment's own policy like a change of Branch.
	AcceptFrom []string `yaml:"acceptFrom"`
	// Pattern is the project pattern of the policy file entry a Repo
	// returned by Match came from; empty in Config.Repos.
	Pattern string `yaml:"-"`
}

// Environment is one deploy/<Name> branch.
type Environment struct {
	Name   string `yaml:"name"`
	Policy string `yaml:"policy"`
	// Baseline is where deploy/<Name> starts when it does not exist yet: a
	// commit SHA an operator names, or "upstream": the branch is decided
	// from its root like any pending range (Gerrit's initial empty commit
	// passes), and waits for an operator when its root is not approved.
	Baseline string `yaml:"baseline"`
}

// Policy is one named set of rules a commit must meet. Every rule applies;
// a commit is approved only when all of them pass.
type Policy struct {
	Name string `json:"name"`
	// Extends names the policy this one was built on, for people; the
	// fields below already hold the inherited rules.
	Extends string `json:"extends"`
	// Labels: for each label, at least one counted vote at or above Min.
	Labels map[string]LabelRule `json:"labels"`
	// Vetoes: any vote at or below the value blocks, post-submit votes,
	// self-votes and votes on other patch sets included.
	Vetoes map[string]int `json:"vetoes"`
	// SubmitRequirements: which of Gerrit's stored submit requirement
	// results must count as met. The zero value checks none.
	SubmitRequirements Requirements `json:"submitRequirements"`
	// AllowOverridden lets OVERRIDDEN and FORCED requirements count as met.
	AllowOverridden bool `json:"allowOverridden"`
	// SelfApproval, when false, ignores for Labels, Approvers and Owners
	// the votes of the change owner and of the uploaders of the code the
	// vote reviewed (votes.go says exactly which votes count).
	SelfApproval bool `json:"selfApproval"`
	// Approvers is how many distinct accounts must have a counted
	// Code-Review vote at or above its Min; 0 adds nothing to Labels.
	Approvers int `json:"approvers"`
	// Owners: a changed file matching an entry's paths needs a counted
	// Code-Review vote at or above its Min by a member of one of the
	// entry's groups.
	Owners []OwnerRule `json:"owners"`
}

// LabelRule is what one label needs.
type LabelRule struct {
	Min int `json:"min"`
}

// Requirements says which submit requirements must be met.
type Requirements struct {
	// AllApplicable: every requirement Gerrit reports must be SATISFIED
	// or NOT_APPLICABLE (policy file: submitRequirements: satisfied).
	AllApplicable bool `json:"allApplicable"`
	// Names: each of these must be reported and SATISFIED (policy file:
	// submitRequirements: [Name, ...]).
	Names []string `json:"names"`
}

// Set reports whether r checks anything.
func (r Requirements) Set() bool { return r.AllApplicable || len(r.Names) > 0 }

// OwnerRule gives the files under Paths to the members of Groups.
type OwnerRule struct {
	// Paths are slash-separated globs over repository paths: path.Match
	// within a segment, and ** as a whole segment for any number of
	// segments (clusters/prod/**).
	Paths []string `yaml:"paths" json:"paths"`
	// Groups are Gerrit group ids (a UUID, or a name while it is unique);
	// the caller resolves them into Range.Groups.
	Groups []string `yaml:"groups" json:"groups"`
}

// ReviewLabel is the label Approvers and Owners count.
const ReviewLabel = "Code-Review"

// Baseline values other than a SHA.
const BaselineUpstream = "upstream"

// RequirementsSatisfied is the policy file value of submitRequirements that
// sets Requirements.AllApplicable.
const RequirementsSatisfied = "satisfied"

// maxApprovers bounds Approvers: a larger number is a typo, not a policy.
const maxApprovers = 100

var (
	envNameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)
	shaRE         = regexp.MustCompile(`^[0-9a-f]{40}$`)
	labelRE       = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	branchRE      = regexp.MustCompile(`^[A-Za-z0-9._/+@-]{1,255}$`)
	policyNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	requirementRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
)

// configFile and policyFile are the policy file as written: pointer and
// any fields tell "not set" (inherit) from a zero value, and let numbers be
// checked for type with their position.
type configFile struct {
	Repos    []Repo                 `yaml:"repos"`
	Policies map[string]*policyFile `yaml:"policies"`
}

type policyFile struct {
	Extends            string                   `yaml:"extends"`
	Labels             map[string]labelRuleFile `yaml:"labels"`
	Vetoes             map[string]any           `yaml:"vetoes"`
	SubmitRequirements any                      `yaml:"submitRequirements"`
	AllowOverridden    *bool                    `yaml:"allowOverridden"`
	SelfApproval       *bool                    `yaml:"selfApproval"`
	Approvers          any                      `yaml:"approvers"`
	Owners             *[]OwnerRule             `yaml:"owners"`
}

type labelRuleFile struct {
	Min any `yaml:"min"`
}

// LoadPolicy reads and parses a policy file.
func LoadPolicy(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePolicy(path, data)
}

// ParsePolicy parses a policy file strictly: unknown keys, wrong types,
// undefined or cyclic policy names, bad globs and bad vote values are
// errors, and every error names file:line:column. Policies are checked in
// name order, then repos in file order, so the first error is always the
// same one.
func ParsePolicy(file string, data []byte) (*Config, error) {
	var cf configFile
	if err := yamlfile.Decode(file, data, &cf); err != nil {
		return nil, err
	}
	doc := yamlfile.Parse(file, data)
	if len(cf.Repos) == 0 {
		return nil, doc.Errorf("$", "no repos: nothing would ever deploy")
	}
	c := &Config{Repos: cf.Repos, Policies: make(map[string]*Policy, len(cf.Policies))}
	names := sortedKeys(cf.Policies)
	parsed := make(map[string]*parsedPolicy, len(names))
	for _, name := range names {
		pp, err := checkPolicyFile(doc, name, cf.Policies[name], cf.Policies)
		if err != nil {
			return nil, err
		}
		parsed[name] = pp
	}
	for _, name := range names {
		if _, err := resolve(doc, name, parsed, c.Policies, nil); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if err := checkResolved(doc, c.Policies[name]); err != nil {
			return nil, err
		}
	}
	if err := checkRepos(doc, c); err != nil {
		return nil, err
	}
	return c, nil
}

// policyPath is the YAMLPath of a policy; names may hold dots.
func policyPath(name string) string {
	return "$.policies.'" + name + "'"
}

// parsedPolicy is one policy file entry, checked but not yet merged with
// what it extends.
type parsedPolicy struct {
	file         *policyFile
	labels       map[string]LabelRule
	vetoes       map[string]int
	requirements *Requirements
	approvers    *int
}

func checkPolicyFile(doc *yamlfile.Doc, name string, pf *policyFile, all map[string]*policyFile) (*parsedPolicy, error) {
	at := policyPath(name)
	if !policyNameRE.MatchString(name) {
		return nil, doc.Errorf("$.policies", "bad policy name %q (letters, digits, . _ -)", name)
	}
	if pf == nil {
		return nil, doc.Errorf(at, "policy %q is empty", name)
	}
	pp := &parsedPolicy{file: pf, labels: map[string]LabelRule{}, vetoes: map[string]int{}}
	for _, l := range sortedKeys(pf.Labels) {
		if !labelRE.MatchString(l) {
			return nil, doc.Errorf(at+".labels", "bad label name %q", l)
		}
		min, ok := asInt(pf.Labels[l].Min)
		if !ok {
			return nil, doc.Errorf(at+".labels."+l+".min", "label %s: min must be a whole number such as 2, got %s", l, describe(pf.Labels[l].Min))
		}
		if min < 1 || min > 127 {
			return nil, doc.Errorf(at+".labels."+l+".min", "label %s: min must be a positive vote (+1 or more), got %d", l, min)
		}
		pp.labels[l] = LabelRule{Min: min}
	}
	for _, l := range sortedKeys(pf.Vetoes) {
		if !labelRE.MatchString(l) {
			return nil, doc.Errorf(at+".vetoes", "bad label name %q", l)
		}
		v, ok := asInt(pf.Vetoes[l])
		if !ok {
			return nil, doc.Errorf(at+".vetoes."+l, "veto on %s must be a whole number such as -2, got %s", l, describe(pf.Vetoes[l]))
		}
		if v > -1 || v < -127 {
			return nil, doc.Errorf(at+".vetoes."+l, "veto on %s must be a negative vote (-1 or less), got %d", l, v)
		}
		pp.vetoes[l] = v
	}
	if pf.SubmitRequirements != nil {
		r, err := parseRequirements(doc, at+".submitRequirements", pf.SubmitRequirements)
		if err != nil {
			return nil, err
		}
		pp.requirements = &r
	}
	if pf.Approvers != nil {
		n, ok := asInt(pf.Approvers)
		if !ok {
			return nil, doc.Errorf(at+".approvers", "approvers must be a whole number, got %s", describe(pf.Approvers))
		}
		if n < 0 || n > maxApprovers {
			return nil, doc.Errorf(at+".approvers", "approvers must be between 0 and %d, got %d", maxApprovers, n)
		}
		pp.approvers = &n
	}
	if pf.Owners != nil {
		for i, o := range *pf.Owners {
			oat := fmt.Sprintf("%s.owners[%d]", at, i)
			if len(o.Paths) == 0 {
				return nil, doc.Errorf(oat+".paths", "owners entry lists no paths")
			}
			if len(o.Groups) == 0 {
				return nil, doc.Errorf(oat+".groups", "owners entry lists no groups: nobody could approve its files")
			}
			for j, p := range o.Paths {
				if err := validPathGlob(p); err != nil {
					return nil, doc.Errorf(fmt.Sprintf("%s.paths[%d]", oat, j), "owners path: %v", err)
				}
				if slices.Contains(o.Paths[:j], p) {
					return nil, doc.Errorf(fmt.Sprintf("%s.paths[%d]", oat, j), "owners path %q is listed twice", p)
				}
			}
			for j, g := range o.Groups {
				if err := validGroup(g); err != nil {
					return nil, doc.Errorf(fmt.Sprintf("%s.groups[%d]", oat, j), "owners group: %v", err)
				}
				if slices.Contains(o.Groups[:j], g) {
					return nil, doc.Errorf(fmt.Sprintf("%s.groups[%d]", oat, j), "owners group %q is listed twice", g)
				}
			}
		}
	}
	if pf.Extends != "" {
		if _, ok := all[pf.Extends]; !ok {
			return nil, doc.Errorf(at+".extends", "policy %q extends undefined policy %q (defined: %s)", name, pf.Extends, strings.Join(sortedKeys(all), ", "))
		}
	}
	return pp, nil
}

// resolve builds policy name from what it extends, into out. chain holds
// the policies being resolved, to report a cycle.
func resolve(doc *yamlfile.Doc, name string, parsed map[string]*parsedPolicy, out map[string]*Policy, chain []string) (*Policy, error) {
	if p, ok := out[name]; ok {
		return p, nil
	}
	for i, n := range chain {
		if n == name {
			cycle := append(append([]string{}, chain[i:]...), name)
			last := chain[len(chain)-1]
			return nil, doc.Errorf(policyPath(last)+".extends", "policy %q: extends cycle %s", last, strings.Join(cycle, " -> "))
		}
	}
	pp := parsed[name]
	p := &Policy{Name: name, Extends: pp.file.Extends, Labels: map[string]LabelRule{}, Vetoes: map[string]int{}}
	if pp.file.Extends != "" {
		parent, err := resolve(doc, pp.file.Extends, parsed, out, append(chain, name))
		if err != nil {
			return nil, err
		}
		for l, r := range parent.Labels {
			p.Labels[l] = r
		}
		for l, v := range parent.Vetoes {
			p.Vetoes[l] = v
		}
		p.SubmitRequirements = Requirements{AllApplicable: parent.SubmitRequirements.AllApplicable, Names: append([]string(nil), parent.SubmitRequirements.Names...)}
		p.AllowOverridden = parent.AllowOverridden
		p.SelfApproval = parent.SelfApproval
		p.Approvers = parent.Approvers
		p.Owners = copyOwners(parent.Owners)
	}
	// A child overrides what it sets: a label or veto key at a time, the
	// other fields whole.
	for l, r := range pp.labels {
		p.Labels[l] = r
	}
	for l, v := range pp.vetoes {
		p.Vetoes[l] = v
	}
	if pp.requirements != nil {
		p.SubmitRequirements = *pp.requirements
	}
	if pp.file.AllowOverridden != nil {
		p.AllowOverridden = *pp.file.AllowOverridden
	}
	if pp.file.SelfApproval != nil {
		p.SelfApproval = *pp.file.SelfApproval
	}
	if pp.approvers != nil {
		p.Approvers = *pp.approvers
	}
	if pp.file.Owners != nil {
		p.Owners = copyOwners(*pp.file.Owners)
	}
	out[name] = p
	return p, nil
}

func copyOwners(in []OwnerRule) []OwnerRule {
	out := make([]OwnerRule, len(in))
	for i, o := range in {
		out[i] = OwnerRule{Paths: append([]string(nil), o.Paths...), Groups: append([]string(nil), o.Groups...)}
	}
	return out
}

// checkResolved checks what only the merged policy shows.
func checkResolved(doc *yamlfile.Doc, p *Policy) error {
	at := policyPath(p.Name)
	if len(p.Labels) == 0 {
		return doc.Errorf(at, "policy %q requires no label: every commit would pass", p.Name)
	}
	_, review := p.Labels[ReviewLabel]
	if p.Approvers > 0 && !review {
		return doc.Errorf(at, "policy %q: approvers counts %s votes at its min, but the policy has no labels.%s", p.Name, ReviewLabel, ReviewLabel)
	}
	if len(p.Owners) > 0 && !review {
		return doc.Errorf(at, "policy %q: owners need a %s vote at its min, but the policy has no labels.%s", p.Name, ReviewLabel, ReviewLabel)
	}
	if p.AllowOverridden && !p.SubmitRequirements.Set() {
		return doc.Errorf(at, "policy %q: allowOverridden is set but submitRequirements is not: it would change nothing", p.Name)
	}
	return nil
}

func parseRequirements(doc *yamlfile.Doc, at string, v any) (Requirements, error) {
	switch v := v.(type) {
	case string:
		if v != RequirementsSatisfied {
			return Requirements{}, doc.Errorf(at, "submitRequirements must be %q or a list of requirement names, got %q", RequirementsSatisfied, v)
		}
		return Requirements{AllApplicable: true}, nil
	case []any:
		if len(v) == 0 {
			return Requirements{}, doc.Errorf(at, "submitRequirements lists no requirement (write %q, or leave it out)", RequirementsSatisfied)
		}
		var r Requirements
		seen := map[string]bool{}
		for i, e := range v {
			s, ok := e.(string)
			if !ok || !requirementRE.MatchString(s) {
				return Requirements{}, doc.Errorf(fmt.Sprintf("%s[%d]", at, i), "bad submit requirement name %s", describe(e))
			}
			if seen[s] {
				return Requirements{}, doc.Errorf(fmt.Sprintf("%s[%d]", at, i), "submit requirement %q is listed twice", s)
			}
			seen[s] = true
			r.Names = append(r.Names, s)
		}
		return r, nil
	default:
		return Requirements{}, doc.Errorf(at, "submitRequirements must be %q or a list of requirement names, got %s", RequirementsSatisfied, describe(v))
	}
}

func checkRepos(doc *yamlfile.Doc, c *Config) error {
	type key struct{ project, branch, env string }
	seen := map[key]bool{}
	for i, r := range c.Repos {
		at := fmt.Sprintf("$.repos[%d]", i)
		if err := projectglob.Validate(r.Project); err != nil {
			return doc.Errorf(at+".project", "project: %v", err)
		}
		if !branchRE.MatchString(r.Branch) || strings.Contains(r.Branch, "..") || strings.HasPrefix(r.Branch, "refs/") {
			return doc.Errorf(at+".branch", "bad branch %q (a short branch name such as main)", r.Branch)
		}
		if len(r.Environments) == 0 {
			return doc.Errorf(at, "project %s branch %s has no environments", r.Project, r.Branch)
		}
		for k, b := range r.AcceptFrom {
			bat := fmt.Sprintf("%s.acceptFrom[%d]", at, k)
			if !branchRE.MatchString(b) || strings.Contains(b, "..") || strings.HasPrefix(b, "refs/") {
				return doc.Errorf(bat, "bad branch %q (a short branch name such as stable)", b)
			}
			if b == r.Branch {
				return doc.Errorf(bat, "acceptFrom names %s, the branch itself", b)
			}
			if slices.Contains(r.AcceptFrom[:k], b) {
				return doc.Errorf(bat, "acceptFrom names %s twice", b)
			}
		}
		for j, e := range r.Environments {
			eat := fmt.Sprintf("%s.environments[%d]", at, j)
			// The name becomes refs/heads/deploy/<name>: also no ".." and no
			// ".lock" ending, which git refuses in a ref.
			if !envNameRE.MatchString(e.Name) || strings.Contains(e.Name, "..") || strings.HasSuffix(e.Name, ".lock") {
				return doc.Errorf(eat+".name", "bad environment name %q (lower-case letters, digits, . _ -; no \"..\", no \".lock\" ending)", e.Name)
			}
			k := key{r.Project, r.Branch, e.Name}
			if seen[k] {
				return doc.Errorf(eat+".name", "environment %q is defined twice for %s", e.Name, r.Project)
			}
			// Two branches may not feed one deploy/<env> ref. Two
			// different patterns that both match a project are caught by
			// Match, when the project is known.
			for o := range seen {
				if o.project == r.Project && o.env == e.Name {
					return doc.Errorf(eat+".name", "environment %q of %s is already fed by branch %s", e.Name, r.Project, o.branch)
				}
			}
			seen[k] = true
			if _, ok := c.Policies[e.Policy]; !ok {
				return doc.Errorf(eat+".policy", "undefined policy %q (defined: %s)", e.Policy, strings.Join(c.PolicyNames(), ", "))
			}
			if e.Baseline != BaselineUpstream && !shaRE.MatchString(e.Baseline) {
				return doc.Errorf(eat+".baseline", "baseline must be %q or a full 40-hex commit SHA, got %q", BaselineUpstream, e.Baseline)
			}
		}
	}
	return nil
}

// PolicyNames lists the defined policies, sorted.
func (c *Config) PolicyNames() []string {
	return sortedKeys(c.Policies)
}

// GroupNames lists, sorted and once each, the groups the policy's owner
// rules name: what the caller must resolve into Range.Groups.
func (p *Policy) GroupNames() []string {
	set := map[string]bool{}
	for _, o := range p.Owners {
		for _, g := range o.Groups {
			set[g] = true
		}
	}
	return sortedKeys(set)
}

// GroupNames lists, sorted and once each, the groups any policy names.
func (c *Config) GroupNames() []string {
	set := map[string]bool{}
	for _, p := range c.Policies {
		for _, g := range p.GroupNames() {
			set[g] = true
		}
	}
	return sortedKeys(set)
}

// asInt accepts a YAML integer, and nothing else: not 2.5, not "2".
func asInt(v any) (int, bool) {
	const lim = 1 << 20 // far beyond any vote; keeps int conversions exact
	switch n := v.(type) {
	case int:
		return n, n > -lim && n < lim
	case int64:
		return int(n), n > -lim && n < lim
	case uint64:
		return int(n), n < lim
	}
	return 0, false
}

// describe shows a decoded YAML value in an error.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%v", v)
	}
}

func validGroup(g string) error {
	if g == "" || strings.TrimSpace(g) != g || len(g) > 255 {
		return fmt.Errorf("bad group %q", g)
	}
	for _, r := range g {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("bad character %q in group %q", r, g)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
