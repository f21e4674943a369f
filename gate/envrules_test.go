package gate

import (
	"strings"
	"testing"
	"time"
)

// envPolicy has the staging and prod, with every environment rule.
const envPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - name: staging
        policy: reviewed
        baseline: upstream
      - name: prod
        policy: reviewed
        baseline: upstream
        after: staging
        soak: 30m
        windows: ["* 9-16 * * MON-THU"]
        timezone: Europe/Berlin
        freezes:
          - {from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: "year-end freeze"}
policies:
  reviewed:
    labels: {Code-Review: {min: +2}}
`

func TestParseEnvironmentRules(t *testing.T) {
	c, err := ParsePolicy("policy.yaml", []byte(envPolicy))
	if err != nil {
		t.Fatal(err)
	}
	staging, prod := c.Repos[0].Environments[0], c.Repos[0].Environments[1]
	if staging.After != "" || staging.Soak != 0 || len(staging.Schedule.Windows) != 0 || len(staging.Schedule.Freezes) != 0 {
		t.Errorf("staging has rules it did not ask for: %+v", staging)
	}
	if prod.After != "staging" || prod.Soak != 30*time.Minute {
		t.Errorf("prod after %q soak %s, want staging 30m", prod.After, prod.Soak)
	}
	s := prod.Schedule
	if len(s.Windows) != 1 || s.Windows[0].Spec != "* 9-16 * * MON-THU" || s.Location == nil || s.Location.String() != "Europe/Berlin" {
		t.Errorf("prod schedule windows %+v in %v", s.Windows, s.Location)
	}
	want := Freeze{From: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), Until: time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC), Reason: "year-end freeze"}
	if len(s.Freezes) != 1 || !s.Freezes[0].From.Equal(want.From) || !s.Freezes[0].Until.Equal(want.Until) || s.Freezes[0].Reason != want.Reason {
		t.Errorf("prod freezes %+v, want %+v", s.Freezes, want)
	}
	// Quoted times and offsets other than Z read the same instant.
	quoted := strings.Replace(envPolicy, "from: 2026-12-20T00:00:00Z", `from: "2026-12-20T01:00:00+01:00"`, 1)
	c, err = ParsePolicy("policy.yaml", []byte(quoted))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Repos[0].Environments[1].Schedule.Freezes[0].From; !got.Equal(want.From) {
		t.Errorf("quoted from with +01:00 = %s, want %s", got, want.From)
	}
}

func TestParseEnvironmentRulesErrors(t *testing.T) {
	checkEdits(t, envPolicy, []policyEdit{
		{"unknown after", "after: staging", "after: stagign", `policy.yaml:11:16: environment "prod" comes after "stagign", which this repo entry does not define (defined: staging, prod)`},
		{"after itself", "after: staging", "after: prod", `policy.yaml:11:16: environment "prod" comes after itself`},
		{"after cycle", "        baseline: upstream\n      - name: prod", "        baseline: upstream\n        after: prod\n      - name: prod", `policy.yaml:8:16: after cycle staging -> prod -> staging`},
		{"bad soak", "soak: 30m", "soak: 30 minutes", `policy.yaml:12:15: soak must be a duration such as 30m or 2h, got "30 minutes"`},
		{"soak a number", "soak: 30m", "soak: 30", `policy.yaml:12:15: soak must be a duration such as 30m or 2h, got 30`},
		{"negative soak", "soak: 30m", "soak: -5m", `policy.yaml:12:15: soak must be more than 0`},
		{"soak too long", "soak: 30m", "soak: 10000h", `policy.yaml:12:15: soak must be more than 0 and at most 2160h0m0s`},
		{"soak without after", "        after: staging\n", "", `policy.yaml:11:15: soak counts time on the environment named by after, but after is not set`},
		{"bad cron", `["* 9-16 * * MON-THU"]`, `["* 9-16 * * MON-THU", "* 25 * * *"]`, `policy.yaml:13:41: window "* 25 * * *": end of range (25) above maximum (23)`},
		{"six fields", `["* 9-16 * * MON-THU"]`, `["0 * 9-16 * * MON-THU"]`, `policy.yaml:13:19: window "0 * 9-16 * * MON-THU": expected exactly 5 fields`},
		{"descriptor", `["* 9-16 * * MON-THU"]`, `["@daily"]`, `policy.yaml:13:19: window "@daily": write five fields`},
		{"zone in spec", `["* 9-16 * * MON-THU"]`, `["TZ=UTC * 9-16 * * *"]`, `window "TZ=UTC * 9-16 * * *": write five fields`},
		{"never opens", `["* 9-16 * * MON-THU"]`, `["0 9 31 2 *"]`, `policy.yaml:13:19: window "0 9 31 2 *": no month of the spec has its day of the month`},
		{"no windows", `["* 9-16 * * MON-THU"]`, `[]`, `policy.yaml:13:18: windows lists no window`},
		{"windows without timezone", "        timezone: Europe/Berlin\n", "", `policy.yaml:13:18: windows need a timezone`},
		{"timezone without windows", "        windows: [\"* 9-16 * * MON-THU\"]\n", "", `policy.yaml:13:19: timezone is set but windows is not`},
		{"unknown timezone", "timezone: Europe/Berlin", "timezone: Europe/Berlinn", `policy.yaml:14:19: unknown timezone "Europe/Berlinn"`},
		{"timezone a path", "timezone: Europe/Berlin", "timezone: /etc/localtime", `policy.yaml:14:19: unknown timezone "/etc/localtime"`},
		{"timezone Local", "timezone: Europe/Berlin", "timezone: Local", `unknown timezone "Local"`},
		{"until before from", "until: 2027-01-04T00:00:00Z", "until: 2026-12-19T00:00:00Z", `policy.yaml:16:49: freeze until 2026-12-19T00:00:00Z is not after from 2026-12-20T00:00:00Z`},
		{"until equals from", "until: 2027-01-04T00:00:00Z", "until: 2026-12-20T00:00:00Z", `policy.yaml:16:49: freeze until 2026-12-20T00:00:00Z is not after from`},
		{"from without offset", "from: 2026-12-20T00:00:00Z", `from: "2026-12-20 00:00"`, `policy.yaml:16:20: freeze from: want an RFC 3339 time with its offset`},
		{"from a date", "from: 2026-12-20T00:00:00Z", `from: 2026-12-20`, `policy.yaml:16:20: freeze from: want an RFC 3339 time`},
		{"no reason", `, reason: "year-end freeze"`, "", `policy.yaml:16:13: freeze has no reason`},
		{"unknown freeze key", `reason: "year-end freeze"`, `reason: "x", why: "y"`, `unknown field "why"`},
		{"top-level environments", "policies:", "environments: []\npolicies:", `unknown field "environments"`},
	})
}

// A longer chain is a DAG when it has no cycle, wherever in the list an
// environment is defined; a cycle among three is found from its member.
func TestAfterChains(t *testing.T) {
	env := func(name, after string) string {
		s := "      - name: " + name + "\n        policy: reviewed\n        baseline: upstream\n"
		if after != "" {
			s += "        after: " + after + "\n"
		}
		return s
	}
	head := "repos:\n  - project: p\n    branch: main\n    environments:\n"
	tail := "policies:\n  reviewed:\n    labels: {Code-Review: {min: 2}}\n"
	tests := []struct {
		what string
		envs string
		want string // "" for valid
	}{
		{"chain defined backwards", env("prod", "staging") + env("staging", "dev") + env("dev", ""), ""},
		{"fan out", env("dev", "") + env("a", "dev") + env("b", "dev"), ""},
		{"three cycle", env("dev", "prod") + env("staging", "dev") + env("prod", "staging"), "after cycle dev -> prod -> staging -> dev"},
		{"cycle behind a chain", env("x", "a") + env("a", "b") + env("b", "a"), "policy.yaml:12:16: after cycle a -> b -> a"},
	}
	for _, tt := range tests {
		_, err := ParsePolicy("policy.yaml", []byte(head+tt.envs+tail))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: err = %v, want %q", tt.what, err, tt.want)
		}
	}
}

func TestRulesSummary(t *testing.T) {
	c, err := ParsePolicy("policy.yaml", []byte(envPolicy))
	if err != nil {
		t.Fatal(err)
	}
	staging, prod := c.Repos[0].Environments[0], c.Repos[0].Environments[1]
	if staging.Timed() || len(staging.RulesSummary()) != 0 {
		t.Errorf("staging: timed %v, summary %q, want neither", staging.Timed(), staging.RulesSummary())
	}
	want := []string{
		"after staging: only commits deploy/staging has held for at least 30m",
		`advances only inside the windows ["* 9-16 * * MON-THU"] in Europe/Berlin`,
		"frozen from 2026-12-20T00:00:00Z until 2027-01-04T00:00:00Z: year-end freeze",
	}
	if got, want := staging.Brief(), "policy reviewed"; got != want {
		t.Errorf("staging.Brief() = %q, want %q", got, want)
	}
	wantBrief := `policy reviewed, after staging, soak 30m, windows ["* 9-16 * * MON-THU"] in Europe/Berlin, freeze 2026-12-20T00:00:00Z until 2027-01-04T00:00:00Z: year-end freeze`
	if got := prod.Brief(); got != wantBrief {
		t.Errorf("prod.Brief() = %q, want %q", got, wantBrief)
	}
	if got := prod.RulesSummary(); !prod.Timed() || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("prod: timed %v, summary\n%s\nwant\n%s", prod.Timed(), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range []Environment{{After: "staging"}, {Schedule: Schedule{Freezes: prod.Schedule.Freezes}}, {Schedule: Schedule{Windows: prod.Schedule.Windows, Location: prod.Schedule.Location}}} {
		if !e.Timed() {
			t.Errorf("%+v: not timed", e)
		}
	}
}
