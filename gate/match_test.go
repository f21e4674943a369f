package gate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const matchPolicy = `repos:
  - project: platform/*
    branch: main
    environments:
      - {name: staging, policy: p, baseline: upstream}
      - {name: prod, policy: p, baseline: upstream}
  - project: platform/fleet
    branch: release
    environments:
      - {name: prod, policy: p, baseline: upstream}
  - project: platform/fleet
    branch: main
    environments:
      - {name: dev, policy: p, baseline: upstream}
  - project: "*/tools"
    branch: main
    environments:
      - {name: tools, policy: p, baseline: upstream}
  - project: "[ab]*/ci"
    branch: main
    environments:
      - {name: ci, policy: p, baseline: upstream}
  - project: "*/ci"
    branch: master
    environments:
      - {name: ci, policy: p, baseline: upstream}
policies:
  p: {labels: {Code-Review: {min: 2}}}
`

// matched shows Match's answer as "branch:env<-pattern" in order.
func matched(repos []Repo) string {
	var out []string
	for _, r := range repos {
		for _, e := range r.Environments {
			out = append(out, fmt.Sprintf("%s:%s<-%s", r.Branch, e.Name, r.Pattern))
		}
	}
	return strings.Join(out, " ")
}

func TestMatch(t *testing.T) {
	c, err := ParsePolicy("p.yaml", []byte(matchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		project string
		want    string
		err     string
	}{
		{"platform/web", "main:staging<-platform/* main:prod<-platform/*", ""},
		// The literal entry wins prod (from branch release), the pattern
		// still gives staging, and the second literal entry adds dev.
		{"platform/fleet", "main:staging<-platform/* release:prod<-platform/fleet main:dev<-platform/fleet", ""},
		{"platform/tools", "main:staging<-platform/* main:prod<-platform/* main:tools<-*/tools", ""},
		{"platform/a/b", "", ""}, // * stays within one segment
		{"platform", "", ""},
		{"other/web", "", ""},
		{"x/ci", "master:ci<-*/ci", ""},
		{"b1/ci", "", "deploy/ci by */ci (branch master) and [ab]*/ci (branch main)"},
	}
	for _, tt := range tests {
		got, err := c.Match(tt.project)
		if tt.err != "" {
			if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Errorf("Match(%q) = %v, %v; want nil and ErrAmbiguous naming %q", tt.project, got, err, tt.err)
			}
			continue
		}
		if err != nil || matched(got) != tt.want {
			t.Errorf("Match(%q) = %q, %v; want %q", tt.project, matched(got), err, tt.want)
		}
		for _, r := range got {
			if r.Project != tt.project {
				t.Errorf("Match(%q) returned project %q", tt.project, r.Project)
			}
		}
	}
	if c.Repos[0].Pattern != "" || c.Repos[0].Project != "platform/*" {
		t.Errorf("Match changed the config: %+v", c.Repos[0])
	}
}

