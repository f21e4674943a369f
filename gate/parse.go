package gate

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/gerritgate/gerritgate/internal/gitid"
	"github.com/gerritgate/gerritgate/internal/projectglob"
	"github.com/gerritgate/gerritgate/internal/yamlfile"
)

// configFile and policyFile are the policy file as written: pointer and
// any fields tell "not set" (inherit) from a zero value, and let numbers be
// checked for type with their position.
type configFile struct {
	Repos    []repoFile             `yaml:"repos"`
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
	c := &Config{Policies: make(map[string]*Policy, len(cf.Policies))}
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
	if err := checkRepos(doc, file, c, cf.Repos); err != nil {
		return nil, err
	}
	c.index = indexRepos(c.Repos)
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

func checkRepos(doc *yamlfile.Doc, file string, c *Config, repos []repoFile) error {
	type key struct{ project, branch, env string }
	seen := map[key]bool{}
	for i, rf := range repos {
		r := rf.repo()
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
			if e.Baseline != BaselineUpstream && !gitid.IsSHA1(e.Baseline) {
				return doc.Errorf(eat+".baseline", "baseline must be %q or a full 40-hex commit SHA, got %q", BaselineUpstream, e.Baseline)
			}
			if err := checkEnvRules(doc, eat, &rf.Environments[j], &r.Environments[j]); err != nil {
				return err
			}
			if err := checkNotify(doc, file, eat, r.Environments[j].Notify); err != nil {
				return err
			}
		}
		if err := checkAfter(doc, at, r.Environments); err != nil {
			return err
		}
		c.Repos = append(c.Repos, r)
	}
	return nil
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
