package gate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/internal/yamlfile"
)

// repoFile and envFile are a repo entry as written; checkRepos turns them
// into Repo and Environment.
type repoFile struct {
	Project      string    `yaml:"project"`
	Branch       string    `yaml:"branch"`
	Environments []envFile `yaml:"environments"`
	AcceptFrom   []string  `yaml:"acceptFrom"`
}

type envFile struct {
	Name     string       `yaml:"name"`
	Policy   string       `yaml:"policy"`
	Baseline string       `yaml:"baseline"`
	After    string       `yaml:"after"`
	Soak     any          `yaml:"soak"`
	Windows  *[]string    `yaml:"windows"`
	Timezone string       `yaml:"timezone"`
	Freezes  []freezeFile `yaml:"freezes"`
	Notify   []Receiver   `yaml:"notify"`
}

type freezeFile struct {
	From   any    `yaml:"from"`
	Until  any    `yaml:"until"`
	Reason string `yaml:"reason"`
}

// maxSoak bounds soak: a longer one is a typo, not a policy.
const maxSoak = 90 * 24 * time.Hour

// repo is rf without the rules checkEnvRules parses.
func (rf repoFile) repo() Repo {
	r := Repo{Project: rf.Project, Branch: rf.Branch, AcceptFrom: rf.AcceptFrom}
	for _, e := range rf.Environments {
		r.Environments = append(r.Environments, Environment{Name: e.Name, Policy: e.Policy, Baseline: e.Baseline, After: e.After, Notify: e.Notify})
	}
	return r
}

