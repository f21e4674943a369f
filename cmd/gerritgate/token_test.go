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
