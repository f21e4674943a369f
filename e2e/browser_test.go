package e2e

import (
	"context"
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

// A person opens the demo's status page in a real browser with the
// credentials the demo prints: the Basic challenge makes Chromium send
// the URL's user and token, and the page shows the reader's project, its
// deployed commit and the environment held by the vetoed change. A wrong
// token shows no project. GERRITGATE_SCREENSHOT=docs/status-page.png
// keeps the screenshot README shows.
func TestBrowserSignsInToStatusPage(t *testing.T) {
	chrome := chromium(t)
	listen := freeAddr(t)
	await, _ := startDemo(t, t.TempDir(), listen)
	m := await(regexp.MustCompile(`http://demo:([A-Za-z0-9_-]+)@[^/]+/([^ ]+)\.git`))
	token, project := m[1], m[2]
	await(regexp.MustCompile(`approved +[0-9a-f]{12} "Add podinfo"`))
	page := "http://demo:" + token + "@" + listen + "/"

	dom := browse(t, chrome, page, "")
	if !strings.Contains(dom, project) || !regexp.MustCompile(`class="(Advanced|UpToDate)"`).MatchString(dom) || strings.Contains(dom, "Not signed in") {
		t.Fatalf("signed in as demo, the page shows no advancing %s:\n%s", project, dom)
	}
	wrong := browse(t, chrome, "http://demo:not-the-token@"+listen+"/", "")
	// Headless Chromium renders nothing after a refused sign-in (it has
	// no dialog to show); a browser with one shows the 401's page, which
	// lists only anonymous projects (TestAccessControl checks its text).
	if strings.Contains(wrong, project) {
		t.Errorf("with a wrong token the page shows %s:\n%s", project, wrong)
	}
	anonymous := browse(t, chrome, "http://"+listen+"/", "")
	if strings.Contains(anonymous, project) {
		t.Errorf("without credentials the page shows %s:\n%s", project, anonymous)
	}

	await(regexp.MustCompile(`NotApproved: [0-9a-f]{12} "Raise replicas"`))
	dom = browse(t, chrome, page, "")
	if !strings.Contains(dom, `class="NotApproved"`) || !strings.Contains(dom, "vetoed") {
		t.Errorf("after the vetoed change, the page shows no held environment:\n%s", dom)
	}
	// What is deployed, with its change on Gerrit, why the rest waits,
	// the mirror's last fetch and the audit trail.
	for _, want := range []string{"“Add podinfo”", "/c/" + project + "/+/1\">change 1</a>", "veto Code-Review: vetoed: Code-Review -2 by carol",
		`<span class="ok">ok</span>`, "advance to <code>", "“Initial empty repository”"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the held environment's page lacks %q:\n%s", want, dom)
		}
	}
	shot := filepath.Join(t.TempDir(), "status-page.png")
	browse(t, chrome, page, shot)
	png, err := os.ReadFile(shot)
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("chromium saved no PNG screenshot: %v", err)
	}
	if keep := os.Getenv("GERRITGATE_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
