package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's chromium; CI (CI set) must have it (.ci/run
// installs it), a workstation without it skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (.ci/run installs it: apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// browse opens url in headless Chromium and returns the DOM it rendered;
// with screenshot set, it also saves a PNG of the window there.
func browse(t *testing.T, chrome, url, screenshot string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900"}
	if screenshot != "" {
		args = append(args, "--screenshot="+screenshot)
	} else {
		args = append(args, "--dump-dom")
	}
	cmd := exec.CommandContext(ctx, chrome, append(args, url)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

// pageOverHTTP GETs the status page at base with Basic credentials
// (none when user is ""), as the browser sends them after the challenge.
func pageOverHTTP(t *testing.T, base, user, password string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/", nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A person opens the demo's status page in a real browser with the
// credentials the demo prints: the Basic challenge makes Chromium send
// the URL's user and token. While "Add podinfo" soaks, the page shows
// staging advancing (it took the change at once) beside prod held until
// the soak ends; later, staging held by the vetoed change with its first
// failing rule, and prod with the deployed change linked to Gerrit. A
// wrong token and no token get the challenge (401 with a Basic realm
// "gerritgate", checked over plain HTTP, since headless Chromium shows
// nothing for a refused sign-in and exits 0 all the same) and a page
// without the project. GERRITGATE_SCREENSHOT=docs/status-page.png keeps
// the screenshot README shows (staging advancing, prod held).
func TestBrowserSignsInToStatusPage(t *testing.T) {
	chrome := chromium(t)
	listen := freeAddr(t)
	await, _ := startDemo(t, t.TempDir(), listen)
	m := await(regexp.MustCompile(`http://demo:([A-Za-z0-9_-]+)@[^/]+/([^ ]+)\.git`))
	token, project := m[1], m[2]
	page := "http://demo:" + token + "@" + listen + "/"

	// staging takes "Add podinfo" at once; prod, at Gerrit's initial
	// commit, is held while it soaks (20s). The screenshot is taken
	// first: the page checked after it shows the same state.
	await(regexp.MustCompile(`deploy/staging \(policy reviewed\): Advanced: `))
	await(regexp.MustCompile(`approved +[0-9a-f]{12} "Add podinfo"`))
	shot := filepath.Join(t.TempDir(), "status-page.png")
	browse(t, chrome, page, shot)
	dom := browse(t, chrome, page, "")
	if !strings.Contains(dom, project) || strings.Contains(dom, "Not signed in") {
		t.Fatalf("signed in as demo, the page shows no %s:\n%s", project, dom)
	}
	staging, prod := environmentOn(t, dom, "staging"), environmentOn(t, dom, "prod")
	for _, want := range []string{`class="(Advanced|UpToDate)"`, `“Add podinfo”`} {
		if !regexp.MustCompile(want).MatchString(staging) {
			t.Errorf("while prod soaks, staging's section lacks %s:\n%s", want, staging)
		}
	}
	for _, want := range []string{`<span class="Held">Held</span>`, `“Initial empty repository”`, `soaks on deploy/staging; until`, `<th>held until</th><td class="Held">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in \d+s\)`} {
		if !regexp.MustCompile(want).MatchString(prod) {
			t.Errorf("while prod soaks, its section lacks %s:\n%s", want, prod)
		}
	}
	png, err := os.ReadFile(shot)
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("chromium saved no PNG screenshot: %v", err)
	}
	if keep := os.Getenv("GERRITGATE_SCREENSHOT"); keep != "" && !t.Failed() {
		if err := os.WriteFile(keep, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	resp, body := pageOverHTTP(t, "http://"+listen, "demo", token)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "</small> deploy/prod <span") {
		t.Errorf("GET / as demo with its token: %s, want 200 with %s's prod section:\n%s", resp.Status, project, body)
	}
	for _, tt := range []struct{ what, user, password, url string }{
		{"a wrong token", "demo", "not-the-token", "http://demo:not-the-token@" + listen + "/"},
		{"no credentials", "", "", "http://" + listen + "/"},
	} {
		resp, body := pageOverHTTP(t, "http://"+listen, tt.user, tt.password)
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, `Basic realm="gerritgate"`) {
			t.Errorf("GET / with %s: %s, WWW-Authenticate %q; want 401 with a Basic challenge, realm \"gerritgate\"", tt.what, resp.Status, got)
		}
		if strings.Contains(body, project) || !strings.Contains(body, "Not signed in") {
			t.Errorf("GET / with %s: the page shows %s or does not say it is not signed in:\n%s", tt.what, project, body)
		}
		// Headless Chromium renders nothing after a refused sign-in (it
		// has no dialog to show); whatever it renders, no project.
		if dom := browse(t, chrome, tt.url, ""); strings.Contains(dom, project) {
			t.Errorf("in Chromium with %s the page shows %s:\n%s", tt.what, project, dom)
		}
	}

	await(regexp.MustCompile(`deploy/staging \(policy reviewed\): NotApproved: [0-9a-f]{12} "Raise replicas"`))
	dom = browse(t, chrome, page, "")
	staging, prod = environmentOn(t, dom, "staging"), environmentOn(t, dom, "prod")
	// What is deployed, with its change on Gerrit, why the rest waits,
	// the mirror's last fetch and the audit trail.
	for _, want := range []string{`class="NotApproved"`, "“Add podinfo”", "veto Code-Review: vetoed: Code-Review -2 by carol",
		`<span class="ok">ok</span>`, "advance to <code>", "“Initial empty repository”"} {
		if !strings.Contains(staging, want) {
			t.Errorf("staging held by the veto: its section lacks %q:\n%s", want, staging)
		}
	}
	for _, want := range []string{"“Add podinfo”", "/c/" + project + "/+/1\">change 1</a>", "advance to <code>"} {
		if !strings.Contains(prod, want) {
			t.Errorf("prod after the soak: its section lacks %q:\n%s", want, prod)
		}
	}
}

// environmentOn returns the section of the status page dom showing
// deploy/<env>.
func environmentOn(t *testing.T, dom, env string) string {
	t.Helper()
	for _, s := range strings.Split(dom, "<section>")[1:] {
		if strings.Contains(s, "</small> deploy/"+env+" <span") {
			return s
		}
	}
	t.Fatalf("the page has no section for deploy/%s:\n%s", env, dom)
	return ""
}
