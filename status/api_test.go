package status

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/deploy"
)

// The JSON API answers what the page shows: per environment the last
// result (Held with until), the project's last mirror fetch (time, ok,
// error), the deployed commit and the newest audit entries (time, kind,
// from, to, who), on /api/v1/status, /api/v1/projects/{project} and
// /api/v1/projects/{project}/environments/{env}.
func TestAPIShowsWhatThePageShows(t *testing.T) {
	base, deployed := strings.Repeat("a", 40), strings.Repeat("b", 40)
	at := func(hm string) time.Time {
		tm, err := time.Parse(time.RFC3339, "2026-01-10T"+hm+":00Z")
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	b := NewBoard()
	b.Record(deploy.Result{Project: "platform/fleet", Env: "staging", Reason: deploy.UpToDate, To: deployed, Head: deployed, Time: at("09:05")})
	b.Record(deploy.Result{Project: "platform/fleet", Env: "prod", Reason: deploy.Held, To: base, Head: deployed, Time: at("09:05"),
		Message: "deploy/prod is at aaaaaaaaaaaa; bbbbbbbbbbbb soaks on deploy/staging; until 2026-01-10T09:20:00Z", Until: at("09:20")})
	b.Record(deploy.Result{Project: "broken/trail", Env: "prod", Reason: deploy.UpToDate, Time: at("09:05")})
	b.Fetched("platform/fleet", at("09:04"), errors.New("fetch: gerrit answered 503"))
	b.Fetched("broken/trail", at("09:04"), nil)
	tr := &fakeTrail{recs: map[string][]audit.Record{"platform/fleet": {
		{Kind: audit.Advance, From: base, To: deployed, Time: at("09:00"), Policy: audit.Policy{Name: "reviewed"},
			Commits: []audit.Commit{{SHA: deployed, Subject: "Add podinfo", Change: 7, Approved: true}}},
		{Kind: audit.Baseline, To: base, Time: at("08:00"), Policy: audit.Policy{Name: "reviewed"}},
	}}}
	// prod's trail: an operator's hold. fakeTrail keys by project, so
	// prod sees the same records; its own kind is checked through staging.
	mux := http.NewServeMux()
	NewHandler(b, Everyone{}, &explainer{}, WithGerrit("https://gerrit.example"), WithTrail(tr)).Register(mux)

	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code, w.Body.String()
	}
	// envsOf decodes the environments of each endpoint's answer.
	type source struct {
		path string
		envs func(body string) []Environment
	}
	list := func(body string) []Environment {
		var r struct{ Environments []Environment }
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
		return r.Environments
	}
	one := func(body string) []Environment {
		var e Environment
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
		return []Environment{e}
	}
	sources := []source{
		{"/api/v1/status", list},
		{"/api/v1/projects/platform%2Ffleet", list},
		{"/api/v1/projects/platform%2Ffleet/environments/staging", one},
		{"/api/v1/projects/platform%2Ffleet/environments/prod", one},
		{"/api/v1/projects/broken%2Ftrail", list},
	}
	wantFetch := Fetch{Time: at("09:04"), OK: false, Error: "fetch: gerrit answered 503"}
	wantAudit := []Entry{
		{Time: at("09:00"), Kind: audit.Advance, From: base, To: deployed, By: "gerritgate", Policy: "reviewed",
			Commits: []audit.Commit{{SHA: deployed, Subject: "Add podinfo", Change: 7, Approved: true}}},
		{Time: at("08:00"), Kind: audit.Baseline, To: base, By: "gerritgate", Policy: "reviewed"},
	}
	seen := map[string]bool{}
	for _, src := range sources {
		code, body := get(src.path)
		if code != 200 {
			t.Errorf("GET %s = %d %s, want 200", src.path, code, body)
			continue
		}
		if strings.Contains(body, "/data/served") {
			t.Errorf("GET %s shows the trail's error, which names a server path:\n%s", src.path, body)
		}
		for _, e := range src.envs(body) {
			where := src.path + " " + e.Project + "/" + e.Env
			seen[e.Project+"/"+e.Env] = true
			switch e.Project {
			case "platform/fleet":
				if e.Fetch == nil || *e.Fetch != wantFetch {
					t.Errorf("%s: fetch %+v, want %+v", where, e.Fetch, wantFetch)
				}
				if got, _ := json.Marshal(e.Audit); string(got) != string(must(json.Marshal(wantAudit))) {
					t.Errorf("%s: audit\n%s\nwant\n%s", where, got, must(json.Marshal(wantAudit)))
				}
			case "broken/trail":
				if e.Fetch == nil || !e.Fetch.OK || e.Fetch.Error != "" {
					t.Errorf("%s: fetch %+v, want ok", where, e.Fetch)
				}
				if e.AuditError != trailUnreadable || len(e.Audit) != 0 {
					t.Errorf("%s: audit %+v error %q, want none and %q", where, e.Audit, e.AuditError, trailUnreadable)
				}
			}
			switch e.Project + "/" + e.Env {
			case "platform/fleet/staging":
				if e.Deployed == nil || e.Deployed.Subject != "Add podinfo" || !e.Since.Equal(at("09:00")) || e.Link != "https://gerrit.example/c/platform/fleet/+/7" {
					t.Errorf("%s: deployed %+v since %s at %q, want Add podinfo since 09:00 with its change", where, e.Deployed, e.Since, e.Link)
				}
			case "platform/fleet/prod":
				if e.Reason != deploy.Held || !e.Until.Equal(at("09:20")) || !strings.Contains(e.Message, "soaks on deploy/staging") {
					t.Errorf("%s: %s %q until %s, want Held soaking until 09:20", where, e.Reason, e.Message, e.Until)
				}
				if e.Deployed != nil {
					t.Errorf("%s: deployed %+v, but the newest record is not prod's commit", where, e.Deployed)
				}
			}
		}
	}
	for _, env := range []string{"platform/fleet/staging", "platform/fleet/prod", "broken/trail/prod"} {
		if !seen[env] {
			t.Errorf("no endpoint answered %s", env)
		}
	}
	if code, body := get("/api/v1/projects/nope"); code != 404 {
		t.Errorf("GET /api/v1/projects/nope = %d %s, want 404", code, body)
	}
}

