package status

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/deploy"
)

// Viewers says who a request is and which environments of which projects
// it may know of; *access.HTTPAuth satisfies it. Reader reports false when the request carries no valid
// reader's credentials: the page and the API then answer 401 with a Basic
// challenge (so a browser asks for a user and token), showing only what
// reader "" (anonymous) may see.
type Viewers interface {
	Reader(r *http.Request) (string, bool)
	CanSee(reader, project, env string) bool
}

// Everyone is the Viewers of a gate without an access file: every
// project is public, as its git is, and nobody is asked to sign in.
type Everyone struct{}

func (Everyone) Reader(*http.Request) (string, bool) { return "", true }
func (Everyone) CanSee(string, string, string) bool  { return true }

// Challenge is the WWW-Authenticate header of a request that must sign
// in: any user name, a reader's token as the password.
const Challenge = `Basic realm="gerritgate", charset="UTF-8"`

// Explainer decides afresh on the pending commits of one environment the
// policy gates now (the poller, which keeps decisions off repositories a
// poll is walking). gated is false, with an error saying why, when the
// policy gates no such environment.
type Explainer interface {
	Explain(ctx context.Context, project, env string) (res deploy.Result, gated bool, err error)
}

// PendingTTL is how long a /pending answer is reused: each fresh one asks
// Gerrit about every pending commit.
const PendingTTL = 5 * time.Second

// Trail reads the newest records of an environment's audit trail, newest
// first, at most n (the served repository's audit/<env>). None is no
// error: the environment has not moved yet.
type Trail interface {
	Latest(project, env string, n int) ([]audit.Record, error)
}

// TrailEntries is how many audit records the page shows per environment.
const TrailEntries = 5

// Option configures a Handler.
type Option func(*Handler)

// WithGerrit links changes on the page to the Gerrit at base (its web
// URL); any user info in it is dropped, never shown.
func WithGerrit(base string) Option {
	return func(h *Handler) {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return
		}
		u.User = nil
		h.gerrit = strings.TrimSuffix(u.String(), "/")
	}
}

// WithTrail shows each environment's deployed commit and latest audit
// records from t.
func WithTrail(t Trail) Option { return func(h *Handler) { h.trail = t } }

// Handler serves the status page and the JSON API from a Board.
type Handler struct {
	board   *Board
	viewers Viewers
	explain Explainer
	gerrit  string
	trail   Trail

	pendingMu sync.Mutex // one /pending computation at a time
	pending   map[key]deploy.Result
}

