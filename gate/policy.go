package gate

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/gerritgate/gerritgate/internal/yamlfile"
)

// Config is a whole policy file: which branches of which projects deploy to
// which environments, under which named policies.
type Config struct {
	Repos    []Repo             `yaml:"repos"`
	Policies map[string]*Policy `yaml:"policies"`
}

// Repo maps one upstream branch of a project to its environments.
type Repo struct {
	Project      string        `yaml:"project"`
	Branch       string        `yaml:"branch"`
	Environments []Environment `yaml:"environments"`
}

// Environment is one deploy/<Name> branch.
type Environment struct {
	Name   string `yaml:"name"`
	Policy string `yaml:"policy"`
	// Baseline is where deploy/<Name> starts when it does not exist yet: a
	// commit SHA, or "upstream" to adopt the branch head as first seen.
	Baseline string `yaml:"baseline"`
}

// Policy is one named set of rules a commit must meet.
type Policy struct {
	Name string `yaml:"-"`
	// Labels: for each label, at least one vote at or above Min.
	Labels map[string]LabelRule `yaml:"labels"`
	// Vetoes: any vote at or below the value blocks, post-submit votes
	// included.
	Vetoes map[string]int `yaml:"vetoes"`
}

// LabelRule is what one label needs.
type LabelRule struct {
	Min int `yaml:"min"`
}

// Baseline values other than a SHA.
const BaselineUpstream = "upstream"

var (
	envNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)
	shaRE     = regexp.MustCompile(`^[0-9a-f]{40}$`)
	labelRE   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	branchRE  = regexp.MustCompile(`^[A-Za-z0-9._/+@-]{1,255}$`)
)

// LoadPolicy reads and parses a policy file.
func LoadPolicy(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePolicy(path, data)
}

// ParsePolicy parses a policy file strictly. Every error names
// file:line:column.
func ParsePolicy(file string, data []byte) (*Config, error) {
	var c Config
	if err := yamlfile.Decode(file, data, &c); err != nil {
		return nil, err
	}
	doc := yamlfile.Parse(file, data)
	if len(c.Repos) == 0 {
		return nil, doc.Errorf("$", "no repos: nothing would ever deploy")
	}
	for name, p := range c.Policies {
		at := "$.policies." + name
		if p == nil {
			return nil, doc.Errorf(at, "policy %q is empty", name)
		}
		p.Name = name
		if len(p.Labels) == 0 {
			return nil, doc.Errorf(at, "policy %q requires no label: every commit would pass", name)
		}
		for l, r := range p.Labels {
			if !labelRE.MatchString(l) {
				return nil, doc.Errorf(at+".labels", "bad label name %q", l)
			}
			if r.Min < 1 || r.Min > 127 {
				return nil, doc.Errorf(at+".labels."+l, "label %s: min must be a positive vote (+1 or more), got %d", l, r.Min)
			}
		}
		for l, v := range p.Vetoes {
			if !labelRE.MatchString(l) {
				return nil, doc.Errorf(at+".vetoes", "bad label name %q", l)
			}
			if v > -1 || v < -127 {
				return nil, doc.Errorf(at+".vetoes."+l, "veto on %s must be a negative vote (-1 or less), got %d", l, v)
			}
		}
	}
	type key struct{ project, branch, env string }
	seen := map[key]bool{}
	for i, r := range c.Repos {
		at := fmt.Sprintf("$.repos[%d]", i)
		if err := validProjectPattern(r.Project); err != nil {
			return nil, doc.Errorf(at+".project", "project: %v", err)
		}
		if !branchRE.MatchString(r.Branch) || strings.Contains(r.Branch, "..") || strings.HasPrefix(r.Branch, "refs/") {
			return nil, doc.Errorf(at+".branch", "bad branch %q (a short branch name such as main)", r.Branch)
		}
		if len(r.Environments) == 0 {
			return nil, doc.Errorf(at, "project %s branch %s has no environments", r.Project, r.Branch)
		}
		for j, e := range r.Environments {
			eat := fmt.Sprintf("%s.environments[%d]", at, j)
			if !envNameRE.MatchString(e.Name) {
				return nil, doc.Errorf(eat+".name", "bad environment name %q (lower-case letters, digits, . _ -)", e.Name)
			}
			k := key{r.Project, r.Branch, e.Name}
			if seen[k] {
				return nil, doc.Errorf(eat+".name", "environment %q is defined twice for %s", e.Name, r.Project)
			}
			// Two branches may not feed one deploy/<env> ref.
			for o := range seen {
				if o.project == r.Project && o.env == e.Name {
					return nil, doc.Errorf(eat+".name", "environment %q of %s is already fed by branch %s", e.Name, r.Project, o.branch)
				}
			}
			seen[k] = true
			if _, ok := c.Policies[e.Policy]; !ok {
				return nil, doc.Errorf(eat+".policy", "undefined policy %q (defined: %s)", e.Policy, strings.Join(c.PolicyNames(), ", "))
			}
			if e.Baseline != BaselineUpstream && !shaRE.MatchString(e.Baseline) {
				return nil, doc.Errorf(eat+".baseline", "baseline must be %q or a full 40-hex commit SHA, got %q", BaselineUpstream, e.Baseline)
			}
		}
	}
	return &c, nil
}

// PolicyNames lists the defined policies, sorted.
func (c *Config) PolicyNames() []string {
	var out []string
	for n := range c.Policies {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func validProjectPattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty")
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.Contains(p, "//") {
		return fmt.Errorf("bad project %q", p)
	}
	for _, r := range p {
		if r < 0x21 || r == 0x7f || r == '\\' {
			return fmt.Errorf("bad character %q in project %q", r, p)
		}
	}
	return nil
}
