package gerrit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// canned serves fixed answers and records what was asked.
type canned struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
	handle   func(w http.ResponseWriter, r *http.Request)
}

func (c *canned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.requests = append(c.requests, r)
	c.bodies = append(c.bodies, string(b))
	c.mu.Unlock()
	c.handle(w, r)
}

func newCanned(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*canned, *httptest.Server) {
	t.Helper()
	c := &canned{handle: h}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func gerritJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(w, ")]}'\n"+body)
}

func TestNewRejectsBadBaseURLs(t *testing.T) {
	for _, base := range []string{
		"", "review.example.org", "ftp://review.example.org",
		"https://user:s3cret@review.example.org", "https://review.example.org/?x=1",
	} {
		_, err := New(base)
		if err == nil {
			t.Errorf("New(%q) = nil error, want one", base)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) error %q shows the password", base, err)
		}
	}
	if _, err := New("https://r.example.org", WithPageSize(0)); err == nil {
		t.Error("New with page size 0: nil error, want one")
	}
}

func TestAuthPrefixAndVersion(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		wantPath string
		wantAuth bool
	}{
		{"anonymous", nil, "/r/config/server/version", false},
		{"authenticated", []Option{WithBasicAuth("svc", "pw")}, "/r/a/config/server/version", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) { gerritJSON(w, `"3.13.1"`) })
			cl, err := New(srv.URL+"/r/", tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cl.Version(context.Background())
			if err != nil || got != "3.13.1" {
				t.Fatalf("Version() = %q, %v; want 3.13.1", got, err)
			}
			r := c.requests[0]
			if r.URL.Path != tt.wantPath {
				t.Errorf("path = %q, want %q", r.URL.Path, tt.wantPath)
			}
			u, p, ok := r.BasicAuth()
			if ok != tt.wantAuth || (ok && (u != "svc" || p != "pw")) {
				t.Errorf("basic auth = %q %q %v, want set=%v", u, p, ok, tt.wantAuth)
			}
		})
	}
}

// basicSvc is the Basic credential of svc:hunter2, as a header carries it.
var basicSvc = base64.StdEncoding.EncodeToString([]byte("svc:hunter2"))

func TestErrors(t *testing.T) {
	big := strings.Repeat("x", 5000)
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int
		notFound   bool
		unauth     bool
		wantInErr  string
	}{
		{"unauthorized", 401, "Unauthorized\n", 401, false, true, `"Unauthorized"`},
		{"forbidden", 403, "administrate server not permitted", 403, false, true, "not permitted"},
		{"not found", 404, "Not found: 12345\n", 404, true, false, "Not found: 12345"},
		{"server error", 500, "Internal server error", 500, false, false, "500"},
		{"huge error body", 503, big, 503, false, false, "..."},
		{"junk instead of json", 200, "<html>proxy login</html>", 200, false, false, "not Gerrit JSON"},
		{"magic but junk", 200, ")]}'\n{not json", 200, false, false, "decoding"},
		{"json without magic", 200, `"3.13.1"`, 200, false, false, "not Gerrit JSON"},
		{"wrong json type", 200, ")]}'\n{\"a\":1}", 200, false, false, "decoding"},
		// An upstream that echoes the request's headers must not show
		// the gate's credential (issue 9, attack 6).
		{"echoed headers", 400, "bad request\nAuthorization: Basic " + basicSvc + "\nCookie: GerritAccount=aSceprt", 400, false, false, "Authorization: [redacted]"},
		{"echoed password", 500, "you sent hunter2", 500, false, false, "you sent [redacted]"},
		{"echoed headers instead of json", 200, "Authorization: Basic " + basicSvc, 200, false, false, "not Gerrit JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			cl, err := New(srv.URL, WithBasicAuth("svc", "hunter2"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Version(context.Background())
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("Version() error = %v, want *Error", err)
			}
			if ge.StatusCode != tt.wantStatus || ge.Op != "get version" || ge.URL != "/a/config/server/version" {
				t.Errorf("error = %+v, want status %d, op get version, URL /a/config/server/version", ge, tt.wantStatus)
			}
			if got := errors.Is(err, ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", got, tt.notFound)
			}
			if got := errors.Is(err, ErrUnauthorized); got != tt.unauth {
				t.Errorf("errors.Is(err, ErrUnauthorized) = %v, want %v", got, tt.unauth)
			}
			if len(ge.Body) > maxErrorBody+3 || strings.HasSuffix(ge.Body, "\n") {
				t.Errorf("body not trimmed and bounded: %d bytes", len(ge.Body))
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantInErr) {
				t.Errorf("error %q does not contain %q", msg, tt.wantInErr)
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "svc:") || strings.Contains(msg, "127.0.0.1") ||
				strings.Contains(msg, basicSvc) || strings.Contains(msg, "aSceprt") {
				t.Errorf("error %q shows credentials or host", msg)
			}
		})
	}
}