// NewHandler returns the handler of board's page and API, showing each
// caller what viewers let it see.
func NewHandler(board *Board, viewers Viewers, explain Explainer, opts ...Option) *Handler {
	h := &Handler{board: board, viewers: viewers, explain: explain, pending: map[key]deploy.Result{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Register adds the page's and the API's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/status", h.serveStatus)
	mux.HandleFunc("GET /api/v1/projects/{project}/environments/{env}", h.serveEnvironment)
	mux.HandleFunc("GET /api/v1/projects/{project}/environments/{env}/pending", h.servePending)
	mux.HandleFunc("GET /{$}", h.servePage)
}

type statusReply struct {
	Polls        int64           `json:"polls"`
	Environments []deploy.Result `json:"environments"`
}

// canSee says which environments of which projects a request may know
// of, and whether it signed in. With an access file, the status page and
// the API show a reader the environments it may read, and a caller
// without valid credentials those of the anonymous projects.
func (h *Handler) canSee(r *http.Request) (canSee func(project, env string) bool, signedIn bool) {
	reader, ok := h.viewers.Reader(r)
	if !ok {
		reader = "" // anonymous, whatever a failed lookup returned
	}
	return func(p, env string) bool { return h.viewers.CanSee(reader, p, env) }, ok
}

// challenge answers 401 with a Basic challenge unless the request signed
// in, and reports whether it did. Missing and wrong credentials are
// treated alike, so a browser asks again after a wrong token.
func challenge(w http.ResponseWriter, signedIn bool) (code int) {
	if signedIn {
		return http.StatusOK
	}
	w.Header().Set("WWW-Authenticate", Challenge)
	return http.StatusUnauthorized
}

// signIn is the JSON answer to a request that must sign in.
var signIn = map[string]string{"error": "sign in: any user name, a reader's token from the access file as the password (or Authorization: Bearer <token>)"}

// visible filters the board to what canSee lets a request see.
func (h *Handler) visible(canSee func(project, env string) bool) []deploy.Result {
	var out []deploy.Result
	for _, res := range h.board.Snapshot() {
		if canSee(res.Project, res.Env) {
			out = append(out, res)
		}
	}
	return out
}

func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	canSee, signedIn := h.canSee(r)
	if code := challenge(w, signedIn); code != http.StatusOK {
		writeJSON(w, code, signIn)
		return
	}
	writeJSON(w, http.StatusOK, statusReply{Polls: h.board.Polls(), Environments: h.visible(canSee)})
}

// serveEnvironment answers /api/v1/projects/{project}/environments/{env}:
// the last decision, with every pending commit's verdict and evidence. The
// project is one path segment, its slashes written %2F.
func (h *Handler) serveEnvironment(w http.ResponseWriter, r *http.Request) {
	canSee, signedIn := h.canSee(r)
	if code := challenge(w, signedIn); code != http.StatusOK {
		writeJSON(w, code, signIn)
		return
	}
	res, ok := h.board.Result(r.PathValue("project"), r.PathValue("env"))
	if !ok || !canSee(res.Project, res.Env) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such project and environment"})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// servePending answers /api/v1/projects/{project}/environments/{env}/pending
// with a fresh decision on every pending commit, for environments the
// service gates and the caller may see. A decision is reused for
// PendingTTL.
func (h *Handler) servePending(w http.ResponseWriter, r *http.Request) {
	canSee, signedIn := h.canSee(r)
	if code := challenge(w, signedIn); code != http.StatusOK {
		writeJSON(w, code, signIn)
		return
	}
	project, env := r.PathValue("project"), r.PathValue("env")
	if _, known := h.board.Result(project, env); !known || !canSee(project, env) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such project and environment"})
		return
	}
	k := key{project, env}
	h.pendingMu.Lock()
	defer h.pendingMu.Unlock()
	if c, ok := h.pending[k]; ok && time.Since(c.Time) < PendingTTL {
		writeJSON(w, http.StatusOK, c)
		return
	}
	res, gated, err := h.explain.Explain(r.Context(), project, env)
	if !gated {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	h.pending[k] = res
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

//go:embed templates/page.html
var templates embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"ago":  func(t time.Time) string { return time.Since(t).Round(time.Second).String() + " ago" },
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(templates, "templates/page.html"))

// pageData is what the page template shows.
type pageData struct {
	Polls    int64
	Rows     []row
	SignedIn bool
}

// row is one environment on the page.
type row struct {
	deploy.Result
	Fetch    *Fetch
	Deployed *audit.Commit // the deployed commit as its audit record names it
	Since    time.Time     // when deploy/<env> moved to it
	Link     string        // the deployed commit's change on Gerrit
	Blocking string        // the first failing rule of the commit that blocks
	Trail    []entry
	TrailErr bool
}

// entry is one audit record on the page.
type entry struct {
	Kind    audit.Kind
	To      string
	Time    time.Time
	Commits []audit.Commit // the newest entryCommits that entered
	More    int            // how many more entered
	Reason  string         // an adoption's
}

// entryCommits bounds the commits listed per audit record.
const entryCommits = 5

// rows builds the page's rows for the results a request may see.
func (h *Handler) rows(results []deploy.Result) []row {
	out := make([]row, 0, len(results))
	for _, res := range results {
		r := row{Result: res}
		if f, ok := h.board.LastFetch(res.Project); ok {
			r.Fetch = &f
		}
		if d := res.Decision; d != nil && d.BlockedAt != "" {
			if v, ok := d.Verdict(d.BlockedAt); ok {
				for _, rule := range v.Rules {
					if !rule.Pass {
						r.Blocking = rule.Name + ": " + rule.Detail
						break
					}
				}
			}
		}
		if h.trail != nil {
			recs, err := h.trail.Latest(res.Project, res.Env, TrailEntries)
			r.TrailErr = err != nil
			for i, rec := range recs {
				e := entry{Kind: rec.Kind, To: rec.To, Time: rec.Time, Commits: rec.Commits}
				if n := len(e.Commits); n > entryCommits {
					e.Commits, e.More = e.Commits[n-entryCommits:], n-entryCommits
				}
				if rec.Operator != nil {
					e.Reason = rec.Operator.Reason
				}
				r.Trail = append(r.Trail, e)
				if i == 0 && rec.To == res.To {
					r.Since = rec.Time
					for _, c := range rec.Commits {
						if c.SHA == rec.To {
							r.Deployed = &c
						}
					}
				}
			}
		}
		if r.Deployed != nil && r.Deployed.Change != 0 && h.gerrit != "" {
			r.Link = fmt.Sprintf("%s/c/%s/+/%d", h.gerrit, res.Project, r.Deployed.Change)
		}
		out = append(out, r)
	}
	return out
}

// servePage shows the page; a caller that did not sign in gets it with a
// 401 and a challenge, showing only the anonymous projects (what a browser
// shows when its user cancels the sign-in).
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	canSee, signedIn := h.canSee(r)
	rows := h.rows(h.visible(canSee))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(challenge(w, signedIn))
	page.Execute(w, pageData{Polls: h.board.Polls(), Rows: rows, SignedIn: signedIn})
}
