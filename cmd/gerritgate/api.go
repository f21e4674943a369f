package main

import (
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
)

type statusReply struct {
	Polls        int64           `json:"polls"`
	Environments []deploy.Result `json:"environments"`
}

func (s *service) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statusReply{Polls: s.polls.Load(), Environments: s.snapshot()})
}

// serveEnvironment answers /api/v1/projects/{project}/environments/{env}:
// the last decision, with every pending commit's verdict and evidence. The
// project is one path segment, its slashes written %2F.
func (s *service) serveEnvironment(w http.ResponseWriter, r *http.Request) {
	res, ok := s.result(r.PathValue("project"), r.PathValue("env"))
	if !ok {
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
code{font-size:.9em}.Advanced,.UpToDate,.Initialized{color:#176117}
.NotApproved,.Diverged,.NoUpstream{color:#9a5b00}.Failed{color:#b00020}
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
	page.Execute(w, statusReply{Polls: s.polls.Load(), Environments: s.snapshot()})
}
