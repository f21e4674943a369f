package gerrit

import (
	"context"
	"strings"
	"testing"
)

// What the client takes as a commit id, from Gerrit (revision keys) and
// from its caller (the commits to look up): a full SHA-1 or SHA-256 id in
// either case (Gerrit's answers are lower-cased before use), nothing
// shorter, longer or in between.
func TestCommitIDsFromGerritAndCaller(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	for _, tt := range []struct {
		what, id string
		ok       bool
	}{
		{"SHA-1", sha, true},
		{"SHA-1 in upper case", strings.ToUpper(sha), true},
		{"SHA-256", strings.Repeat("ab", 32), true},
		{"39 digits", sha[:39], false},
		{"41 digits", sha + "0", false},
		{"63 digits", strings.Repeat("ab", 32)[:63], false},
		{"not hex", strings.Repeat("g", 40), false},
	} {
		ci := ChangeInfo{Number: 1, Project: "team/app", Branch: "main", Revisions: map[string]RevisionInfo{tt.id: {Number: 1}}}
		_, err := ci.GateChange()
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "is not a SHA")) {
			t.Errorf("GateChange with revision key %q (%s): %v, want ok=%v", tt.id, tt.what, err, tt.ok)
		}
		cl, err := New("http://127.0.0.1:1", WithBasicAuth("svc", "pw"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.ChangesForCommits(context.Background(), "team/app", "main", []string{tt.id})
		if refused := err != nil && strings.Contains(err.Error(), "is not a full commit SHA"); refused == tt.ok {
			t.Errorf("ChangesForCommits(%q) (%s): %v, want refused=%v", tt.id, tt.what, err, !tt.ok)
		}
	}
}
