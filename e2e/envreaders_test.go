package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fluxgit "github.com/fluxcd/pkg/git"
)

// stagingProdPolicy is twoProjectPolicy with platform/fleet gated into
// staging too (from main, neither environment waiting for the other).
var stagingProdPolicy = strings.Replace(twoProjectPolicy, "    environments:\n      - {name: prod",
	"    environments:\n      - {name: staging, policy: reviewed, baseline: upstream}\n      - {name: prod", 1)

// Issue 12, done-means 3: a reader granted only staging fails to fetch a
// prod-only object and vice versa, over HTTP and SSH, protocol v0 and v2,
// by branch and by SHA (a v2 fetch of a raw object id included: C git's
// v2 upload-pack serves any object in the store), and the staging reader
// cannot fetch prod's audit trail (audit/prod, its tag). Flux clones an
// environment's repository; the status API shows each reader its
// environments only.
func TestReadersPerEnvironment(t *testing.T) {
	useBinary(t)
	if !strings.Contains(stagingProdPolicy, "{name: staging") {
		t.Fatal("twoProjectPolicy changed: stagingProdPolicy adds no staging")
	}
	key, _ := auditKey(t, t.TempDir(), "gate")
	sim := newSim(t, "MERGE_IF_NECESSARY")
	stager, prodder, ops, pair := newReader(t, "flux-staging"), newReader(t, "flux-prod"), newReader(t, "ops"), newReader(t, "pair")
	g := startAccessGateWith(t, sim, "readers:\n"+
		stager.entry(`"platform/*"`, "    environments: [staging]\n")+
		prodder.entry(`"platform/*"`, "    environments: [prod]\n")+
		ops.entry(`"platform/*"`, "")+
		pair.entry(`"platform/*"`, "    environments: [staging, qa]\n"),
		gateSetup{policy: stagingProdPolicy, extra: fmt.Sprintf("audit:\n  signingKey: %s\n", key)})
	served := filepath.Join(g.dir, "data", "served", project+".git")
	cfg := filepath.Join(g.dir, "gerritgate.yaml")
	operate := func(action, env string) {
		t.Helper()
		out, err := exec.Command(binary, action, "--config", cfg, "--project", project, "--env", env, "--reason", "test: "+action+" "+env).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", action, env, err, out)
		}
	}
	refAs := func(r reader, ref string) string {
		out, _ := git(t, "", "ls-remote", g.httpURL(r, project), ref)
		return strings.TrimSpace(strings.Split(out, "\t")[0])
	}
	waitRef := func(ref, sha string) {
		t.Helper()
		waitFor(t, 60*time.Second, ref+" at "+sha, func() bool { return refAs(ops, ref) == sha })
	}
	rev := func(ref string) string {
		t.Helper()
		out, err := git(t, "", "--git-dir", served, "rev-parse", ref)
		if err != nil {
			t.Fatalf("rev-parse %s in the served repository: %v\n%s", ref, err, out)
		}
		return strings.TrimSpace(out)
	}

	a := sim.mergeApproved("A")
	waitRef("refs/heads/deploy/staging", a)
	waitRef("refs/heads/deploy/prod", a)
	// Staging held at A while prod moves to B: B, prod's audit records
	// and prod's tag are prod's alone; staging's hold record and tag are
	// staging's alone.
	operate("hold", "staging")
	b := sim.mergeApproved("B")
	waitRef("refs/heads/deploy/prod", b)
	waitRef("refs/tags/gerritgate/prod", rev("refs/tags/gerritgate/prod"))
	if got := refAs(ops, "refs/heads/deploy/staging"); got != a {
		t.Fatalf("deploy/staging = %s, want it held at A %s", got, a)
	}
	prodOnly := map[string]string{"B (deploy/prod)": b, "audit/prod": rev("refs/heads/audit/prod"), "tag gerritgate/prod": rev("refs/tags/gerritgate/prod")}
	stagingOnly := map[string]string{"audit/staging (its hold)": rev("refs/heads/audit/staging"), "tag gerritgate/staging": rev("refs/tags/gerritgate/staging")}
	prodRefs := []string{"refs/heads/deploy/prod", "refs/heads/audit/prod", "refs/tags/gerritgate/prod"}
	stagingRefs := []string{"refs/heads/deploy/staging", "refs/heads/audit/staging", "refs/tags/gerritgate/staging"}

	type transport struct {
		name string
		git  func(r reader, args ...string) (string, error) // args end where the URL goes
	}
	transports := []transport{
		{"http", func(r reader, args ...string) (string, error) {
			return git(t, "", append(args[:len(args):len(args)], g.httpURL(r, project))...)
		}},
		{"ssh", func(r reader, args ...string) (string, error) {
			return g.sshGit(t, r.keyFile, g.knownHosts, append(args[:len(args):len(args)], g.sshURL(project))...)
		}},
	}
	// fetchSpec fetches spec (a ref or a SHA) as r into a fresh
	// repository and reports whether the object sha arrived.
	fetchSpec := func(tr transport, r reader, v, spec, sha string) (bool, string) {
		dir := t.TempDir()
		if out, err := git(t, dir, "init", "-q", "--bare"); err != nil {
			t.Fatalf("init: %v %s", err, out)
		}
		var out string
		var err error
		args := []string{"--git-dir", dir, "-c", "protocol.version=" + v, "fetch", "--no-tags"}
		switch tr.name {
		case "http":
			out, err = git(t, "", append(args, g.httpURL(r, project), spec)...)
		default:
			out, err = g.sshGit(t, r.keyFile, g.knownHosts, append(args, g.sshURL(project), spec)...)
		}
		_, missing := git(t, "", "--git-dir", dir, "cat-file", "-e", sha)
		if err == nil && missing != nil {
			t.Fatalf("%s v%s %s: fetch of %s succeeded without the object %s", tr.name, v, r.name, spec, sha)
		}
		return missing == nil, out
	}

	for _, tr := range transports {
		for _, v := range []string{"0", "2"} {
			tv := tr.name + " v" + v
			// Each reader lists its environment's refs and none of the other's.
			for _, c := range []struct {
				r           reader
				mine, other []string
			}{{stager, stagingRefs, prodRefs}, {prodder, prodRefs, stagingRefs}} {
				out, err := tr.git(c.r, "-c", "protocol.version="+v, "ls-remote")
				if err != nil {
					t.Fatalf("%s: %s ls-remote: %v\n%s", tv, c.r.name, err, out)
				}
				for _, ref := range c.mine {
					if !strings.Contains(out, ref+"\n") {
						t.Errorf("%s: %s does not see its %s:\n%s", tv, c.r.name, ref, out)
					}
				}
				for _, ref := range c.other {
					if strings.Contains(out, ref) {
						t.Errorf("%s: %s sees %s:\n%s", tv, c.r.name, ref, out)
					}
				}
			}
			// By branch or tag, and by SHA: nothing of the other
			// environment arrives.
			for _, c := range []struct {
				r       reader
				refs    []string
				objects map[string]string
			}{{stager, prodRefs, prodOnly}, {prodder, stagingRefs, stagingOnly}} {
				for _, ref := range c.refs {
					if got, out := fetchSpec(tr, c.r, v, ref, rev(ref)); got {
						t.Errorf("%s: %s fetched %s:\n%s", tv, c.r.name, ref, out)
					}
				}
				for what, sha := range c.objects {
					if got, out := fetchSpec(tr, c.r, v, sha, sha); got {
						t.Errorf("%s: %s fetched %s (%s) by SHA:\n%s", tv, c.r.name, what, sha, out)
					}
				}
			}
			// Each reader fetches its own by branch, and by SHA over v2
			// (so the refusals above are about the object, not the
			// manner of asking).
			for _, c := range []struct {
				r       reader
				ref     string
				objects map[string]string
			}{{stager, "refs/heads/audit/staging", stagingOnly}, {prodder, "refs/heads/audit/prod", prodOnly}, {ops, "refs/heads/audit/prod", prodOnly}, {ops, "refs/heads/audit/staging", stagingOnly}} {
				if got, out := fetchSpec(tr, c.r, v, c.ref, rev(c.ref)); !got {
					t.Errorf("%s: %s cannot fetch %s:\n%s", tv, c.r.name, c.ref, out)
				}
				if v != "2" {
					continue
				}
				for what, sha := range c.objects {
					if got, out := fetchSpec(tr, c.r, v, sha, sha); !got {
						t.Errorf("%s: %s cannot fetch its %s (%s) by SHA:\n%s", tv, c.r.name, what, sha, out)
					}
				}
			}
			// Two environments, not every one the project has: refused
			// with why.
			if out, err := tr.git(pair, "-c", "protocol.version="+v, "ls-remote"); err == nil || !strings.Contains(out, "ask for one environment, or all of them") {
				t.Errorf("%s: a reader of staging and qa listed the project: %v\n%s", tv, err, out)
			}
		}
	}

	// Raw upload-pack requests over HTTP, as a client that wants any
	// SHA-1 (v0) or sends a v2 fetch of a raw object id would make: no
	// pack comes back for B to the staging reader; the prod reader gets one.
	for _, c := range []struct {
		r      reader
		wantOK bool
	}{{stager, false}, {prodder, true}} {
		for _, v := range []string{"0", "2"} {
			got, body := rawWant(t, g.url+"/"+project+".git/git-upload-pack", c.r, v, b)
			if got != c.wantOK {
				t.Errorf("raw v%s want of B by %s: pack sent = %v, want %v\n%.300q", v, c.r.name, got, c.wantOK, body)
			}
		}
	}

	// Flux clones an environment's repository, and only its branches.
	auth := func(r reader) *fluxgit.AuthOptions {
		return &fluxgit.AuthOptions{Transport: fluxgit.HTTP, Host: strings.TrimPrefix(g.url, "http://"), Username: "flux", Password: r.token}
	}
	if got, _, err := fluxClone(t, g.url+"/"+project+".git", "deploy/staging", "", auth(stager)); err != nil || got != a {
		t.Errorf("flux clone of deploy/staging as the staging reader = %s, %v; want %s", got, err, a)
	}
	if got, _, err := fluxClone(t, g.url+"/"+project+".git", "deploy/prod", "", auth(stager)); err == nil {
		t.Errorf("flux clone of deploy/prod as the staging reader succeeded at %s", got)
	}

	// The status API: each reader sees its environment only (staging's
	// own state names B too, as the upstream head it has not taken).
	for _, c := range []struct {
		r          reader
		shows, not string
	}{{stager, `"environment": "staging"`, `"environment": "prod"`}, {prodder, `"environment": "prod"`, `"environment": "staging"`}} {
		body := apiGet(t, g.url+"/api/v1/status", c.r)
		if !strings.Contains(body, c.shows) || strings.Contains(body, c.not) {
			t.Errorf("status for %s shows the other environment or not its own:\n%s", c.r.name, body)
		}
	}
	if body := apiGet(t, g.url+"/api/v1/projects/platform%2Ffleet/environments/prod", stager); !strings.Contains(body, "no such project") {
		t.Errorf("the staging reader reads prod's state:\n%s", body)
	}

	// And the other way: staging moves to C while prod is held at B; C
	// is staging's alone, and stays so across a restart that upgrades a
	// data directory from before environment repositories (the start
	// builds them).
	operate("hold", "prod")
	operate("release", "staging")
	c := sim.mergeApproved("C")
	waitRef("refs/heads/deploy/staging", c)
	g.stop()
	envRepos := filepath.Join(g.dir, "data", "served-env")
	if _, err := os.Stat(filepath.Join(envRepos, "staging", project+".git")); err != nil {
		t.Fatalf("no environment repository for staging: %v", err)
	}
	if err := os.RemoveAll(envRepos); err != nil {
		t.Fatal(err)
	}
	g.start()
	if _, err := os.Stat(filepath.Join(envRepos, "prod", project+".git")); err != nil {
		t.Errorf("the start did not build prod's repository: %v", err)
	}
	for _, tr := range transports {
		for _, v := range []string{"0", "2"} {
			if got, out := fetchSpec(tr, prodder, v, c, c); got {
				t.Errorf("%s v%s: the prod reader fetched staging's C by SHA:\n%s", tr.name, v, out)
			}
			if got, out := fetchSpec(tr, prodder, v, "refs/heads/deploy/staging", c); got {
				t.Errorf("%s v%s: the prod reader fetched deploy/staging:\n%s", tr.name, v, out)
			}
			if got, out := fetchSpec(tr, stager, v, "refs/heads/deploy/staging", c); !got {
				t.Errorf("%s v%s: the staging reader cannot fetch deploy/staging at C:\n%s", tr.name, v, out)
			}
		}
	}
}

// rawWant posts one upload-pack request wanting sha, as protocol v0 (want
// line, done) or v2 (command=fetch with a raw object id), and reports
// whether a pack came back.
func rawWant(t *testing.T, url string, r reader, v, sha string) (bool, string) {
	t.Helper()
	pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
	var body string
	if v == "2" {
		body = pkt("command=fetch\n") + "0001" + pkt("want "+sha+"\n") + pkt("done\n") + "0000"
	} else {
		body = pkt("want "+sha+" side-band-64k\n") + "0000" + pkt("done\n")
	}
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("git", r.token)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	if v == "2" {
		req.Header.Set("Git-Protocol", "version=2")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return bytes.Contains(got, []byte("PACK")), string(got)
}

// apiGet returns the body of an API answer to r.
func apiGet(t *testing.T, url string, r reader) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
