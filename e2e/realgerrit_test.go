//go:build realgerrit

package e2e

// The harness for the suite against a real Gerrit (e2e/gerrit/ci.sh runs
// it): the server started by e2e/gerrit/start.sh and set up by setup.sh,
// found through the env file named by GERRITGATE_GERRIT_ENV. Gerrit is
// driven only as its users would: REST calls and git pushes. Each test
// makes its own project, so tests are independent and can run again on the
// same server.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gerritEnvVar names the env file written by e2e/gerrit/start.sh.
const gerritEnvVar = "GERRITGATE_GERRIT_ENV"

// realGerrit is the running server and what setup.sh made on it.
type realGerrit struct {
	t     *testing.T
	url   string // http://127.0.0.1:port, no trailing slash
	env   map[string]string
	users map[string]string // username -> HTTP password
	http  *http.Client
}

// Cast, as set up by setup.sh: carol uploads, alice reviews, bob verifies
// and submits, pusher pushes past review, gate reads.
const (
	admin  = "admin"
	gateU  = "gate"
	alice  = "alice"
	bob    = "bob"
	carol  = "carol"
	pusher = "pusher"
)

func newRealGerrit(t *testing.T) *realGerrit {
	t.Helper()
	path := os.Getenv(gerritEnvVar)
	if path == "" {
		t.Fatalf("%s is not set: it must name the env file printed by e2e/gerrit/start.sh (after e2e/gerrit/setup.sh); e2e/gerrit/ci.sh does all of this", gerritEnvVar)
	}
	env, err := readEnvFile(path)
	if err != nil {
		t.Fatalf("%s=%s: %v", gerritEnvVar, path, err)
	}
	for _, k := range []string{"GERRIT_URL", "GERRIT_ADMIN_PASSWORD", "GERRIT_GATE_USER", "GERRIT_GATE_PASSWORD"} {
		if env[k] == "" {
			t.Fatalf("%s=%s has no %s: run e2e/gerrit/setup.sh on it first", gerritEnvVar, path, k)
		}
	}
	u, err := url.Parse(env["GERRIT_URL"])
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("GERRIT_URL %q: the suite talks to loopback only", env["GERRIT_URL"])
	}
	r := &realGerrit{
		t: t, url: strings.TrimSuffix(env["GERRIT_URL"], "/"), env: env,
		users: map[string]string{admin: env["GERRIT_ADMIN_PASSWORD"], env["GERRIT_GATE_USER"]: env["GERRIT_GATE_PASSWORD"]},
		http:  &http.Client{Timeout: 60 * time.Second},
	}
	for _, u := range []string{alice, bob, carol, pusher} {
		r.users[u] = u + "-secret"
	}
	return r
}

// readEnvFile reads the `export KEY='value'` lines start.sh and setup.sh
// write (single-quoted, ' written as '\”).
func readEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
		}
		env[k] = v
	}
	return env, nil
}

// httpError is a non-2xx answer from Gerrit.
type httpError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("gerrit %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// call makes one authenticated REST call (path below /a) as user, with in as
// the JSON body (nil for none), and decodes the answer, minus Gerrit's
// ")]}'" line, into out (nil to ignore it).
func (r *realGerrit) call(user, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.url+"/a"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(user, r.users[user])
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("gerrit %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("gerrit %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &httpError{Method: method, Path: path, Status: resp.StatusCode, Body: string(data)}
	}
	data = bytes.TrimPrefix(data, []byte(")]}'"))
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("gerrit %s %s: decode: %w", method, path, err)
	}
	return nil
}

func (r *realGerrit) must(user, method, path string, in, out any) {
	r.t.Helper()
	if err := r.call(user, method, path, in, out); err != nil {
		r.t.Fatal(err)
	}
}

// createProject makes a fresh project e2e/<test>-<random> with a branch main
// holding one empty commit, and checks the gate account can read it.
func (r *realGerrit) createProject(submitType string) string {
	r.t.Helper()
	base := strings.ToLower(strings.TrimPrefix(r.t.Name(), "TestRealGerrit"))
	base = strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			return c
		}
		return '-'
	}, base)
	name := "e2e/" + base + "-" + randomHex(r.t, 4)
	r.must(admin, http.MethodPut, "/projects/"+url.PathEscape(name), map[string]any{
		"create_empty_commit": true, "branches": []string{"main"},
		"submit_type": submitType, "description": "gerritgate e2e " + r.t.Name(),
	}, nil)
	// All-Projects on a fresh site lets Anonymous Users read refs/heads/*,
	// which covers the gate; say so clearly if a server does not.
	if err := r.call(gateU, http.MethodGet, "/projects/"+url.PathEscape(name)+"/branches/main", nil, nil); err != nil {
		r.t.Fatalf("gate cannot read the new project %s: %v", name, err)
	}
	return name
}

