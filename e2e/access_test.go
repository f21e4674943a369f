package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fluxgit "github.com/fluxcd/pkg/git"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gerritgate/gerritgate/access"
)

// reader is one set of credentials a test hands out.
type reader struct {
	name    string
	token   string
	keyPEM  []byte
	keyFile string
	pubLine string
}

func newReader(t *testing.T, name string) reader {
	t.Helper()
	token, _, err := access.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, name)
	pub, _ := ssh.NewPublicKey(priv.Public())
	r := reader{name: name, token: token, keyPEM: pem.EncodeToMemory(block),
		pubLine: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))}
	registerSecret(token, string(r.keyPEM), access.HashToken(token))
	r.keyFile = filepath.Join(t.TempDir(), "id_"+name)
	if err := os.WriteFile(r.keyFile, r.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r reader) entry(projects string, extra string) string {
	return fmt.Sprintf("  - name: %s\n    projects: [%s]\n    sshKeys: [%q]\n    tokens: [%q]\n%s",
		r.name, projects, r.pubLine, access.HashToken(r.token), extra)
}

// accessGate is a gate with SSH and an access file, serving platform/fleet
// and platform/other.
type accessGate struct {
	*gateProc
	sshAddr    string
	knownHosts string // known_hosts file content for the gate's host key
	accessFile string
}

const twoProjectPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
  - project: platform/other
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
    vetoes: {Code-Review: -2}