func TestResponseBoundAndContext(t *testing.T) {
	_, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		gerritJSON(w, `"`+strings.Repeat("9", 4096)+`"`)
	})
	cl, _ := New(srv.URL, WithMaxResponse(1024))
	if _, err := cl.Version(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than 1024") {
		t.Errorf("oversized answer: error = %v, want 'larger than 1024'", err)
	}

	block := make(chan struct{})
	_, slow := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	defer close(block)
	cl, _ = New(slow.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cl.Version(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Version with expired context: error = %v, want DeadlineExceeded", err)
	}
}

func TestTimestamp(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{`"2026-01-02 11:00:00.000000000"`, time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC), false},
		{`"2026-01-02 11:00:00.123000000"`, time.Date(2026, 1, 2, 11, 0, 0, 123e6, time.UTC), false},
		{`"2026-01-02 11:00:00"`, time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC), false},
		{`null`, time.Time{}, false},
		{`"2026-01-02T11:00:00Z"`, time.Time{}, true},
		{`1767351600`, time.Time{}, true},
	}
	for _, tt := range tests {
		var ts Timestamp
		err := json.Unmarshal([]byte(tt.in), &ts)
		if (err != nil) != tt.wantErr || !ts.Equal(tt.want) {
			t.Errorf("unmarshal %s = %v, %v; want %v, error %v", tt.in, ts.Time, err, tt.want, tt.wantErr)
		}
	}
	b, _ := json.Marshal(Timestamp{time.Date(2026, 1, 2, 12, 0, 0, 5e6, time.FixedZone("x", 3600))})
	if string(b) != `"2026-01-02 11:00:00.005000000"` {
		t.Errorf("marshal = %s, want UTC in Gerrit's format", b)
	}
}

func TestLabelValues(t *testing.T) {
	var l LabelInfo
	if err := json.Unmarshal([]byte(`{"values":{"-2":"No"," 0":"No score","+1":"Maybe","+2":"Yes"}}`), &l); err != nil {
		t.Fatal(err)
	}
	lo, hi, ok := l.Range()
	if lo != -2 || hi != 2 || !ok {
		t.Errorf("Range() = %d, %d, %v; want -2, 2, true", lo, hi, ok)
	}
	for v, want := range map[int]string{-2: "-2", 0: " 0", 1: "+1"} {
		if got := FormatLabelValue(v); got != want {
			t.Errorf("FormatLabelValue(%d) = %q, want %q", v, got, want)
		}
		if back, err := ParseLabelValue(want); err != nil || back != v {
			t.Errorf("ParseLabelValue(%q) = %d, %v; want %d", want, back, err, v)
		}
	}
	if _, _, ok := (LabelInfo{Values: map[string]string{"x": ""}}).Range(); ok {
		t.Error("Range() of a junk key: ok, want not ok")
	}
}

// pager serves a fixed ordered result list page by page, the way Gerrit does.
func pager(t *testing.T, total func(call int) []int, queryLimit int) (*canned, *httptest.Server) {
	calls := 0
	return newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		s, _ := strconv.Atoi(q.Get("S"))
		list := total(calls)
		calls++
		limit := min(n, queryLimit)
		var page []map[string]any
		for i := s; i < len(list) && len(page) < limit; i++ {
			page = append(page, map[string]any{"_number": list[i], "project": "p", "branch": "main"})
		}
		if len(page) > 0 && s+len(page) < len(list) {
			page[len(page)-1]["_more_changes"] = true
		}
		b, _ := json.Marshal(page)
		if page == nil {
			b = []byte("[]")
		}
		gerritJSON(w, string(b))
	})
}