// A policy's project patterns are access.yaml's (internal/projectglob):
// ** reaches nested projects, * never does.
func TestMatchDoubleStar(t *testing.T) {
	c, err := ParsePolicy("p.yaml", []byte(`repos:
  - project: "apps/**"
    branch: main
    environments:
      - {name: prod, policy: p, baseline: upstream}
policies:
  p: {labels: {Code-Review: {min: 2}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for project, want := range map[string]string{
		"apps/web":       "main:prod<-apps/**",
		"apps/team/web":  "main:prod<-apps/**",
		"apps":           "",
		"other/apps/web": "",
	} {
		got, err := c.Match(project)
		if err != nil || matched(got) != want {
			t.Errorf("Match(%q) = %q, %v; want %q", project, matched(got), err, want)
		}
	}
}

func TestIsPattern(t *testing.T) {
	for p, want := range map[string]bool{"platform/fleet": false, "platform/*": true, "a?": true, "[ab]/c": true, "a-b_c.d/e": false} {
		if got := IsPattern(p); got != want {
			t.Errorf("IsPattern(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"infra/**", "infra/main.tf", true},
		{"infra/**", "infra/a/b/c.tf", true},
		{"infra/**", "infra", true}, // ** matches no segment too
		{"infra/**", "infrastructure/x", false},
		{"infra/**", "x/infra/y", false},
		{"**/secrets.yaml", "secrets.yaml", true},
		{"**/secrets.yaml", "a/b/secrets.yaml", true},
		{"**/secrets.yaml", "a/b/secrets.yaml.bak", false},
		{"clusters/*/prod/**", "clusters/eu/prod/app.yaml", true},
		{"clusters/*/prod/**", "clusters/eu/west/prod/app.yaml", false},
		{"clusters/**/prod/*.yaml", "clusters/eu/west/prod/app.yaml", true},
		{"clusters/**/prod/*.yaml", "clusters/prod/app.yaml", true},
		{"clusters/**/prod/*.yaml", "clusters/prod/sub/app.yaml", false},
		{"*.go", "main.go", true},
		{"*.go", "cmd/main.go", false},
		{"**", "anything/at/all", true},
		{"a/**/**/b", "a/b", true},
		{"a/**/**/b", "a/x/y/z/b", true},
		{"[abc]/x", "b/x", true},
		{"[abc]/x", "d/x", false},
		{`\*/x`, "*/x", true},
		{`\*/x`, "a/x", false},
		{"infra/*", "infra/", true}, // an empty last segment; git never names a file so
	}
	for _, tt := range tests {
		if err := validPathGlob(tt.pattern); err != nil {
			t.Errorf("validPathGlob(%q) = %v", tt.pattern, err)
		}
		if got := matchPath(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestMatchPathManyStars(t *testing.T) {
	// A pattern of many ** against a long path that does not match must
	// stay cheap (no backtracking explosion).
	pattern := strings.Repeat("**/", 30) + "z"
	name := strings.Repeat("a/", 200) + "b"
	if matchPath(pattern, name) {
		t.Errorf("matchPath(%q, %q) = true", pattern, name)
	}
}

func TestValidPathGlob(t *testing.T) {
	for _, p := range []string{"", "/a", "a/", "a//b", "./a", "a/../b", "a/**b", "**x/y", "a/[", "a/\\", "a\x00b"} {
		if err := validPathGlob(p); err == nil {
			t.Errorf("validPathGlob(%q) = nil, want an error", p)
		}
	}
}

func TestProjectsAndPatterns(t *testing.T) {
	c, err := ParsePolicy("p.yaml", []byte(matchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.Projects(), " "), "platform/fleet"; got != want {
		t.Errorf("Projects() = %q, want %q", got, want)
	}
	if got, want := strings.Join(c.Patterns(), " "), "platform/* */tools [ab]*/ci */ci"; got != want {
		t.Errorf("Patterns() = %q, want %q", got, want)
	}
}

func TestMatchKeepsAcceptFrom(t *testing.T) {
	c, err := ParsePolicy("p.yaml", []byte(`repos:
  - project: platform/*
    branch: main
    acceptFrom: [stable]
    environments: [{name: prod, policy: p, baseline: upstream}]
policies:
  p: {labels: {Code-Review: {min: 2}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	repos, err := c.Match("platform/fleet")
	if err != nil || len(repos) != 1 || !slices.Equal(repos[0].AcceptFrom, []string{"stable"}) {
		t.Errorf("Match = %+v, %v; want one entry accepting stable", repos, err)
	}
}

// Literal entries and patterns interleaved in the file: for each
// environment a literal entry wins over every pattern wherever it stands,
// a single pattern gives the rest, and the answer keeps file order. The
// same answers come from a Config made without ParsePolicy (no index) and
// after an entry is appended to Repos.
func TestMatchLiteralsAndPatternsInterleaved(t *testing.T) {
	c, err := ParsePolicy("p.yaml", []byte(`repos:
  - project: "team/*"
    branch: main
    environments:
      - {name: dev, policy: p, baseline: upstream}
      - {name: prod, policy: p, baseline: upstream}
  - project: team/api
    branch: release
    environments:
      - {name: prod, policy: p, baseline: upstream}
  - project: "team/a*"
    branch: main
    environments:
      - {name: qa, policy: p, baseline: upstream}
  - project: team/api
    branch: hotfix
    environments:
      - {name: qa, policy: p, baseline: upstream}
  - project: "**"
    branch: main
    environments:
      - {name: canary, policy: p, baseline: upstream}
  - project: team/web
    branch: develop
    environments:
      - {name: dev, policy: p, baseline: upstream}
  - project: "team/w*"
    branch: main
    environments:
      - {name: qa, policy: p, baseline: upstream}
  - project: "*/web"
    branch: trunk
    environments:
      - {name: qa, policy: p, baseline: upstream}
policies:
  p: {labels: {Code-Review: {min: 2}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		project, want, err string
	}{
		// prod and qa from literal entries, one before and one after
		// the patterns that would give them.
		{"team/api", "main:dev<-team/* release:prod<-team/api hotfix:qa<-team/api main:canary<-**", ""},
		{"team/app", "main:dev<-team/* main:prod<-team/* main:qa<-team/a* main:canary<-**", ""},
		// dev from the literal entry listed after the pattern; qa from
		// two patterns and no literal entry: ambiguous.
		{"team/web", "", "deploy/qa by */web (branch trunk) and team/w* (branch main)"},
		{"other/web", "main:canary<-** trunk:qa<-*/web", ""},
		{"other/x", "main:canary<-**", ""},
		{"team/api/sub", "main:canary<-**", ""},
	}
	unindexed := &Config{Repos: c.Repos, Policies: c.Policies}
	for _, cfg := range []struct {
		name string
		c    *Config
	}{{"parsed", c}, {"made without ParsePolicy", unindexed}} {
		for _, tt := range tests {
			got, err := cfg.c.Match(tt.project)
			if tt.err != "" {
				if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), tt.err) || got != nil {
					t.Errorf("%s: Match(%q) = %v, %v; want nil and ErrAmbiguous naming %q", cfg.name, tt.project, got, err, tt.err)
				}
				continue
			}
			if err != nil || matched(got) != tt.want {
				t.Errorf("%s: Match(%q) = %q, %v; want %q", cfg.name, tt.project, matched(got), err, tt.want)
			}
		}
	}
	c.Repos = append(c.Repos, Repo{Project: "other/x", Branch: "late", Environments: []Environment{{Name: "prod", Policy: "p", Baseline: BaselineUpstream}}})
	if got, err := c.Match("other/x"); err != nil || matched(got) != "main:canary<-** late:prod<-other/x" {
		t.Errorf("after appending an entry: Match(other/x) = %q, %v; want the appended entry too", matched(got), err)
	}
}

// BenchmarkMatch asks Match for every project of a policy naming 1,000
// projects literally (and two patterns), as a poll does: the cost of one
// question must not grow with the number of entries.
func BenchmarkMatch(b *testing.B) {
	var y strings.Builder
	y.WriteString("repos:\n")
	const n = 1000
	for i := range n {
		fmt.Fprintf(&y, "  - project: fleet/p%04d\n    branch: main\n    environments:\n      - {name: prod, policy: p, baseline: upstream}\n", i)
	}
	y.WriteString("  - project: \"fleet/*\"\n    branch: main\n    environments:\n      - {name: dev, policy: p, baseline: upstream}\n")
	y.WriteString("  - project: \"other/**\"\n    branch: main\n    environments:\n      - {name: dev, policy: p, baseline: upstream}\n")
	y.WriteString("policies:\n  p: {labels: {Code-Review: {min: 2}}}\n")
	c, err := ParsePolicy("p.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		project := fmt.Sprintf("fleet/p%04d", i%n)
		if got, err := c.Match(project); err != nil || len(got) != 2 {
			b.Fatalf("Match(%s) = %v, %v", project, got, err)
		}
		i++
	}
}