`

func startAccessGate(t *testing.T, sim *sim, accessYAML string) *accessGate {
	t.Helper()
	return startAccessGateWith(t, sim, accessYAML, gateSetup{})
}

// startAccessGateWith is startAccessGate with more config: setup's extra,
// httpExtra and sshExtra are added to the gate's config, and setup's
// policy replaces twoProjectPolicy.
func startAccessGateWith(t *testing.T, sim *sim, accessYAML string, setup gateSetup) *accessGate {
	t.Helper()
	if err := sim.srv.CreateProject("platform/other", "MERGE_IF_NECESSARY"); err != nil {
		t.Fatal(err)
	}
	policy := setup.policy
	if policy == "" {
		policy = twoProjectPolicy
	}
	return startAccessGateOn(t, sim.url, sim.password, policy, accessYAML, setup)
}

// startAccessGateOn starts a gate with SSH and an access file on the
// Gerrit at gerritURL (user gate) with the given policy.
func startAccessGateOn(t *testing.T, gerritURL, password, policy, accessYAML string, setup gateSetup) *accessGate {
	t.Helper()
	dir := t.TempDir()
	addr, sshAddr := freeAddr(t), freeAddr(t)
	accessFile := filepath.Join(dir, "access.yaml")
	if err := os.WriteFile(accessFile, []byte(accessYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	writeGateConfig(t, dir, addr, gateSetup{
		gerritURL: gerritURL, username: "gate", password: password, policy: policy,
		webhookSecret: setup.webhookSecret,
		extra:         fmt.Sprintf("ssh:\n  listen: %s\n  hostKeyFiles: [./host_key]\n%saccess: ./access.yaml\n", sshAddr, setup.sshExtra) + setup.extra,
		httpExtra:     setup.httpExtra,
		poll:          setup.poll,
		gerritExtra:   setup.gerritExtra,
	})
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(hostPriv, "host")
	os.WriteFile(filepath.Join(dir, "host_key"), pem.EncodeToMemory(block), 0o600)
	hostPub, _ := ssh.NewPublicKey(hostPriv.Public())
	g := &gateProc{t: t, dir: dir, url: "http://" + addr, hook: setup.webhookSecret}
	g.start()
	t.Cleanup(g.stop)
	return &accessGate{gateProc: g, sshAddr: sshAddr, accessFile: accessFile,
		knownHosts: knownhosts.Line([]string{knownhosts.Normalize(sshAddr)}, hostPub) + "\n"}
}

func (g *accessGate) sshURL(project string) string {
	return "ssh://git@" + g.sshAddr + "/" + project + ".git"
}

// sshGit runs C git over SSH with a key and a pinned known_hosts.
func (g *accessGate) sshGit(t *testing.T, keyFile, knownHosts string, args ...string) (string, error) {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(knownHosts), 0o644)
	cmd := fmt.Sprintf("ssh -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes", keyFile, kh)
	return gitEnv(t, "", []string{"GIT_SSH_COMMAND=" + cmd}, args...)
}

// get GETs path with a Bearer token ("" for none).
func (g *accessGate) get(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (g *accessGate) httpURL(r reader, project string) string {
	host := strings.TrimPrefix(g.url, "http://")
	return "http://" + r.name + ":" + r.token + "@" + host + "/" + project + ".git"
}

// Acceptance 1 and 2 of the SSH and access issue.
func TestAccessOverSSHAndHTTP(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	fluxR, other := newReader(t, "flux-prod"), newReader(t, "other-team")
	scrape, _, _ := access.NewToken()
	registerSecret(scrape)
	metricsEntry := fmt.Sprintf("metrics:\n  tokens: [%q]\n", access.HashToken(scrape))
	g := startAccessGate(t, sim, "readers:\n"+fluxR.entry(`"platform/fleet"`, "")+other.entry(`"platform/other"`, "")+metricsEntry)
	a := sim.mergeApproved("A")
	g.waitDeployedAs(fluxR, project, a)

	t.Run("C git over SSH", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "c")
		if out, err := g.sshGit(t, fluxR.keyFile, g.knownHosts, "clone", "-q", "--depth", "1", "-b", "deploy/prod", g.sshURL(project), dir); err != nil {
			t.Fatalf("clone: %v\n%s", err, out)
		}
		if out, _ := git(t, dir, "rev-parse", "HEAD"); strings.TrimSpace(out) != a {
			t.Errorf("cloned %s, want %s", out, a)
		}
	})
	t.Run("Flux over SSH", func(t *testing.T) {
		got, _, err := fluxClone(t, g.sshURL(project), "deploy/prod", "", &fluxgit.AuthOptions{
			Transport: fluxgit.SSH, Host: g.sshAddr, Username: "git",
			Identity: fluxR.keyPEM, KnownHosts: []byte(g.knownHosts),
		})
		if err != nil || got != a {
			t.Fatalf("flux ssh clone = %s, %v; want %s", got, err, a)
		}
	})
	t.Run("Flux over HTTP with Basic and Bearer", func(t *testing.T) {
		url := g.url + "/" + project + ".git"
		for _, auth := range []*fluxgit.AuthOptions{
			{Transport: fluxgit.HTTP, Host: strings.TrimPrefix(g.url, "http://"), Username: "flux", Password: fluxR.token},
			{Transport: fluxgit.HTTP, Host: strings.TrimPrefix(g.url, "http://"), BearerToken: fluxR.token},
		} {
			got, _, err := fluxClone(t, url, "deploy/prod", "", auth)
			if err != nil || got != a {
				t.Errorf("flux http clone = %s, %v; want %s", got, err, a)
			}
		}
	})
	t.Run("wrong host key is refused by both clients", func(t *testing.T) {
		_, wrongPriv, _ := ed25519.GenerateKey(rand.Reader)
		wrongPub, _ := ssh.NewPublicKey(wrongPriv.Public())
		wrong := knownhosts.Line([]string{knownhosts.Normalize(g.sshAddr)}, wrongPub) + "\n"
		if out, err := g.sshGit(t, fluxR.keyFile, wrong, "ls-remote", g.sshURL(project)); err == nil {
			t.Errorf("C git accepted a wrong host key:\n%s", out)
		}
		if _, _, err := fluxClone(t, g.sshURL(project), "deploy/prod", "", &fluxgit.AuthOptions{
			Transport: fluxgit.SSH, Host: g.sshAddr, Username: "git", Identity: fluxR.keyPEM, KnownHosts: []byte(wrong),
		}); err == nil {
			t.Errorf("Flux accepted a wrong host key")
		}
	})
	t.Run("unknown client key is refused", func(t *testing.T) {
		stranger := newReader(t, "stranger")
		if out, err := g.sshGit(t, stranger.keyFile, g.knownHosts, "ls-remote", g.sshURL(project)); err == nil {
			t.Errorf("unknown key accepted:\n%s", out)
		}
	})
	t.Run("reader A cannot list or fetch project B", func(t *testing.T) {
		if out, err := g.sshGit(t, other.keyFile, g.knownHosts, "ls-remote", g.sshURL(project)); err == nil || !strings.Contains(out, "not found") {
			t.Errorf("other-team listed platform/fleet over SSH: %v\n%s", err, out)
		}
		if out, err := git(t, "", "ls-remote", g.httpURL(other, project)); err == nil || !strings.Contains(out, "not found") {
			t.Errorf("other-team listed platform/fleet over HTTP: %v\n%s", err, out)
		}
		if out, err := git(t, "", "ls-remote", g.url+"/"+project+".git"); err == nil {
			t.Errorf("anonymous listed platform/fleet:\n%s", out)
		}
		// The same reader does see its own project: the refusals above
		// are about the project, not broken credentials.
		if out, err := git(t, "", "ls-remote", g.httpURL(other, "platform/other")); err != nil {
			t.Errorf("other-team cannot list its own project: %v\n%s", err, out)
		}
	})
	t.Run("status, API and metrics show a reader only its projects", func(t *testing.T) {
		get := func(path, token string) (int, string) { return g.get(t, path, token) }
		fleetEnv := "/api/v1/projects/platform%2Ffleet/environments/prod"
		for _, tt := range []struct {
			what, path, token string
			code              int
			has, hasNot       string
		}{
			{"anonymous status", "/api/v1/status", "", 401, "sign in", "platform/"},
			{"anonymous page", "/", "", 401, "Not signed in", "platform/"},
			{"anonymous environment", fleetEnv, "", 401, "sign in", "platform/fleet"},
			{"anonymous pending", fleetEnv + "/pending", "", 401, "sign in", "platform/fleet"},
			{"anonymous metrics", "/metrics", "", 401, "", "platform/"},
			{"flux-prod status", "/api/v1/status", fluxR.token, 200, "platform/fleet", "platform/other"},
			{"flux-prod environment", fleetEnv, fluxR.token, 200, a, ""},
			{"flux-prod pending", fleetEnv + "/pending", fluxR.token, 200, "platform/fleet", ""},
			{"other-team environment", fleetEnv, other.token, 404, "", a},
			{"other-team status", "/api/v1/status", other.token, 200, "platform/other", "platform/fleet"},
			// Attack 5: /metrics names every project, so no reader's
			// token opens it (other-team may not even see platform/fleet).
			{"reader metrics", "/metrics", other.token, 401, "", "platform/"},
			{"all-project reader metrics", "/metrics", fluxR.token, 401, "", "platform/"},
			{"metrics token", "/metrics", scrape, 200, `project="platform/fleet"`, ""},
			{"metrics token reads no status", "/api/v1/status", scrape, 401, "sign in", "platform/"},
			{"unknown project pending", "/api/v1/projects/platform%2Fnope/environments/prod/pending", fluxR.token, 404, "", ""},
			{"health is public", "/healthz", "", 200, "ok", ""},
		} {
			code, body := get(tt.path, tt.token)
			if code != tt.code || (tt.has != "" && !strings.Contains(body, tt.has)) || (tt.hasNot != "" && strings.Contains(body, tt.hasNot)) {
				t.Errorf("%s: GET %s = %d, want %d with %q and without %q:\n%.300s", tt.what, tt.path, code, tt.code, tt.has, tt.hasNot, body)
			}
		}
		if _, err := os.Stat(filepath.Join(g.dir, "data", "upstream", "platform", "nope.git")); err == nil {
			t.Errorf("asking /pending about an unknown project created a repository")
		}
	})
	t.Run("push, archive, shell and escapes are refused", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "kh")
		os.WriteFile(kh, []byte(g.knownHosts), 0o644)
		host, port, _ := net.SplitHostPort(g.sshAddr)
		sshArgs := []string{"-i", fluxR.keyFile, "-o", "UserKnownHostsFile=" + kh, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-p", port, "git@" + host}
		for _, remote := range []string{"sh -c id", "git-receive-pack 'platform/fleet.git'", "git-upload-archive 'platform/fleet.git'",
			"git-upload-pack '../upstream/platform/fleet.git'", "git-upload-pack '%2e%2e/upstream/platform/fleet'", "git-upload-pack '/etc'"} {
			out, err := runCmd("ssh", append(sshArgs, remote)...)
			if err == nil {
				t.Errorf("ssh %q succeeded:\n%s", remote, out)
			}
		}
		if out, err := g.sshGit(t, fluxR.keyFile, g.knownHosts, "archive", "--remote="+g.sshURL(project), "deploy/prod"); err == nil {
			t.Errorf("git archive --remote succeeded:\n%s", out)
		}
		dir := filepath.Join(t.TempDir(), "c")
		g.sshGit(t, fluxR.keyFile, g.knownHosts, "clone", "-q", "-b", "deploy/prod", g.sshURL(project), dir)
		git(t, dir, "commit", "-q", "--allow-empty", "-m", "evil")
		if out, err := gitEnv(t, dir, []string{"GIT_SSH_COMMAND=ssh -i " + fluxR.keyFile + " -o UserKnownHostsFile=" + kh + " -o IdentitiesOnly=yes -o BatchMode=yes"}, "push", "origin", "HEAD:refs/heads/deploy/prod"); err == nil {
			t.Errorf("push over SSH succeeded:\n%s", out)
		}
	})
	t.Run("expired token and removed key stop working without a restart", func(t *testing.T) {
		past := "    expires: 2020-01-01T00:00:00Z\n"
		edited := "readers:\n" + fluxR.entry(`"platform/fleet"`, past) + other.entry(`"platform/other"`, "") + metricsEntry
		if err := os.WriteFile(g.accessFile, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "flux-prod's token to expire", func() bool {
			_, err := git(t, "", "ls-remote", g.httpURL(fluxR, project))
			return err != nil
		})
		// Remove other-team (and lift flux-prod's expiry).
		os.WriteFile(g.accessFile, []byte("readers:\n"+fluxR.entry(`"platform/fleet"`, "")+metricsEntry), 0o644)
		waitFor(t, 10*time.Second, "other-team's removed key to stop working", func() bool {
			_, err := g.sshGit(t, other.keyFile, g.knownHosts, "ls-remote", g.sshURL("platform/other"))
			return err != nil
		})
		// A broken edit keeps the last good list.
		os.WriteFile(g.accessFile, []byte("readers: [ {name: x, bogus: 1} ]\n"), 0o644)
		time.Sleep(2500 * time.Millisecond)
		if out, err := g.sshGit(t, fluxR.keyFile, g.knownHosts, "ls-remote", g.sshURL(project)); err != nil {
			t.Errorf("a broken access file locked out flux-prod: %v\n%s", err, out)
		}
		// Two good edits and a broken one, counted as reloads of the access file.
		req, _ := http.NewRequest("GET", g.url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+scrape)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`gerritgate_reloads_total{file="access",result="ok"} 2`, `gerritgate_reloads_total{file="access",result="error"} 1`, "gerritgate_access_ok 0"} {
			if !strings.Contains(string(m), want) {
				t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(m), "gerritgate_"))
			}
		}
	})
	t.Run("no secret in the log", func(t *testing.T) {
		log := g.log.String()
		for _, secret := range []string{fluxR.token, other.token, sim.password, string(fluxR.keyPEM), fluxR.pubLine, access.HashToken(fluxR.token)} {
			if strings.Contains(log, secret) {
				t.Errorf("log contains a secret %.12q...", secret)
			}
		}
		if !strings.Contains(log, "reader=flux-prod") {
			t.Errorf("log does not name the reader of requests")
		}
	})
}

// waitDeployedAs waits for deploy/<env> as seen by an authorised reader.
func (g *accessGate) waitDeployedAs(r reader, project, sha string) {
	g.t.Helper()
	waitFor(g.t, 30*time.Second, "deploy/prod at "+sha, func() bool {
		out, err := git(g.t, "", "ls-remote", g.httpURL(r, project), "refs/heads/deploy/prod")
		return err == nil && strings.HasPrefix(out, sha)
	})
}
