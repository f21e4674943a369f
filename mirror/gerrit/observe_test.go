package gerrit

import (
	"context"
	"io"
	"net/http"
	"testing"
)

// Every REST call is reported once, with its op and how it went.
func TestObserverSeesEveryCallWithItsOutcome(t *testing.T) {
	for _, tt := range []struct {
		name   string
		handle func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) { gerritJSON(w, `"3.13.5"`) }, "ok"},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Not found", http.StatusNotFound) }, "not_found"},
		{"403", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }, "unauthorized"},
		{"401", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) }, "unauthorized"},
		{"409", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusConflict) }, "conflict"},
		{"400", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad", http.StatusBadRequest) }, "client_error"},
		{"503", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }, "server_error"},
		{"not Gerrit JSON", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `"3.13.5"`) }, "bad_answer"},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}, "network"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newCanned(t, tt.handle)
			var got [][2]string
			c, err := New(srv.URL, WithObserver(func(op, outcome string) { got = append(got, [2]string{op, outcome}) }))
			if err != nil {
				t.Fatal(err)
			}
			c.Version(context.Background())
			if len(got) != 1 || got[0] != [2]string{"get version", tt.want} {
				t.Errorf("observed %v, want one [get version %s]", got, tt.want)
			}
		})
	}
}
