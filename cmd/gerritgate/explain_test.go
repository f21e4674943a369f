package main

import (
	"io"
	"strings"
	"testing"
)

// explain --commit says a prefix is too short or not hex before it reads
// any config or asks Gerrit anything.
func TestExplainCommitPrefix(t *testing.T) {
	for _, tt := range []struct {
		commit, want string
	}{
		{"abcde", "too short: give 7 or more"},
		{"ABCDEF", "too short"},
		{"abcdefg", "not a commit id"},
		{strings.Repeat("a", 41), "not a commit id"},
		{"abcdef0", "no-such-config.yaml"}, // taken: explain goes on to the config
		{"ABCDEF0123", "no-such-config.yaml"},
	} {
		err := cmdExplain(t.Context(), []string{"--config", "no-such-config.yaml", "--project", "p", "--env", "prod", "--commit", tt.commit}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("explain --commit %s: %v, want an error saying %q", tt.commit, err, tt.want)
		}
	}
}