func TestQueryChangesPaging(t *testing.T) {
	seq := func(from, to int) []int {
		var s []int
		for i := from; i >= to; i-- {
			s = append(s, i)
		}
		return s
	}
	tests := []struct {
		name       string
		pageSize   int
		queryLimit int
		list       func(call int) []int
		want       []int
		wantCalls  int
	}{
		{"empty", 3, 500, func(int) []int { return nil }, nil, 1},
		{"one page", 10, 500, func(int) []int { return seq(5, 1) }, seq(5, 1), 1},
		{"exact pages", 2, 500, func(int) []int { return seq(4, 1) }, seq(4, 1), 2},
		{"three pages", 2, 500, func(int) []int { return seq(5, 1) }, seq(5, 1), 3},
		{"server limit cuts pages", 10, 2, func(int) []int { return seq(5, 1) }, seq(5, 1), 3},
		{
			// Change 9 (unseen, on a later page) is updated after the first
			// page: it jumps to the front and the rest shifts down by one.
			"drift duplicates",
			3, 500,
			func(call int) []int {
				if call == 0 {
					return []int{12, 11, 10, 9, 8, 7, 6}
				}
				return []int{9, 12, 11, 10, 8, 7, 6}
			},
			[]int{12, 11, 10, 8, 7, 6}, 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := pager(t, tt.list, tt.queryLimit)
			cl, _ := New(srv.URL, WithPageSize(tt.pageSize))
			got, err := cl.QueryChanges(context.Background(), "status:merged", OptLabels)
			if err != nil {
				t.Fatal(err)
			}
			var nums []int
			for _, ci := range got {
				nums = append(nums, ci.Number)
				if ci.MoreChanges {
					t.Errorf("change %d still carries _more_changes", ci.Number)
				}
			}
			if fmt.Sprint(nums) != fmt.Sprint(tt.want) {
				t.Errorf("numbers = %v, want %v", nums, tt.want)
			}
			if len(c.requests) != tt.wantCalls {
				t.Errorf("%d requests, want %d", len(c.requests), tt.wantCalls)
			}
			q := c.requests[0].URL.Query()
			if q.Get("q") != "status:merged" || q.Get("o") != "LABELS" || q.Get("n") != strconv.Itoa(tt.pageSize) || q.Get("S") != "0" {
				t.Errorf("first query = %v", q)
			}
		})
	}
}

func TestQueryChangesRepeatedPages(t *testing.T) {
	c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		gerritJSON(w, `[{"_number":1,"project":"p","branch":"main"},{"_number":2,"project":"p","branch":"main","_more_changes":true}]`)
	})
	cl, _ := New(srv.URL, WithPageSize(2))
	if _, err := cl.QueryChanges(context.Background(), "status:merged"); err == nil || !strings.Contains(err.Error(), "already seen") {
		t.Errorf("server ignoring S: error = %v", err)
	}
	if len(c.requests) != 4 {
		t.Errorf("%d requests, want 4 (the first page and three repeats)", len(c.requests))
	}
}

func TestQuoteQuery(t *testing.T) {
	for in, want := range map[string]string{
		"plain":      `"plain"`,
		"team/app":   `"team/app"`,
		`we"ird`:     `{we"ird}`,
		`we"ird{}`:   `"we\"ird{}"`,
		"with space": `"with space"`,
		`back\slash`: `{back\slash}`,
	} {
		if got := QuoteQuery(in); got != want {
			t.Errorf("QuoteQuery(%q) = %s, want %s", in, got, want)
		}
	}
}

const sha1 = "1111111111111111111111111111111111111111"
const sha2 = "2222222222222222222222222222222222222222"
const sha3 = "3333333333333333333333333333333333333333"