// checkEnvRules parses the soak, windows, timezone and freezes of ef into
// e; at is the environment's YAMLPath.
func checkEnvRules(doc *yamlfile.Doc, at string, ef *envFile, e *Environment) error {
	if ef.Soak != nil {
		s, ok := ef.Soak.(string)
		d, err := time.ParseDuration(s)
		if !ok || err != nil {
			return doc.Errorf(at+".soak", "soak must be a duration such as 30m or 2h, got %s", describe(ef.Soak))
		}
		if d <= 0 || d > maxSoak {
			return doc.Errorf(at+".soak", "soak must be more than 0 and at most %s, got %s", maxSoak, s)
		}
		if ef.After == "" {
			return doc.Errorf(at+".soak", "soak counts time on the environment named by after, but after is not set")
		}
		e.Soak = d
	}
	if ef.Windows != nil {
		if len(*ef.Windows) == 0 {
			return doc.Errorf(at+".windows", "windows lists no window: the environment would never advance (leave windows out to allow any time)")
		}
		for i, spec := range *ef.Windows {
			w, err := ParseWindow(spec)
			if err != nil {
				return doc.Errorf(fmt.Sprintf("%s.windows[%d]", at, i), "%v", err)
			}
			e.Schedule.Windows = append(e.Schedule.Windows, w)
		}
		if ef.Timezone == "" {
			return doc.Errorf(at+".windows", "windows need a timezone (an IANA name such as Europe/Berlin, or UTC)")
		}
	}
	if ef.Timezone != "" {
		if ef.Windows == nil {
			return doc.Errorf(at+".timezone", "timezone is set but windows is not: it would change nothing")
		}
		// LoadLocation also reads a file path or "Local": neither is a
		// zone a policy means.
		if ef.Timezone == "Local" || strings.ContainsAny(ef.Timezone, `\`) || strings.HasPrefix(ef.Timezone, "/") || strings.Contains(ef.Timezone, "..") {
			return doc.Errorf(at+".timezone", "unknown timezone %q (an IANA name such as Europe/Berlin, or UTC)", ef.Timezone)
		}
		loc, err := time.LoadLocation(ef.Timezone)
		if err != nil {
			return doc.Errorf(at+".timezone", "unknown timezone %q (an IANA name such as Europe/Berlin, or UTC)", ef.Timezone)
		}
		e.Schedule.Location = loc
	}
	for i, f := range ef.Freezes {
		fat := fmt.Sprintf("%s.freezes[%d]", at, i)
		from, err := freezeTime(f.From)
		if err != nil {
			return doc.Errorf(fat+".from", "freeze from: %v", err)
		}
		until, err := freezeTime(f.Until)
		if err != nil {
			return doc.Errorf(fat+".until", "freeze until: %v", err)
		}
		if !until.After(from) {
			return doc.Errorf(fat+".until", "freeze until %s is not after from %s", until.Format(time.RFC3339), from.Format(time.RFC3339))
		}
		if strings.TrimSpace(f.Reason) == "" {
			return doc.Errorf(fat, "freeze has no reason: people are told why the environment is held")
		}
		e.Schedule.Freezes = append(e.Schedule.Freezes, Freeze{From: from, Until: until, Reason: oneLine(f.Reason)})
	}
	return nil
}

// freezeTime reads an RFC 3339 time with its offset: the YAML library
// may have read an unquoted one as a time already.
func freezeTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v, nil
	case string:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("want an RFC 3339 time with its offset such as 2026-12-20T00:00:00Z, got %q", v)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want an RFC 3339 time with its offset such as 2026-12-20T00:00:00Z, got %s", describe(v))
}

// checkAfter checks that every after names another environment of the
// same repo entry and that the after chains have no cycle; at is the repo
// entry's YAMLPath.
func checkAfter(doc *yamlfile.Doc, at string, envs []Environment) error {
	index := map[string]int{}
	for j, e := range envs {
		index[e.Name] = j
	}
	for j, e := range envs {
		if e.After == "" {
			continue
		}
		eat := fmt.Sprintf("%s.environments[%d].after", at, j)
		if e.After == e.Name {
			return doc.Errorf(eat, "environment %q comes after itself", e.Name)
		}
		if _, ok := index[e.After]; !ok {
			names := make([]string, len(envs))
			for k, o := range envs {
				names[k] = o.Name
			}
			return doc.Errorf(eat, "environment %q comes after %q, which this repo entry does not define (defined: %s)", e.Name, e.After, strings.Join(names, ", "))
		}
	}
	for j := range envs {
		chain := []string{envs[j].Name}
		for k := j; envs[k].After != ""; {
			k = index[envs[k].After]
			if k == j {
				chain = append(chain, envs[k].Name)
				return doc.Errorf(fmt.Sprintf("%s.environments[%d].after", at, j), "after cycle %s", strings.Join(chain, " -> "))
			}
			if slices.Contains(chain, envs[k].Name) {
				break // a cycle not through j: reported from one of its own members
			}
			chain = append(chain, envs[k].Name)
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Timed reports whether e has any rule of time or order: after (and
// soak), windows or freezes.
func (e Environment) Timed() bool {
	return e.After != "" || len(e.Schedule.Windows) > 0 || len(e.Schedule.Freezes) > 0
}

// RulesSummary describes e's rules of time and order for people, one line
// per rule; nothing when it has none.
func (e Environment) RulesSummary() []string {
	var out []string
	switch {
	case e.After != "" && e.Soak > 0:
		out = append(out, fmt.Sprintf("after %s: only commits deploy/%s has held for at least %s", e.After, e.After, shortDuration(e.Soak)))
	case e.After != "":
		out = append(out, fmt.Sprintf("after %s: only commits deploy/%s has held", e.After, e.After))
	}
	return append(out, e.Schedule.Summary()...)
}

// shortDuration writes 30m and 2h rather than 30m0s and 2h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Brief is e's policy and rules of time and order on one line, for the
// environment graph gerritgate check prints: "policy prod, after staging,
// soak 30m, windows [...] in Europe/Berlin, freeze ... until ...: why".
func (e Environment) Brief() string {
	parts := []string{"policy " + e.Policy}
	if e.After != "" {
		parts = append(parts, "after "+e.After)
	}
	if e.Soak > 0 {
		parts = append(parts, "soak "+shortDuration(e.Soak))
	}
	if len(e.Schedule.Windows) > 0 {
		parts = append(parts, "windows "+e.Schedule.describeWindows())
	}
	for _, f := range e.Schedule.Freezes {
		parts = append(parts, fmt.Sprintf("freeze %s until %s: %s", f.From.Format(time.RFC3339), f.Until.Format(time.RFC3339), f.Reason))
	}
	return strings.Join(parts, ", ")
}