// setCodeReviewRequirement overrides the project's Code-Review submit
// requirement (All-Projects allows that), e.g. to let +1 submit.
func (r *realGerrit) setCodeReviewRequirement(project, expr string) {
	r.t.Helper()
	r.must(admin, http.MethodPut, "/projects/"+url.PathEscape(project)+"/submit_requirements/Code-Review", map[string]any{
		"name": "Code-Review", "description": "e2e: " + expr,
		"submittability_expression": expr, "allow_override_in_child_projects": true,
	}, nil)
}

// tip returns the SHA of refs/heads/main in Gerrit.
func (r *realGerrit) tip(project string) string {
	r.t.Helper()
	var b struct {
		Revision string `json:"revision"`
	}
	r.must(gateU, http.MethodGet, "/projects/"+url.PathEscape(project)+"/branches/main", nil, &b)
	return b.Revision
}

// change is one change this suite uploaded.
type change struct {
	project  string
	number   int
	sha      string // patch set 1, as uploaded
	changeID string
}

func (c change) path() string {
	return "/changes/" + url.PathEscape(c.project) + "~" + strconv.Itoa(c.number)
}

// changeInfo is the part of Gerrit's ChangeInfo the suite checks.
type changeInfo struct {
	Number          int    `json:"_number"`
	Status          string `json:"status"`
	CurrentRevision string `json:"current_revision"`
	Submitter       *struct {
		Username string `json:"username"`
	} `json:"submitter"`
	SubmitRequirements []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"submit_requirements"`
	Messages []struct {
		Message string `json:"message"`
	} `json:"messages"`
	Revisions map[string]struct {
		Number int    `json:"_number"`
		Kind   string `json:"kind"`
	} `json:"revisions"`
}

func (r *realGerrit) change(c change) changeInfo {
	r.t.Helper()
	var ci changeInfo
	r.must(gateU, http.MethodGet, c.path()+"?o=CURRENT_REVISION&o=ALL_REVISIONS&o=MESSAGES&o=SUBMIT_REQUIREMENTS&o=DETAILED_ACCOUNTS", nil, &ci)
	return ci
}

// vote posts votes on the current patch set as user; Gerrit's refusal is
// returned, not fatal.
func (r *realGerrit) vote(user string, c change, labels map[string]int) error {
	return r.call(user, http.MethodPost, c.path()+"/revisions/current/review", map[string]any{"labels": labels, "notify": "NONE"}, nil)
}

func (r *realGerrit) mustVote(user string, c change, labels map[string]int) {
	r.t.Helper()
	if err := r.vote(user, c, labels); err != nil {
		r.t.Fatal(err)
	}
}

// approve gives a change what reviewedPolicy asks: alice Code-Review +2 and
// bob Verified +1 (neither owns the change: carol uploads).
func (r *realGerrit) approve(c change) {
	r.t.Helper()
	r.mustVote(alice, c, map[string]int{"Code-Review": 2})
	r.mustVote(bob, c, map[string]int{"Verified": 1})
}

// submit submits a change as bob and returns the branch tip after it.
func (r *realGerrit) submit(c change) string {
	r.t.Helper()
	r.must(bob, http.MethodPost, c.path()+"/submit", nil, nil)
	return r.tip(c.project)
}

// mergeApproved uploads a change on base (a SHA or origin ref), approves
// and submits it, and returns the branch tip.
func (w *workspace) mergeApproved(base, subject string) string {
	w.t.Helper()
	c := w.upload(base, subject)
	w.r.approve(c)
	return w.r.submit(c)
}

// workspace is a local clone of one project in which users make commits
// and push them.
type workspace struct {
	t       *testing.T
	r       *realGerrit
	project string
	dir     string
	n       int
}

func (r *realGerrit) workspace(project string) *workspace {
	r.t.Helper()
	w := &workspace{t: r.t, r: r, project: project, dir: filepath.Join(r.t.TempDir(), "ws")}
	w.git(carol, "clone", "-q", r.url+"/a/"+project, w.dir)
	return w
}

// git runs C git in the workspace as user: that user's identity for new
// commits, and their HTTP password sent as a header (never in a URL or on a
// command line, where it would end up in logs).
func (w *workspace) git(user string, args ...string) string {
	w.t.Helper()
	out, err := w.gitErr(user, args...)
	if err != nil {
		w.t.Fatalf("git %s (as %s): %v\n%s", strings.Join(args, " "), user, err, out)
	}
	return strings.TrimSpace(out)
}

func (w *workspace) gitErr(user string, args ...string) (string, error) {
	w.t.Helper()
	dir := w.dir
	if _, err := os.Stat(dir); err != nil {
		dir = "" // clone
	}
	cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + w.r.users[user]))
	name := strings.ToUpper(user[:1]) + user[1:]
	return gitEnv(w.t, dir, []string{
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + user + "@example.com",
		"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + user + "@example.com",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic " + cred,
	}, args...)
}

// commit makes a commit as user on base (a SHA; "" for the current HEAD)
// adding a file of its own, with a Change-Id footer when changeID is not
// "", and returns its SHA.
func (w *workspace) commit(user, base, subject, changeID string) string {
	w.t.Helper()
	if base != "" {
		w.git(user, "fetch", "-q", "origin")
		w.git(user, "checkout", "-q", "--detach", base)
	}
	w.n++
	file := fmt.Sprintf("clusters/prod/%s-%d.yaml", randomHex(w.t, 3), w.n)
	if err := os.MkdirAll(filepath.Join(w.dir, "clusters", "prod"), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, file), []byte(subject+"\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.git(user, "add", file)
	msg := subject + "\n"
	if changeID != "" {
		msg += "\nChange-Id: " + changeID + "\n"
	}
	w.git(user, "commit", "-q", "-m", msg)
	return w.git(user, "rev-parse", "HEAD")
}

// upload makes a commit as carol on base and pushes it for review to
// refs/for/main; it returns the new change.
func (w *workspace) upload(base, subject string) change {
	w.t.Helper()
	c := change{project: w.project, changeID: "I" + randomHex(w.t, 20)}
	c.sha = w.commit(carol, base, subject, c.changeID)
	w.git(carol, "push", "-q", "origin", "HEAD:refs/for/main")
	c.number = w.changeNumber(c.changeID)
	return c
}

// pushDirect pushes rev to refs/heads/main as pusher, past review.
func (w *workspace) pushDirect(rev string) {
	w.t.Helper()
	w.git(pusher, "push", "-q", "origin", rev+":refs/heads/main")
}

// startRealGate starts gerritgate serve against the real Gerrit, as the
// gate account, for one project and deploy/prod under reviewedPolicy.
// baseline is "upstream" or a SHA; extra is appended to the config (after
// the gerrit block, so an indented line lands in it).
func startRealGate(t *testing.T, r *realGerrit, project, baseline, extra string) *gateProc {
	t.Helper()
	return startGate(t, gateSetup{
		gerritURL: r.url, username: r.env["GERRIT_GATE_USER"], password: r.env["GERRIT_GATE_PASSWORD"],
		policy: realPolicy(project, baseline), extra: extra,
	})
}

// gatedProject makes a project with the submit type, a workspace on it,
// and a gate deploying its main branch to deploy/prod under realPolicy,
// already at the initial commit base.
func gatedProject(t *testing.T, submitType string) (r *realGerrit, p string, w *workspace, base string, g *gateProc) {
	t.Helper()
	r = newRealGerrit(t)
	p = r.createProject(submitType)
	w = r.workspace(p)
	base = r.tip(p)
	g = startRealGate(t, r, p, "upstream", "")
	g.waitDeployed(p, "prod", base)
	return r, p, w, base, g
}

// realPolicy is reviewedPolicy for another project and baseline.
func realPolicy(project, baseline string) string {
	return fmt.Sprintf(`repos:
  - project: %s
    branch: main
    environments:
      - name: prod
        policy: reviewed
        baseline: %s
policies:
  reviewed:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
    vetoes: {Code-Review: -2}
`, project, baseline)
}

// stays checks that deploy/prod stays at want for two full polls and that
// the gate says it is blocked at blockedAt (if not ""); it returns the
// status.
func stays(t *testing.T, g *gateProc, project, want, blockedAt string) envStatus {
	t.Helper()
	g.settle()
	if got := g.deployed(project, "prod"); got != want {
		t.Fatalf("deploy/prod = %s, want it to stay at %s; status %+v", got, want, g.env(project, "prod"))
	}
	st := g.env(project, "prod")
	if blockedAt != "" && (st.Decision == nil || st.Decision.BlockedAt != blockedAt) {
		t.Fatalf("status = %+v, want blocked at %s", st, blockedAt)
	}
	return st
}

// verdict returns the gate's verdict on sha in st, failing if there is none.
func verdict(t *testing.T, st envStatus, sha string) (approved bool, rules string) {
	t.Helper()
	if st.Decision == nil {
		t.Fatalf("status has no decision: %+v", st)
	}
	for _, v := range st.Decision.Verdicts {
		if v.SHA == sha {
			var b strings.Builder
			for _, r := range v.Rules {
				fmt.Fprintf(&b, "[%s pass=%v: %s] ", r.Name, r.Pass, r.Detail)
			}
			return v.Approved, b.String()
		}
	}
	t.Fatalf("no verdict on %s in %+v", sha, st.Decision)
	return false, ""
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