// mergedChange is a ChangeInfo as Gerrit 3.x answers it for a merged change
// with the options ChangesForCommits asks for.
const mergedChange = `{
  "id": "team%2Fapp~42",
  "triplet_id": "team%2Fapp~main~I0123456789abcdef0123456789abcdef01234567",
  "project": "team/app",
  "branch": "main",
  "change_id": "I0123456789abcdef0123456789abcdef01234567",
  "subject": "Add feature",
  "status": "MERGED",
  "created": "2026-01-02 10:00:00.000000000",
  "updated": "2026-01-02 11:00:00.000000000",
  "submitted": "2026-01-02 11:00:00.000000000",
  "submitter": {"_account_id": 1000001, "name": "Bob", "email": "bob@example.org", "username": "bob"},
  "submission_id": "42-1767351600000-abcdef01",
  "_number": 42,
  "owner": {"_account_id": 1000000, "name": "Alice", "email": "alice@example.org", "username": "alice"},
  "labels": {
    "Code-Review": {
      "approved": {"_account_id": 1000001},
      "all": [
        {"value": 2, "date": "2026-01-02 10:30:00.000000000", "permitted_voting_range": {"min": 2, "max": 2}, "_account_id": 1000001, "name": "Bob", "username": "bob"},
        {"value": 0, "_account_id": 1000002, "name": "Carol"},
        {"value": 1, "date": "2026-01-02 12:00:00.000000000", "post_submit": true, "tag": "autogenerated:ci", "_account_id": 1000003},
        {"_account_id": 1000004}
      ],
      "values": {"-2": "This shall not be submitted", "-1": "I would prefer this is not submitted as is", " 0": "No score", "+1": "Looks good to me, but someone else must approve", "+2": "Looks good to me, approved"},
      "default_value": 0
    }
  },
  "submit_requirements": [
    {"name": "Code-Review", "status": "SATISFIED", "is_legacy": false,
     "submittability_expression_result": {"expression": "label:Code-Review=MAX AND -label:Code-Review=MIN", "fulfilled": true, "status": "PASS", "passing_atoms": ["label:Code-Review=MAX"], "failing_atoms": ["label:Code-Review=MIN"]}}
  ],
  "current_revision": "` + sha2 + `",
  "revisions": {
    "` + sha1 + `": {"kind": "REWORK", "_number": 1, "created": "2026-01-02 10:00:00.000000000", "uploader": {"_account_id": 1000000}, "ref": "refs/changes/42/42/1",
      "commit": {"parents": [{"commit": "` + sha3 + `", "subject": "base"}], "author": {"name": "Alice A.", "email": "alice@example.org", "date": "2026-01-02 09:00:00.000000000", "tz": 60}, "subject": "Add feature", "message": "Add feature\n\nChange-Id: I0123456789abcdef0123456789abcdef01234567\n"}},
    "` + sha2 + `": {"kind": "TRIVIAL_REBASE", "_number": 2, "created": "2026-01-02 11:00:00.000000000", "uploader": {"_account_id": 1000001}, "ref": "refs/changes/42/42/2",
      "commit": {"parents": [{"commit": "` + sha3 + `", "subject": "base"}], "subject": "Add feature", "message": "Add feature\n"}}
  },
  "messages": [
    {"id": "m1", "author": {"_account_id": 1000001}, "real_author": {"_account_id": 1000009, "username": "bot"}, "date": "2026-01-02 10:30:00.000000000", "message": "Patch Set 1: Code-Review+2", "_revision_number": 1},
    {"id": "m2", "author": {"_account_id": 1000001}, "date": "2026-01-02 11:00:00.000000000", "message": "Change has been successfully rebased and submitted as ` + sha2 + `", "_revision_number": 2, "tag": "autogenerated:gerrit:merged"}
  ]
}`

// TestChangesForCommitsOtherProject: a commit whose only change is in
// another project is marked so, and nothing of that change is kept.
func TestChangesForCommitsOtherProject(t *testing.T) {
	other := strings.Replace(mergedChange, `"project": "team/app"`, `"project": "secret/thing"`, 1)
	if other == mergedChange {
		t.Fatal("fixture: project field not found")
	}
	_, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Query().Get("q"), "project:") {
			gerritJSON(w, "[]")
			return
		}
		gerritJSON(w, "["+other+"]")
	})
	cl, _ := New(srv.URL, WithBasicAuth("svc", "pw"))
	got, err := cl.ChangesForCommits(context.Background(), "team/app", "main", []string{sha1})
	if err != nil {
		t.Fatal(err)
	}
	want := []gate.Change{OtherProjectChange(sha1)}
	if len(got[sha1]) != 1 || got[sha1][0].Project != gate.OtherProject || got[sha1][0].Number != 0 || len(got[sha1][0].Revisions) != 1 {
		t.Errorf("got %+v, want %+v", got[sha1], want)
	}
}

