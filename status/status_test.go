package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
)

// viewers lets a request with "Authorization: Bearer <reader>" see the
// projects listed for that reader (every environment of "project", only
// env of "project@env"), and an anonymous one those of "".
type viewers map[string][]string

func (v viewers) Reader(r *http.Request) (string, bool) {
	reader, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, known := v[reader]
	return reader, ok && known
}

func (v viewers) CanSee(reader, project, env string) bool {
	for _, p := range v[reader] {
		if p == project || p == project+"@"+env {
			return true
		}
	}
	return false
}

type explainer struct {
	calls int
	err   error
}

func (e *explainer) Explain(ctx context.Context, project, env string) (deploy.Result, bool, error) {
	e.calls++
	if project == "ungated" {
		return deploy.Result{}, false, errors.New("the policy deploys no such environment")
	}
	return deploy.Result{Project: project, Env: env, Reason: deploy.NotApproved, Time: time.Now()}, true, e.err
}

func TestBoardRecordReportsTransitions(t *testing.T) {
	b := NewBoard()
	steps := []struct {
		res  deploy.Result
		want bool
	}{
		{deploy.Result{Project: "p", Env: "prod", Reason: deploy.UpToDate}, true},
		{deploy.Result{Project: "p", Env: "prod", Reason: deploy.UpToDate}, false},
		{deploy.Result{Project: "p", Env: "prod", Reason: deploy.UpToDate, Head: "abc"}, true},
		{deploy.Result{Project: "p", Env: "prod", Reason: deploy.NotApproved, Head: "abc"}, true},
		{deploy.Result{Project: "p", Env: "prod", Reason: deploy.NotApproved, Head: "abc", Message: "veto"}, true},
		{deploy.Result{Project: "p", Env: "staging", Reason: deploy.NotApproved, Head: "abc", Message: "veto"}, true},
	}
	for i, st := range steps {
		if got := b.Record(st.res); got != st.want {
			t.Errorf("step %d: Record(%+v) changed = %v, want %v", i, st.res, got, st.want)
		}
	}
	b.Retain(func(project, env string) bool { return env == "prod" })
	if _, ok := b.Result("p", "staging"); ok {
		t.Errorf("Retain(prod only) kept p/staging")
	}
	if got := b.Snapshot(); len(got) != 1 || got[0].Env != "prod" {
		t.Errorf("after Retain, Snapshot = %+v, want p/prod only", got)
	}
}

