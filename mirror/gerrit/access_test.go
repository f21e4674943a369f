package gerrit

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// CanRead is true only for status 200 and false only for 403; anything
// else is an error, never an answer.
func TestCanReadAnswers(t *testing.T) {
	tests := []struct {
		what   string
		status int
		body   string
		want   bool
		err    bool
	}{
		{"granted", 200, `{"status":200}`, true, false},
		{"denied", 200, `{"status":403,"message":"user x lacks permission read"}`, false, false},
		{"project gone", 200, `{"status":404,"message":"no project"}`, false, true},
		{"no status", 200, `{}`, false, true},
		{"unknown account", 422, "cannot find account x", false, true},
		{"no view access", 403, "view access not permitted", false, true},
		{"not JSON", 200, "<html>", false, true},
	}
	for _, tt := range tests {
		var path, query string
		_, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
			path, query = r.URL.EscapedPath(), r.URL.RawQuery
			if tt.status != 200 {
				http.Error(w, tt.body, tt.status)
				return
			}
			if tt.body == "<html>" {
				w.Write([]byte(tt.body))
				return
			}
			gerritJSON(w, tt.body)
		})
		var ops []string
		c, err := New(srv.URL, WithBasicAuth("gate", "pw"), WithObserver(func(op, _ string) { ops = append(ops, op) }))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.CanRead(context.Background(), "platform/fleet", "flux@example.org", "refs/heads/main")
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("%s: CanRead = %v, %v; want %v, error %v", tt.what, got, err, tt.want, tt.err)
		}
		if path != "/a/projects/platform%2Ffleet/check.access" || query != "account=flux%40example.org&perm=read&ref=refs%2Fheads%2Fmain" {
			t.Errorf("%s: asked %s?%s", tt.what, path, query)
		}
		if len(ops) != 1 || ops[0] != "check access" {
			t.Errorf("%s: observed ops %q, want one \"check access\"", tt.what, ops)
		}
		if tt.status == 403 && !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: err %v is not ErrUnauthorized", tt.what, err)
		}
	}
}