func TestChangesForCommits(t *testing.T) {
	var shas []string
	for i := 0; i < commitBatch+5; i++ {
		shas = append(shas, fmt.Sprintf("%040x", i+0xabc))
	}
	shas = append(shas, sha1, sha2, sha1)
	c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Query().Get("q"), "commit:"+sha1) {
			gerritJSON(w, "["+mergedChange+"]")
			return
		}
		gerritJSON(w, "[]")
	})
	cl, _ := New(srv.URL, WithBasicAuth("svc", "pw"), WithPageSize(10))
	got, err := cl.ChangesForCommits(context.Background(), "team/app", "main", shas)
	if err != nil {
		t.Fatal(err)
	}
	// Two queries of the project, then two across projects for the
	// commitBatch+5 SHAs no change of it has; each batch in one page.
	if len(c.requests) != 4 {
		t.Fatalf("%d queries for %d distinct SHAs, %d of no change, want 4 (batches of %d)", len(c.requests), commitBatch+7, commitBatch+5, commitBatch)
	}
	if q := c.requests[2].URL.Query(); strings.Contains(q.Get("q"), "project:") || strings.Join(q["o"], ",") != OptAllRevisions {
		t.Errorf("the query for commits of no change = %q with o=%v, want every project and only ALL_REVISIONS", q.Get("q"), q["o"])
	}
	for i, r := range c.requests {
		terms := strings.Count(r.URL.Query().Get("q"), "commit:")
		if n := r.URL.Query().Get("n"); n != fmt.Sprint(max(10, terms)) {
			t.Errorf("query %d of %d commits asks pages of n=%s, want %d (a batch in one page, at least the page size)", i, terms, n, max(10, terms))
		}
		if l := len(r.URL.RequestURI()); l > 12<<10 {
			t.Errorf("query %d: request URI of %d bytes, want at most 12 KiB (Gerrit reads 16 KiB of request headers by default)", i, l)
		}
	}
	q := c.requests[1].URL.Query()
	wantQ := "(commit:" + shas[commitBatch] + " OR commit:" + shas[commitBatch+1] + " OR commit:" + shas[commitBatch+2] + " OR commit:" + shas[commitBatch+3] + " OR commit:" + shas[commitBatch+4] + " OR commit:" + sha1 + " OR commit:" + sha2 + `) project:"team/app"`
	if q.Get("q") != wantQ {
		t.Errorf("q = %s\nwant %s", q.Get("q"), wantQ)
	}
	if o := strings.Join(q["o"], ","); o != strings.Join(gateOptions, ",") {
		t.Errorf("o = %s", o)
	}
	if len(got) != 2 || len(got[sha1]) != 1 || len(got[sha2]) != 1 {
		t.Fatalf("got %d SHAs mapped: %v", len(got), got)
	}
	if _, ok := got[shas[0]]; ok {
		t.Errorf("a SHA of no change is in the map")
	}
	ch := got[sha1][0]
	if ch.Number != 42 || ch.Project != "team/app" || ch.Status != "MERGED" || ch.CurrentRevision != sha2 ||
		ch.Submitter.Username != "bob" || ch.Owner.Name != "Alice" || !ch.Submitted.Equal(time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("change = %+v", ch)
	}
	r1 := ch.Revisions[sha1]
	if r1.Number != 1 || r1.Uploader.ID != 1000000 || r1.Kind != "REWORK" || len(r1.Parents) != 1 || r1.Parents[0] != sha3 ||
		r1.Author != (gate.Person{Name: "Alice A.", Email: "alice@example.org"}) {
		t.Errorf("revision 1 = %+v", r1)
	}
	if a := ch.Revisions[sha2].Author; a != (gate.Person{}) {
		t.Errorf("revision 2 author = %+v, want none (Gerrit sent none)", a)
	}
	if r := ch.LabelRanges["Code-Review"]; r != (gate.LabelRange{Min: -2, Max: 2}) {
		t.Errorf("Code-Review range = %+v, want -2..+2", r)
	}
	votes := ch.Labels["Code-Review"]
	if len(votes) != 3 {
		t.Fatalf("Code-Review votes = %+v, want 3 (the one without value dropped)", votes)
	}
	if v := votes[0]; v.Value != 2 || v.Account.ID != 1000001 || v.Date.IsZero() || v.PostSubmit {
		t.Errorf("vote 0 = %+v", v)
	}
	if v := votes[1]; v.Value != 0 || !v.Date.IsZero() {
		t.Errorf("vote 1 (placeholder) = %+v", v)
	}
	if v := votes[2]; !v.PostSubmit || v.Tag != "autogenerated:ci" {
		t.Errorf("vote 2 = %+v", v)
	}
	if len(ch.SubmitRequirements) != 1 || ch.SubmitRequirements[0].Status != "SATISFIED" {
		t.Errorf("submit requirements = %+v", ch.SubmitRequirements)
	}
	if len(ch.Messages) != 2 || ch.Messages[1].Tag != "autogenerated:gerrit:merged" || ch.Messages[0].RevisionNumber != 1 ||
		ch.Messages[0].RealAuthor.ID != 1000009 || ch.Messages[1].RealAuthor.ID != 0 {
		t.Errorf("messages = %+v", ch.Messages)
	}

	if _, err := cl.ChangesForCommits(context.Background(), "p", "main", []string{"abc"}); err == nil {
		t.Error("short SHA accepted")
	}
}

