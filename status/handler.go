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

// Trail reads an environment's audit trail (the served repository's
// audit/<env>). Tip is the commit audit/<env> points at, "" when the
// environment has not moved yet; Latest reads the newest records from
// tip, newest first, at most n. The handler reads Tip on every view and
// Latest only when Tip moved (the Board keeps what it read): records are
// immutable.
type Trail interface {
	Tip(project, env string) (string, error)
	Latest(project, tip string, n int) ([]audit.Record, error)
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
	mux.HandleFunc("GET /api/v1/projects/{project}", h.serveProject)
	mux.HandleFunc("GET /api/v1/projects/{project}/environments/{env}", h.serveEnvironment)
	mux.HandleFunc("GET /api/v1/projects/{project}/environments/{env}/pending", h.servePending)
	mux.HandleFunc("GET /{$}", h.servePage)
}

type statusReply struct {
	Polls        int64         `json:"polls"`
	Policy       *Policy       `json:"policy,omitempty"` // a policy reviewed in Gerrit, to viewers of its project
	Environments []Environment `json:"environments"`
}

type projectReply struct {
	Project      string        `json:"project"`
	Fetch        *Fetch        `json:"fetch,omitempty"`
	Environments []Environment `json:"environments"`
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
	writeJSON(w, http.StatusOK, statusReply{Polls: h.board.Polls(), Policy: h.policyFor(canSee), Environments: h.environments(h.visible(canSee))})
}

// serveProject answers /api/v1/projects/{project}: its last mirror fetch
// and every environment as /api/v1/status shows it.
func (h *Handler) serveProject(w http.ResponseWriter, r *http.Request) {
	canSee, signedIn := h.canSee(r)
	if code := challenge(w, signedIn); code != http.StatusOK {
		writeJSON(w, code, signIn)
		return
	}
	project := r.PathValue("project")
	var results []deploy.Result
	for _, res := range h.board.Snapshot() {
		if res.Project == project && canSee(project, res.Env) {
			results = append(results, res)
		}
	}
	if len(results) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such project"})
		return
	}
	reply := projectReply{Project: project, Environments: h.environments(results)}
	if f, ok := h.board.LastFetch(project); ok {
		reply.Fetch = &f
	}
	writeJSON(w, http.StatusOK, reply)
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
	writeJSON(w, http.StatusOK, h.environments([]deploy.Result{res})[0])
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
	"in":   func(t time.Time) string { return "in " + max(time.Until(t).Round(time.Second), 0).String() },
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(templates, "templates/page.html"))

// pageData is what the page template shows.
type pageData struct {
	Polls    int64
	Policy   *Policy
	Rows     []Environment
	SignedIn bool
}

// Environment is one environment as the page shows it and the API
// answers: its last result (reason, message, until when Held, the
// decision), the project's last mirror fetch, the deployed commit and the
// newest audit entries.
type Environment struct {
	deploy.Result
	Fetch    *Fetch        `json:"fetch,omitempty"`     // nil before the project's first fetch
	Deployed *audit.Commit `json:"deployed,omitempty"`  // the deployed commit as its audit record names it
	Since    time.Time     `json:"since,omitzero"`      // when deploy/<env> moved to it
	Link     string        `json:"changeURL,omitempty"` // the deployed commit's change on Gerrit
	Blocking string        `json:"blocking,omitempty"`  // the first failing rule of the commit that blocks
	// Audit is the newest TrailEntries records of audit/<env>, newest
	// first; AuditError says when they cannot be read.
	Audit      []Entry `json:"audit"`
	AuditError string  `json:"auditError,omitempty"`
}

// Entry is one audit record, as the page shows it.
type Entry struct {
	Time time.Time  `json:"time"`
	Kind audit.Kind `json:"kind"`
	From string     `json:"from,omitempty"` // "" when deploy/<env> did not exist
	To   string     `json:"to"`
	// By is who moved it: the operator of an adopt, hold, release,
	// override or rewind, "gerritgate" for the gate's own advances,
	// baselines and paid debts.
	By      string         `json:"by"`
	Reason  string         `json:"reason,omitempty"`      // the operator's
	Ticket  string         `json:"ticket,omitempty"`      // the operator's
	Policy  string         `json:"policy,omitempty"`      // the policy in force
	Commits []audit.Commit `json:"commits,omitempty"`     // the newest entryCommits that entered
	More    int            `json:"moreCommits,omitempty"` // how many more entered
}

// entryCommits bounds the commits listed per audit record.
const entryCommits = 5

// trailUnreadable is AuditError: the reason stays in no answer, since it
// may name paths on the server.
const trailUnreadable = "the audit trail cannot be read"

// entries turns records into Entries.
func entries(recs []audit.Record) []Entry {
	out := make([]Entry, 0, len(recs))
	for _, rec := range recs {
		e := Entry{Kind: rec.Kind, From: rec.From, To: rec.To, Time: rec.Time, By: "gerritgate", Policy: rec.Policy.Name, Commits: rec.Commits}
		if n := len(e.Commits); n > entryCommits {
			e.Commits, e.More = e.Commits[n-entryCommits:], n-entryCommits
		}
		if rec.Operator != nil {
			e.By, e.Reason, e.Ticket = rec.Operator.By, rec.Operator.Reason, rec.Operator.Ticket
		}
		out = append(out, e)
	}
	return out
}

// audit returns the newest audit entries of one environment, reading
// the records only when audit/<env> moved since the board kept them.
func (h *Handler) audit(project, env string) ([]Entry, error) {
	tip, err := h.trail.Tip(project, env)
	if err != nil {
		return nil, err
	}
	if es, ok := h.board.cachedTrail(project, env, tip); ok {
		return es, nil
	}
	var recs []audit.Record
	if tip != "" {
		if recs, err = h.trail.Latest(project, tip, TrailEntries); err != nil {
			return nil, err
		}
	}
	es := entries(recs)
	h.board.keepTrail(project, env, tip, es)
	return es, nil
}

// environments builds what the page and the API show of results.
func (h *Handler) environments(results []deploy.Result) []Environment {
	out := make([]Environment, 0, len(results))
	for _, res := range results {
		r := Environment{Result: res, Audit: []Entry{}}
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
			es, err := h.audit(res.Project, res.Env)
			if err != nil {
				r.AuditError = trailUnreadable
			} else {
				r.Audit = es
			}
			if len(es) > 0 && es[0].To == res.To {
				r.Since = es[0].Time
				for _, c := range es[0].Commits {
					if c.SHA == res.To {
						r.Deployed = &c
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
	rows := h.environments(h.visible(canSee))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(challenge(w, signedIn))
	page.Execute(w, pageData{Polls: h.board.Polls(), Policy: h.policyFor(canSee), Rows: rows, SignedIn: signedIn})
}
