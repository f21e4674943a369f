package e2e

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Attack 6 of issue 9: an upstream that echoes the request's headers in
// its error answers (a debugging proxy, a hostile Gerrit) must not get the
// gate's Basic credential shown in the log, on the status page or in the
// API, whether the echo comes back to a git fetch or to a REST call.
func TestGerritErrorTextRedacted(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	basic := base64.StdEncoding.EncodeToString([]byte("gate:" + sim.password))
	registerSecret(basic)
	target, _ := url.Parse(sim.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var echoGit atomic.Bool
	echoGit.Store(true)
	echo := func(w http.ResponseWriter, r *http.Request, status int) {
		var b strings.Builder
		b.WriteString("Request refused. You sent:\n")
		r.Header.Write(&b)
		b.WriteString("password=" + sim.password + "\n")
		w.WriteHeader(status)
		io.WriteString(w, b.String())
	}
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isGit := strings.HasSuffix(r.URL.Path, "/info/refs") || strings.HasSuffix(r.URL.Path, "/git-upload-pack")
		switch {
		case isGit && echoGit.Load():
			echo(w, r, http.StatusForbidden) // go-git quotes 401, 403 and 404 bodies
		case isGit:
			proxy.ServeHTTP(w, r)
		default:
			echo(w, r, http.StatusInternalServerError)
		}
	}))
	defer hostile.Close()

	g := startGate(t, gateSetup{gerritURL: hostile.URL, username: "gate", password: sim.password, policy: reviewedPolicy})
	shown := func() string {
		var all strings.Builder
		for _, path := range []string{"/", "/api/v1/status", "/api/v1/projects/platform%2Ffleet", "/api/v1/projects/platform%2Ffleet/environments/prod"} {
			resp, err := http.Get(g.url + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			all.Write(b)
		}
		all.WriteString(g.log.String())
		return all.String()
	}
	check := func(phase string) {
		t.Helper()
		var text string
		if !within(20*time.Second, 100*time.Millisecond, func() bool { text = shown(); return strings.Contains(text, "Request refused") }) {
			t.Fatalf("%s: the echoed answer never reached the status:\n%s", phase, text)
		}
		g.settle()
		text = shown()
		for what, s := range map[string]string{"password": sim.password, "Basic credential": basic} {
			if strings.Contains(text, s) {
				t.Errorf("%s: the gate shows its %s:\n%s", phase, what, grepLines(text, s))
			}
		}
		if !strings.Contains(text, "Authorization: [redacted]") {
			t.Errorf("%s: the echoed header is not shown redacted", phase)
		}
	}

	check("git fetch answered with echoed headers")
	if m := g.env(project, "prod").Message; !strings.Contains(m, "[redacted]") || len(m) > 600 {
		t.Errorf("fetch failure message %q: want it bounded and redacted", m)
	}

	// Git now works, so the gate asks the REST API about a new commit, and
	// that answer echoes the headers.
	echoGit.Store(false)
	// (A never-deployed branch is decided from its root, so the REST
	// answer is needed at once; a merge makes sure a commit is pending.)
	sim.mergeApproved("A")
	var st envStatus
	if !within(20*time.Second, 100*time.Millisecond, func() bool { st = g.env(project, "prod"); return strings.Contains(st.Message, "gerrit:") }) {
		t.Fatalf("no REST failure reached the status: %+v", st)
	}
	check("REST answered with echoed headers")
}