func TestMergedAfterQuery(t *testing.T) {
	c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) { gerritJSON(w, "["+mergedChange+"]") })
	cl, _ := New(srv.URL)
	got, err := cl.MergedAfter(context.Background(), "team/app", "main", time.Date(2026, 1, 2, 16, 4, 5, 999, time.FixedZone("x", 3600)))
	if err != nil || len(got) != 1 {
		t.Fatalf("MergedAfter = %v, %v", got, err)
	}
	want := `project:"team/app" branch:"main" status:merged mergedafter:"2026-01-02 15:04:05 +0000"`
	if q := c.requests[0].URL.Query().Get("q"); q != want {
		t.Errorf("q = %s, want %s", q, want)
	}
}

func TestPostReviewEscapesProject(t *testing.T) {
	c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) { gerritJSON(w, `{"labels":{}}`) })
	cl, _ := New(srv.URL, WithBasicAuth("svc", "pw"))
	err := cl.PostReview(context.Background(), "team/app", 42, "", ReviewInput{Message: "Deployed to prod", Tag: "autogenerated:gerritgate", Notify: "NONE"})
	if err != nil {
		t.Fatal(err)
	}
	r := c.requests[0]
	if got := r.URL.EscapedPath(); got != "/a/changes/team%2Fapp~42/revisions/current/review" {
		t.Errorf("path = %s", got)
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("method %s content type %s", r.Method, r.Header.Get("Content-Type"))
	}
	if want := `{"message":"Deployed to prod","tag":"autogenerated:gerritgate","notify":"NONE"}`; c.bodies[0] != want {
		t.Errorf("body = %s, want %s", c.bodies[0], want)
	}
}

func TestGroupMembers(t *testing.T) {
	uuid := "0123456789abcdef0123456789abcdef01234567"
	c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !strings.Contains(r.URL.Path, uuid):
			http.Error(w, "Not found: x", http.StatusNotFound)
		case strings.HasSuffix(r.URL.Path, "/groups/"):
			gerritJSON(w, `[]`)
		default:
			gerritJSON(w, `[{"_account_id":1000000,"name":"Alice","email":"a@x","username":"alice"}]`)
		}
	})
	cl, _ := New(srv.URL, WithBasicAuth("svc", "pw"))
	got, err := cl.GroupMembers(context.Background(), uuid, true)
	if err != nil || len(got) != 1 || got[0].ID != 1000000 || got[0].Username != "alice" {
		t.Fatalf("GroupMembers = %+v, %v", got, err)
	}
	if r := c.requests[0]; r.URL.Path != "/a/groups/"+uuid+"/groups/" {
		t.Errorf("first request = %s, want the included groups", r.URL.Path)
	}
	if r := c.requests[1]; r.URL.Path != "/a/groups/"+uuid+"/members/" || r.URL.RawQuery != "recursive" {
		t.Errorf("request = %s?%s", r.URL.Path, r.URL.RawQuery)
	}
	if _, err := cl.GroupMembers(context.Background(), "nope", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown group: error = %v, want ErrNotFound", err)
	}
}

