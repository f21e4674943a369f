package access

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/gerritgate/gerritgate/storage/githttp"
)

func TestHTTPAuth(t *testing.T) {
	in := "readers:\n" +
		"  - name: flux\n    projects: [\"platform/*\"]\n    tokens: [\"" + HashToken("good") + "\"]\n" +
		"anonymous: [\"public/*\"]\n"
	l, err := Parse("access.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	a := NewHTTPAuth(l)
	tests := []struct {
		what       string
		header     string
		project    string
		wantReader string
		wantErr    error
	}{
		{"basic", basic("git", "good"), "platform/fleet", "flux", nil},
		{"basic, any user name", basic("x-access-token", "good"), "platform/fleet", "flux", nil},
		{"bearer", "Bearer good", "platform/fleet", "flux", nil},
		{"bearer, lower case", "bearer good", "platform/fleet", "flux", nil},
		{"no credentials", "", "platform/fleet", "", githttp.ErrUnauthenticated},
		{"wrong password", basic("git", "bad"), "platform/fleet", "", githttp.ErrUnauthenticated},
		{"wrong bearer", "Bearer bad", "platform/fleet", "", githttp.ErrUnauthenticated},
		{"empty bearer", "Bearer ", "platform/fleet", "", githttp.ErrUnauthenticated},
		{"token as user name", basic("good", ""), "platform/fleet", "", githttp.ErrUnauthenticated},
		{"other scheme", "Token good", "platform/fleet", "", githttp.ErrUnauthenticated},
		{"hash instead of token", "Bearer " + HashToken("good"), "platform/fleet", "", githttp.ErrUnauthenticated},
		{"not granted", "Bearer good", "other/x", "flux", githttp.ErrForbidden},
		{"escape", "Bearer good", "platform/../other", "flux", githttp.ErrForbidden},
		{"anonymous, no credentials", "", "public/docs", Anonymous, nil},
		{"anonymous, wrong credentials", "Bearer bad", "public/docs", Anonymous, nil},
		{"anonymous, reader", "Bearer good", "public/docs", "flux", nil},
		{"missing project, no credentials", "", "nope/x", "", githttp.ErrUnauthenticated},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/x/info/refs?service=git-upload-pack", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		reader, err := a.Authorize(r, tt.project)
		if reader != tt.wantReader || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: Authorize(%q) = %q, %v; want %q, %v", tt.what, tt.project, reader, err, tt.wantReader, tt.wantErr)
		}
	}
}

func basic(user, password string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// Only a metrics token opens /metrics: no reader's token does.
func TestHTTPAuthMetrics(t *testing.T) {
	in := "readers:\n  - name: flux\n    projects: [\"*\"]\n    tokens: [\"" + HashToken("reader") + "\"]\n" +
		"metrics:\n  tokens: [\"" + HashToken("scrape") + "\", \"" + HashToken("scrape2") + "\"]\n"
	l, err := Parse("access.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	a := NewHTTPAuth(l)
	for _, tt := range []struct {
		what, header string
		want         bool
	}{
		{"bearer metrics token", "Bearer scrape", true},
		{"second metrics token", "Bearer scrape2", true},
		{"basic metrics token", basic("prometheus", "scrape"), true},
		{"reader token", "Bearer reader", false},
		{"no credentials", "", false},
		{"wrong token", "Bearer scrap", false},
		{"hash instead of token", "Bearer " + HashToken("scrape"), false},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := a.Metrics(r); got != tt.want {
			t.Errorf("%s: Metrics = %v, want %v", tt.what, got, tt.want)
		}
	}
	noMetrics, _ := Parse("access.yaml", []byte("readers:\n  - name: flux\n    tokens: [\""+HashToken("reader")+"\"]\n"))
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Authorization", "Bearer reader")
	if NewHTTPAuth(noMetrics).Metrics(r) {
		t.Error("without a metrics section a reader's token opens /metrics")
	}
}

// The status page and the API show a reader of one environment that one
// only; anonymous callers see every environment of anonymous projects.
func TestHTTPAuthCanSee(t *testing.T) {
	in := "readers:\n" +
		"  - name: stager\n    projects: [\"platform/*\"]\n    environments: [staging]\n" +
		"  - name: ops\n    projects: [\"platform/*\"]\n" +
		"anonymous: [\"public/*\"]\n"
	l, err := Parse("access.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	a := NewHTTPAuth(l)
	tests := []struct {
		reader, project, env string
		want                 bool
	}{
		{"stager", "platform/fleet", "staging", true},
		{"stager", "platform/fleet", "prod", false},
		{"ops", "platform/fleet", "prod", true},
		{"stager", "public/docs", "prod", true},
		{"", "public/docs", "prod", true},
		{Anonymous, "platform/fleet", "staging", false},
		{"stager", "other/x", "staging", false},
	}
	for _, tt := range tests {
		if got := a.CanSee(tt.reader, tt.project, tt.env); got != tt.want {
			t.Errorf("CanSee(%q, %q, %q) = %v, want %v", tt.reader, tt.project, tt.env, got, tt.want)
		}
	}
	if g := a.Environments("stager", "platform/fleet"); g.All || len(g.Envs) != 1 || g.Envs[0] != "staging" {
		t.Errorf("Environments(stager) = %+v, want staging only", g)
	}
}
