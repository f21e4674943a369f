package projectglob

import (
	"errors"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, project string
		want             bool
	}{
		{"*", "fleet", true},
		{"*", "platform/fleet", false}, // * never crosses a slash
		{"**", "fleet", true},
		{"**", "a/b/c", true},
		{"platform/*", "platform/fleet", true},
		{"platform/*", "platform/fleet/sub", false},
		{"platform/*", "platform", false},
		{"platform/**", "platform/fleet", true},
		{"platform/**", "platform/a/b/c", true},
		{"platform/**", "platform", false}, // below platform/, not platform itself
		{"platform/**", "platformx/a", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"**/fleet", "fleet", true},
		{"**/fleet", "x/y/fleet", true},
		{"team-?/app", "team-a/app", true},
		{"team-[ab]/app", "team-c/app", false},
		{"platform/fleet", "platform/fleet", true},
		{"platform/fleet", "platform/fleetx", false},
		{"platform/[", "platform/[", false}, // invalid patterns match nothing
		{"*", "", false},
	} {
		if got := Match(tt.pattern, tt.project); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.project, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		wantErr string // "" for valid
	}{
		{"platform/*", ""},
		{"**", ""},
		{"a/**/b", ""},
		{"platform/fleet", ""},
		{"", "empty project pattern"},
		{"/platform/*", "leading or trailing slash"},
		{"platform/", "leading or trailing slash"},
		{"a//b", "empty path segment"},
		{"a/../b", ".. segment"},
		{"./a", ". segment"},
		{"a/**b", "whole path segment"},
		{"platform/[", "syntax error in pattern"},
		{"a b", "not allowed"},
		{`a\*`, "not allowed"},
	} {
		err := Validate(tt.pattern)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Validate(%q) = %v, want ok", tt.pattern, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, new(*SyntaxError))):
			t.Errorf("Validate(%q) = %v, want a SyntaxError saying %q", tt.pattern, err, tt.wantErr)
		}
	}
}

// BenchmarkMatchManyStars: many ** stay quadratic.
func BenchmarkMatchManyStars(b *testing.B) {
	p := strings.Repeat("**/", 30) + "x"
	n := strings.Repeat("a/", 60) + "y"
	for i := 0; i < b.N; i++ {
		Match(p, n)
	}
}