// A vote posted on someone's behalf by an account Gerrit does not identify
// must not pass as the voter's own, a label whose vote list leaves out the
// account it names as rejecting may hide a veto, and a message without a
// date cannot be ordered: the change is refused, not mapped.
func TestGateChangeRefusesMessagesItCannotPlace(t *testing.T) {
	var ci ChangeInfo
	if err := json.Unmarshal([]byte(mergedChange), &ci); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.GateChange(); err != nil {
		t.Fatalf("the canned change: %v", err)
	}
	ci.Messages[0].RealAuthor = &AccountInfo{Username: "bot"}
	if _, err := ci.GateChange(); err == nil || !strings.Contains(err.Error(), "message m1 has a real author without an account id") {
		t.Errorf("GateChange = %v, want an error naming message m1", err)
	}
	ci.Messages[0].RealAuthor = nil
	l := ci.Labels["Code-Review"]
	l.Rejected = &AccountInfo{ID: 1000007}
	ci.Labels["Code-Review"] = l
	if _, err := ci.GateChange(); err == nil || !strings.Contains(err.Error(), "label Code-Review: names account 1000007 as rejected but lists no vote by it") {
		t.Errorf("GateChange = %v, want an error naming the rejecting account missing from the votes", err)
	}
	l.Rejected = nil
	ci.Labels["Code-Review"] = l
	ci.Messages[1].Date = Timestamp{}
	if _, err := ci.GateChange(); err == nil || !strings.Contains(err.Error(), "message m2 has no date") {
		t.Errorf("GateChange = %v, want an error naming message m2", err)
	}
}

// The answer to "does a change of another project have this commit" is
// kept othersFor: a commit pushed past review, waiting at the head of a
// range, costs one query across projects per othersFor, not one per poll.
// The project's own changes are asked every time.
func TestChangesForCommitsKeepsOtherProjectAnswers(t *testing.T) {
	pushed, elsewhere := fmt.Sprintf("%040x", 0xdead), sha1
	other := strings.Replace(mergedChange, `"project": "team/app"`, `"project": "secret/other"`, 1)
	c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Query().Get("q"), "project:") && strings.Contains(r.URL.Query().Get("q"), "commit:"+sha1) {
			gerritJSON(w, "["+other+"]")
			return
		}
		gerritJSON(w, "[]")
	})
	cl, _ := New(srv.URL, WithBasicAuth("svc", "pw"))
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	cl.others = newOthers(func() time.Time { return now })
	ask := func() (across int) {
		t.Helper()
		c.requests = nil
		got, err := cl.ChangesForCommits(context.Background(), "team/app", "main", []string{pushed, elsewhere})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got[pushed]; ok {
			t.Errorf("the pushed commit got changes %+v, want none", got[pushed])
		}
		if cs := got[elsewhere]; len(cs) != 1 || cs[0].Project != gate.OtherProject {
			t.Errorf("the commit of another project's change got %+v, want the other-project marker", cs)
		}
		for _, r := range c.requests {
			if !strings.Contains(r.URL.Query().Get("q"), "project:") {
				across++
			}
		}
		if len(c.requests)-across != 1 {
			t.Errorf("%d queries of the project, want 1 every time", len(c.requests)-across)
		}
		return across
	}
	for _, step := range []struct {
		what  string
		after time.Duration
		want  int
	}{
		{"first", 0, 1},
		{"again at once", time.Second, 0},
		{"just before othersFor", othersFor - 2*time.Second, 0},
		{"after othersFor", 2 * time.Second, 1},
	} {
		now = now.Add(step.after)
		if got := ask(); got != step.want {
			t.Errorf("%s: %d queries across projects, want %d", step.what, got, step.want)
		}
	}
}

