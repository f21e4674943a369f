package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/access"
)

// TestTokenNewNames: token new takes exactly the reader names access.yaml
// takes, and what it prints for access.yaml loads.
func TestTokenNewNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"flux-prod", true},
		{"flux@prod", true}, // access.yaml accepts @ (e-mail-like names)
		{"a.b_c", true},
		{"", false},
		{"anonymous", false}, // reserved
		{"-flux", false},
		{"flux prod", false},
		{strings.Repeat("a", 65), false},
	} {
		var out bytes.Buffer
		err := cmdToken([]string{"new", "--name", tt.name}, &out, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("token new --name %q: err = %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		_, snippet, found := strings.Cut(out.String(), "add its hash to access.yaml:\n")
		if !found {
			t.Fatalf("token new printed no access.yaml snippet:\n%s", out.String())
		}
		if _, err := access.Parse("access.yaml", []byte(snippet)); err != nil {
			t.Errorf("token new --name %q printed a snippet access.yaml refuses: %v\n%s", tt.name, err, snippet)
		}
	}
}

// token new's snippet always has projects: a list from --projects that
// grants them, or an empty one to edit, which access warns about.
func TestTokenNewProjects(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		canRead  string
		warnings int
	}{
		{[]string{"--projects", "platform/*, apps/web"}, "apps/web", 0},
		{nil, "", 1},
	} {
		var out bytes.Buffer
		if err := cmdToken(append([]string{"new", "--name", "flux"}, tt.args...), &out, io.Discard); err != nil {
			t.Fatalf("token new %q: %v", tt.args, err)
		}
		_, snippet, _ := strings.Cut(out.String(), "add its hash to access.yaml:\n")
		if !strings.Contains(snippet, "projects:") {
			t.Errorf("token new %q: snippet without projects:\n%s", tt.args, snippet)
		}
		l, err := access.Parse("access.yaml", []byte(snippet))
		if err != nil {
			t.Fatalf("token new %q printed a snippet access.yaml refuses: %v\n%s", tt.args, err, snippet)
		}
		if tt.canRead != "" && !l.CanRead("flux", tt.canRead) {
			t.Errorf("token new %q: the snippet does not let flux read %s:\n%s", tt.args, tt.canRead, snippet)
		}
		if got := len(l.Warnings()); got != tt.warnings {
			t.Errorf("token new %q: the snippet loads with %d warnings, want %d:\n%s", tt.args, got, tt.warnings, snippet)
		}
	}
	if err := cmdToken([]string{"new", "--name", "flux", "--projects", "platform/[x"}, io.Discard, io.Discard); err == nil {
		t.Errorf("token new accepted a project glob access.yaml refuses")
	}
}

// token new --environments grants those environments only; without it the
// snippet grants every one; a name access.yaml refuses is refused.
func TestTokenNewEnvironments(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		ok        bool
		all       bool
		canStage  bool
		canDeploy bool
	}{
		{[]string{"--environments", "staging"}, true, false, true, false},
		{[]string{"--environments", "staging, prod"}, true, false, true, true},
		{nil, true, true, true, true},
		{[]string{"--environments", "Prod"}, false, false, false, false},
		{[]string{"--environments", "staging,"}, false, false, false, false},
		{[]string{"--environments", "../x"}, false, false, false, false},
	} {
		var out bytes.Buffer
		err := cmdToken(append([]string{"new", "--name", "flux", "--projects", "platform/*"}, tt.args...), &out, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("token new %q: err = %v, want ok=%v", tt.args, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		_, snippet, _ := strings.Cut(out.String(), "add its hash to access.yaml:\n")
		l, err := access.Parse("access.yaml", []byte(snippet))
		if err != nil {
			t.Fatalf("token new %q printed a snippet access.yaml refuses: %v\n%s", tt.args, err, snippet)
		}
		g := l.Environments("flux", "platform/fleet")
		if g.All != tt.all || l.CanReadEnv("flux", "platform/fleet", "staging") != tt.canStage || l.CanReadEnv("flux", "platform/fleet", "prod") != tt.canDeploy {
			t.Errorf("token new %q: grant %+v, want all=%v staging=%v prod=%v:\n%s", tt.args, g, tt.all, tt.canStage, tt.canDeploy, snippet)
		}
	}
}