// A caller sees only what Viewers lets it: the page, the status, one
// environment and its pending commits.
func TestHandlerShowsOnlyVisibleProjects(t *testing.T) {
	b := NewBoard()
	b.Record(deploy.Result{Project: "public/site", Env: "prod", Reason: deploy.UpToDate, Time: time.Now()})
	b.Record(deploy.Result{Project: "secret/fleet", Env: "prod", Reason: deploy.UpToDate, Time: time.Now()})
	b.Record(deploy.Result{Project: "two/envs", Env: "staging", Reason: deploy.UpToDate, To: "5747a9e5", Time: time.Now()})
	b.Record(deploy.Result{Project: "two/envs", Env: "prod", Reason: deploy.UpToDate, To: "9e0d1e7a", Time: time.Now()})
	b.Polled()
	mux := http.NewServeMux()
	NewHandler(b, viewers{"": {"public/site"}, "public": {"public/site"}, "flux": {"public/site", "secret/fleet"},
		"stager": {"two/envs@staging"}, "prodder": {"two/envs@prod"}}, &explainer{}).Register(mux)
	tests := []struct {
		who, path  string
		code       int
		shows      string
		mustNotSay string
	}{
		// Without valid credentials: a challenge, and the page shows
		// only the anonymous projects.
		{"", "/", 401, "public/site", "secret/fleet"},
		{"intruder", "/", 401, "public/site", "secret/fleet"},
		{"flux", "/", 200, "secret/fleet", "sign in"},
		{"", "/api/v1/status", 401, "sign in", "public/site"},
		{"intruder", "/api/v1/status", 401, "sign in", "secret/fleet"},
		{"flux", "/api/v1/status", 200, "secret/fleet", ""},
		{"public", "/api/v1/status", 200, "public/site", "secret/fleet"},
		{"", "/api/v1/projects/secret%2Ffleet/environments/prod", 401, "sign in", "secret/fleet"},
		{"public", "/api/v1/projects/secret%2Ffleet/environments/prod", 404, "no such project", "secret/fleet"},
		{"flux", "/api/v1/projects/secret%2Ffleet/environments/prod", 200, "secret/fleet", ""},
		{"", "/api/v1/projects/secret%2Ffleet/environments/prod/pending", 401, "sign in", "secret/fleet"},
		{"public", "/api/v1/projects/secret%2Ffleet/environments/prod/pending", 404, "no such project", "secret/fleet"},
		{"flux", "/api/v1/projects/secret%2Ffleet/environments/prod/pending", 200, "NotApproved", ""},
		{"flux", "/api/v1/projects/secret%2Ffleet/environments/staging", 404, "no such project", ""},
		// A reader of one environment sees that one, never the other's
		// state (its deployed commit, say).
		{"stager", "/", 200, "5747a9e5", "9e0d1e7a"},
		{"stager", "/api/v1/status", 200, "5747a9e5", "9e0d1e7a"},
		{"prodder", "/api/v1/status", 200, "9e0d1e7a", "5747a9e5"},
		{"stager", "/api/v1/projects/two%2Fenvs/environments/staging", 200, "5747a9e5", ""},
		{"stager", "/api/v1/projects/two%2Fenvs", 200, "5747a9e5", "9e0d1e7a"},
		{"prodder", "/api/v1/projects/two%2Fenvs", 200, "9e0d1e7a", "5747a9e5"},
		{"stager", "/api/v1/projects/two%2Fenvs/environments/prod", 404, "no such project", "9e0d1e7a"},
		{"prodder", "/api/v1/projects/two%2Fenvs/environments/staging", 404, "no such project", "5747a9e5"},
		{"stager", "/api/v1/projects/two%2Fenvs/environments/prod/pending", 404, "no such project", "9e0d1e7a"},
		{"prodder", "/api/v1/projects/two%2Fenvs/environments/prod/pending", 200, "NotApproved", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.path, nil)
		if tt.who != "" {
			r.Header.Set("Authorization", "Bearer "+tt.who)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		body := w.Body.String()
		if w.Code != tt.code || !strings.Contains(body, tt.shows) || (tt.mustNotSay != "" && strings.Contains(body, tt.mustNotSay)) {
			t.Errorf("%q GET %s = %d %s, want %d showing %q and not %q", tt.who, tt.path, w.Code, body, tt.code, tt.shows, tt.mustNotSay)
		}
		// A browser offers a sign-in only for a Basic challenge.
		if got := w.Header().Get("WWW-Authenticate"); (w.Code == 401) != strings.HasPrefix(got, `Basic realm="gerritgate"`) {
			t.Errorf("%q GET %s = %d with WWW-Authenticate %q, want a Basic challenge exactly on 401", tt.who, tt.path, w.Code, got)
		}
	}
}

// /pending reuses a fresh decision for PendingTTL, answers 404 for an
// environment the policy no longer gates and 502 when deciding fails.
func TestHandlerPending(t *testing.T) {
	b := NewBoard()
	for _, p := range []string{"p", "ungated", "broken"} {
		b.Record(deploy.Result{Project: p, Env: "prod", Reason: deploy.UpToDate})
	}
	ex := &explainer{}
	mux := http.NewServeMux()
	NewHandler(b, Everyone{}, ex).Register(mux)
	get := func(project string) (int, deploy.Result) {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/projects/"+project+"/environments/prod/pending", nil))
		var res deploy.Result
		json.Unmarshal(w.Body.Bytes(), &res)
		return w.Code, res
	}
	if code, res := get("p"); code != 200 || res.Reason != deploy.NotApproved {
		t.Fatalf("pending = %d %+v, want 200 NotApproved", code, res)
	}
	get("p")
	if ex.calls != 1 {
		t.Errorf("two /pending within %s decided %d times, want once", PendingTTL, ex.calls)
	}
	if code, _ := get("ungated"); code != 404 {
		t.Errorf("pending of an environment the policy does not gate = %d, want 404", code)
	}
	ex.err = errors.New("gerrit down")
	if code, _ := get("broken"); code != http.StatusBadGateway {
		t.Errorf("pending when deciding fails = %d, want 502", code)
	}
}

// fakeTrail is an audit trail per project, newest first. Its tip names
// the newest record and the length, so it moves when a record is added; a
// project named broken/trail fails to read. reads counts Latest calls.
type fakeTrail struct {
	recs  map[string][]audit.Record
	reads int
	fail  error // Latest's error when set
}

func (tr *fakeTrail) Tip(project, env string) (string, error) {
	if project == "broken/trail" {
		return "", errors.New("open /data/served/broken/trail.git: object not found")
	}
	recs := tr.recs[project]
	if len(recs) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d-%s", len(recs), recs[0].To), nil
}

func (tr *fakeTrail) Latest(project, tip string, n int) ([]audit.Record, error) {
	tr.reads++
	if tr.fail != nil {
		return nil, tr.fail
	}
	if want, _ := tr.Tip(project, ""); tip != want {
		return nil, fmt.Errorf("Latest(%s, %s): the tip is %s", project, tip, want)
	}
	recs := tr.recs[project]
	return recs[:min(n, len(recs))], nil
}

// The page shows per environment the deployed commit (subject, change
// linked to Gerrit, since when), the first blocking rule of the pending
// commit that stops it, the last mirror fetch and its result, and the
// newest audit records, bounded.
func TestPageShowsEnvironment(t *testing.T) {
	deployed, blocked := strings.Repeat("a", 40), strings.Repeat("b", 40)
	b := NewBoard()
	b.Record(deploy.Result{Project: "platform/fleet", Branch: "main", Env: "prod", Reason: deploy.NotApproved, To: deployed, Head: blocked,
		Message: "not approved", Time: time.Now(), Decision: &gate.Decision{Target: deployed, BlockedAt: blocked, Remaining: 1,
			Verdicts: []gate.Verdict{{SHA: blocked, Subject: "Raise replicas", Rules: []gate.Rule{
				{Name: "label Verified", Pass: true, Detail: "carol +1"},
				{Name: "veto Code-Review", Pass: false, Detail: "vetoed: Code-Review -2 by carol"},
				{Name: "label Code-Review", Pass: false, Detail: "second failure"},
			}}}}})
	b.Record(deploy.Result{Project: "broken/trail", Env: "prod", Reason: deploy.UpToDate, Time: time.Now()})
	b.Fetched("platform/fleet", time.Now(), errors.New("fetch: gerrit answered 503"))
	b.Fetched("broken/trail", time.Now(), nil)
	var recs []audit.Record
	for i := range TrailEntries + 2 {
		recs = append(recs, audit.Record{Kind: audit.Advance, To: fmt.Sprintf("%040d", i), Time: time.Date(2026, 1, 10-i, 9, 0, 0, 0, time.UTC),
			Commits: []audit.Commit{{SHA: fmt.Sprintf("%040d", i), Subject: fmt.Sprintf("older change %d", i)}}})
	}
	recs[0] = audit.Record{Kind: audit.Advance, To: deployed, Time: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC),
		Commits: []audit.Commit{{SHA: deployed, Subject: "Add podinfo", Change: 7}}}
	mux := http.NewServeMux()
	NewHandler(b, Everyone{}, &explainer{}, WithGerrit("https://gate:s3cret@gerrit.example/"), WithTrail(&fakeTrail{recs: map[string][]audit.Record{"platform/fleet": recs}})).Register(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	body := w.Body.String()
	for _, want := range []string{
		`“Add podinfo”`, `<a href="https://gerrit.example/c/platform/fleet/&#43;/7">change 7</a>`, "since 2026-01-10 09:00:00 UTC",
		"1 pending", "veto Code-Review: vetoed: Code-Review -2 by carol", "fetch: gerrit answered 503",
		"older change " + fmt.Sprint(TrailEntries-1), "the audit trail cannot be read",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	for _, not := range []string{"s3cret", "second failure", "older change " + fmt.Sprint(TrailEntries)} {
		if strings.Contains(body, not) {
			t.Errorf("the page shows %q:\n%s", not, body)
		}
	}
}