// Of an error answer only the start is read: a proxy's (or a hostile
// upstream's) 20 MiB error page is not read to the end, nor all of it
// redacted, and what the error shows is bounded.
func TestHugeErrorBodyIsNotRead(t *testing.T) {
	const size = 20 << 20 // under the 32 MiB bound of a good answer
	written := make(chan int64, 1)
	_, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		chunk := []byte(strings.Repeat("upstream error page ", 3277)) // 64 KiB
		var n int64
		for n < size {
			k, err := w.Write(chunk)
			n += int64(k)
			if err != nil {
				break
			}
		}
		written <- n
	})
	cl, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Version(context.Background())
	var ge *Error
	if !errors.As(err, &ge) || ge.StatusCode != http.StatusBadGateway {
		t.Fatalf("Version() = %v, want a 502 *Error", err)
	}
	if len(ge.Body) > maxErrorBody+3 || !strings.HasPrefix(ge.Body, "upstream error page") {
		t.Errorf("error body %d bytes %q..., want the start of the page, bounded", len(ge.Body), ge.Body[:min(40, len(ge.Body))])
	}
	select {
	case n := <-written:
		if n >= size {
			t.Errorf("the server wrote all %d bytes of its error page: the client read it to the end", n)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the server is still writing its error page after 60s")
	}
}

// TestChangesForCommitsOrder: the changes of a commit come back those of
// the branch first, then the others, each by number, whatever order
// Gerrit (by last update) answers in.
func TestChangesForCommitsOrder(t *testing.T) {
	variant := func(n int, branch string) string {
		s := strings.Replace(mergedChange, `"_number": 42`, fmt.Sprintf(`"_number": %d`, n), 1)
		return strings.Replace(s, `"branch": "main"`, fmt.Sprintf(`"branch": %q`, branch), 1)
	}
	answer := "[" + strings.Join([]string{variant(50, "stable"), variant(44, "main"), variant(43, "stable"), variant(42, "main")}, ",") + "]"
	_, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) { gerritJSON(w, answer) })
	cl, _ := New(srv.URL, WithBasicAuth("svc", "pw"))
	got, err := cl.ChangesForCommits(context.Background(), "team/app", "main", []string{sha1})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, ch := range got[sha1] {
		order = append(order, fmt.Sprintf("%s/%d", ch.Branch, ch.Number))
	}
	if want := "main/42 main/44 stable/43 stable/50"; strings.Join(order, " ") != want {
		t.Errorf("changes of %s in order %v, want %s", sha1[:8], order, want)
	}
}

// Behind a proxy that refuses request lines over 8 KiB (414), a batch too
// long is split and the smaller size kept: the commits are all asked
// about, and the next question is not refused again.
func TestChangesForCommitsSplitsWhatAProxyRefuses(t *testing.T) {
	var shas []string
	for i := range commitBatch + 50 {
		shas = append(shas, fmt.Sprintf("%040x", i+0xabc))
	}
	shas = append(shas, sha1)
	refused := 0
	c, srv := newCanned(t, func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RequestURI()) > 8<<10 {
			refused++
			http.Error(w, "Request-URI Too Long", http.StatusRequestURITooLong)
			return
		}
		if strings.Contains(r.URL.Query().Get("q"), "commit:"+sha1) {
			gerritJSON(w, "["+mergedChange+"]")
			return
		}
		gerritJSON(w, "[]")
	})
	cl, _ := New(srv.URL, WithBasicAuth("svc", "pw"))
	for i := range 2 {
		c.requests, refused = nil, 0
		got, err := cl.ChangesForCommits(context.Background(), "team/app", "main", shas)
		if err != nil {
			t.Fatalf("question %d: %v", i+1, err)
		}
		if len(got[sha1]) != 1 {
			t.Errorf("question %d: %s got %+v, want its change", i+1, sha1[:8], got[sha1])
		}
		asked := map[string]bool{}
		for _, r := range c.requests {
			for _, term := range strings.Split(r.URL.Query().Get("q"), " ") {
				if sha, ok := strings.CutPrefix(strings.Trim(term, "()"), "commit:"); ok && len(r.URL.RequestURI()) <= 8<<10 {
					asked[sha] = true
				}
			}
		}
		if len(asked) != len(shas) {
			t.Errorf("question %d: %d of %d commits asked about in queries the proxy let through", i+1, len(asked), len(shas))
		}
		if want := map[int]int{0: 1, 1: 0}[i]; refused != want {
			t.Errorf("question %d: %d queries refused as too long, want %d", i+1, refused, want)
		}
	}
}
