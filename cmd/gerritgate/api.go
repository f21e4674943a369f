package main

import (
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/deploy"
)

type statusReply struct {
	Polls        int64           `json:"polls"`
	Environments []deploy.Result `json:"environments"`
}

// viewer says which projects a request may know of. Without an access file
// every project is public (as its git is); with one, the status page and
// the API show a reader the projects it may read, and an anonymous caller
// the anonymous ones: names, SHAs, subjects and voters are not public.
func (s *service) viewer(r *http.Request) (reader string, canSee func(project string) bool) {
	if s.access == nil {
		return "", func(string) bool { return true }
	}
	auth := access.NewHTTPAuth(s.access)
	reader, ok := auth.Reader(r)
	if !ok {
		reader = access.Anonymous
	}
	return reader, func(p string) bool { return auth.CanSee(reader, p) }
}

// visible filters results to what the request may see.
func (s *service) visible(r *http.Request) []deploy.Result {
	_, canSee := s.viewer(r)
	var out []deploy.Result
	for _, res := range s.snapshot() {
		if canSee(res.Project) {
			out = append(out, res)
		}
	}
	return out
}

// requireMetrics answers 401 unless the request carries a metrics token
// from the access file's metrics section (when there is an access file):
// /metrics' labels name every project, so no reader's token opens it.
func (s *service) requireMetrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.access != nil && !access.NewHTTPAuth(s.access).Metrics(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gerritgate metrics"`)
			http.Error(w, "metrics token required (access file: metrics.tokens)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *service) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statusReply{Polls: s.polls.Load(), Environments: s.visible(r)})
}

// serveEnvironment answers /api/v1/projects/{project}/environments/{env}:
// the last decision, with every pending commit's verdict and evidence. The
// project is one path segment, its slashes written %2F.
func (s *service) serveEnvironment(w http.ResponseWriter, r *http.Request) {
	_, canSee := s.viewer(r)
	res, ok := s.result(r.PathValue("project"), r.PathValue("env"))
	if !ok || !canSee(res.Project) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such project and environment"})
		return
	}
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

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"ago": func(t time.Time) string { return time.Since(t).Round(time.Second).String() + " ago" },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>gerritgate</title>
<meta http-equiv="refresh" content="5">
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4em .6em;text-align:left;vertical-align:top}
code{font-size:.9em}.Advanced,.UpToDate,.Initialized,.Adopted{color:#176117}
.NotApproved,.Diverged,.NoUpstream,.AwaitingBaseline{color:#9a5b00}.Failed{color:#b00020}
</style></head><body>
<h1>gerritgate</h1>
<p>{{.Polls}} polls. Refreshes every 5 seconds. JSON: <a href="/api/v1/status">/api/v1/status</a>, metrics: <a href="/metrics">/metrics</a>.</p>
<table><tr><th>project</th><th>environment</th><th>deployed</th><th>upstream</th><th>state</th><th>why</th><th>checked</th></tr>
{{range .Environments}}<tr>
<td>{{.Project}} <small>{{.Branch}}</small></td><td>deploy/{{.Env}} <small>{{.Policy}}</small></td>
<td><code>{{short .To}}</code></td><td><code>{{short .Head}}</code></td>
<td class="{{.Reason}}">{{.Reason}}</td><td>{{.Message}}</td><td>{{ago .Time}}</td></tr>
{{else}}<tr><td colspan="7">no poll has finished yet</td></tr>{{end}}
</table></body></html>
`))

func (s *service) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, statusReply{Polls: s.polls.Load(), Environments: s.visible(r)})
}

// servePending answers /api/v1/projects/{project}/environments/{env}/pending
// with a fresh decision on every pending commit, for environments the
// service gates and the caller may see. A decision is reused for a few
// seconds: each one holds the poll lock and asks Gerrit about every
// pending commit.
func (s *service) servePending(w http.ResponseWriter, r *http.Request) {
	project, env := r.PathValue("project"), r.PathValue("env")
	_, canSee := s.viewer(r)
	if _, known := s.result(project, env); !known || !canSee(project) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such project and environment"})
		return
	}
	t, err := findTarget(s.policy.Load(), project, env)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	key := resultKey(project, env)
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if c, ok := s.pendingCache[key]; ok && time.Since(c.Time) < pendingTTL {
		writeJSON(w, http.StatusOK, c)
		return
	}
	s.work.Lock() // not while a poll walks the same repositories
	res, err := s.deployer.Explain(r.Context(), t, 0)
	s.work.Unlock()
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	s.pendingCache[key] = res
	writeJSON(w, http.StatusOK, res)
}

// pendingTTL is how long a /pending answer is reused.
const pendingTTL = 5 * time.Second