// An operator's record says who and why.
func TestEntriesNameTheOperator(t *testing.T) {
	at := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
	var commits []audit.Commit
	for i := range entryCommits + 2 {
		commits = append(commits, audit.Commit{SHA: strings.Repeat(string(rune('a'+i)), 40)})
	}
	tests := []struct {
		rec  audit.Record
		want Entry
	}{
		{audit.Record{Kind: audit.Hold, From: "x", To: "x", Time: at, Policy: audit.Policy{Name: "prod"}, Operator: &audit.Operator{By: "ops@host", Reason: "INC-7"}},
			Entry{Kind: audit.Hold, From: "x", To: "x", Time: at, Policy: "prod", By: "ops@host", Reason: "INC-7"}},
		{audit.Record{Kind: audit.Advance, From: "x", To: "y", Time: at, Policy: audit.Policy{Name: "prod"}, Commits: commits},
			Entry{Kind: audit.Advance, From: "x", To: "y", Time: at, Policy: "prod", By: "gerritgate", Commits: commits[2:], More: 2}},
	}
	for _, tt := range tests {
		got := entries([]audit.Record{tt.rec})
		if g, w := must(json.Marshal(got)), must(json.Marshal([]Entry{tt.want})); string(g) != string(w) {
			t.Errorf("entries(%s record) = %s, want %s", tt.rec.Kind, g, w)
		}
	}
}

// The page reads an environment's audit records once per movement of
// audit/<env>: later views reuse them until the ref moves, and a failed
// read is tried again.
func TestBoardCachesAuditTrail(t *testing.T) {
	b := NewBoard()
	b.Record(deploy.Result{Project: "p", Env: "prod", Reason: deploy.UpToDate, To: "x"})
	tr := &fakeTrail{recs: map[string][]audit.Record{"p": {{Kind: audit.Baseline, To: "x"}}}}
	mux := http.NewServeMux()
	NewHandler(b, Everyone{}, &explainer{}, WithTrail(tr)).Register(mux)
	view := func() string {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		return w.Body.String()
	}
	steps := []struct {
		what      string
		prepare   func()
		wantReads int
		shows     string
	}{
		{"first view", func() {}, 1, "baseline to <code>x"},
		{"second view", func() {}, 1, "baseline to <code>x"},
		{"the API", func() {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/status", nil))
		}, 1, "baseline to <code>x"},
		{"audit/prod moved", func() { tr.recs["p"] = append([]audit.Record{{Kind: audit.Advance, To: "y"}}, tr.recs["p"]...) }, 2, "advance to <code>y"},
		{"after it moved", func() {}, 2, "advance to <code>y"},
		{"after a reload dropped p", func() {
			b.Retain(func(string, string) bool { return false })
			b.Record(deploy.Result{Project: "p", Env: "prod"})
		}, 3, "advance to <code>y"},
		{"a read fails", func() {
			tr.recs["p"] = append([]audit.Record{{Kind: audit.Advance, To: "z"}}, tr.recs["p"]...)
			tr.fail = errors.New("object not found")
		}, 4, trailUnreadable},
		{"and is tried again", func() {}, 5, trailUnreadable},
		{"until it works", func() { tr.fail = nil }, 6, "advance to <code>z"},
		{"and is kept", func() {}, 6, "advance to <code>z"},
	}
	for _, st := range steps {
		st.prepare()
		body := view()
		if tr.reads != st.wantReads || !strings.Contains(body, st.shows) {
			t.Errorf("%s: %d reads of the records, want %d; page shows %q: %v", st.what, tr.reads, st.wantReads, st.shows, strings.Contains(body, st.shows))
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
