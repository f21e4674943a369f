package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/examples"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
	"github.com/gerritgate/gerritgate/storage/gitssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// cmdDemo runs the whole gate against the simulated Gerrit, plays a short
// story of changes on it, and prints what the gate decides and why.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the gate's HTTP listener")
	sshListen := fs.String("ssh-listen", "127.0.0.1:2222", "address of the gate's SSH listener")
	gerritListen := fs.String("gerrit-listen", "127.0.0.1:0", "address of the simulated Gerrit")
	dataDir := fs.String("dir", "", "directory for the demo's config and data: new, empty or an earlier demo's (default: a temporary one, removed at exit)")
	verbose := fs.Bool("v", false, "show the service's log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gerritgate-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	if err := startOver(dir, stdout); err != nil {
		return err
	}

	sim, err := gerrittest.New(gerrittest.WithAddr(*gerritListen))
	if err != nil {
		return fmt.Errorf("simulated Gerrit: %w", err)
	}
	defer sim.Close()
	password := randomHex(16)
	sim.SetCredentials("gate", password)
	alice := sim.AddAccount("alice")
	bob := sim.AddAccount("bob")
	carol := sim.AddAccount("carol")
	const project = "platform/fleet"
	if err := sim.CreateProject(project, gerrittest.MergeIfNecessary,
		gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())); err != nil {
		return err
	}

	creds, err := writeDemoConfig(dir, *listen, *sshListen, sim.URL(), password)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "gerritgate.yaml")
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	logLevel := slog.LevelWarn
	if *verbose {
		logLevel = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	s, err := newService(cfg, logger)
	if err != nil {
		return err
	}
	defer s.store.Close()

	gateURL := "http://" + *listen
	fmt.Fprintf(stdout, `gerritgate demo
  environments:      deploy/staging takes each approved commit at once; deploy/prod comes after staging
                     with a soak of %s: it moves only to commits staging has held that long (a real policy
                     says 30m or more; see policy.yaml and gerritgate check)
  simulated Gerrit:  %s   (its changes: %s/changes/?q=project:%s)
  gate status page:  %s/   (sign in as any user with the token below as password)
  gate config:       %s   (policy.yaml and access.yaml beside it)
  clone what the gate deploys (Flux points here, never at Gerrit), as reader "demo":
    over HTTP:  git clone -b deploy/prod http://demo:%s@%s/%s.git
    over SSH:   GIT_SSH_COMMAND='ssh -i %s -o UserKnownHostsFile=%s -o IdentitiesOnly=yes' git clone -b deploy/prod ssh://git@%s/%s.git
  the gate's SSH host key, as Flux's known_hosts wants it:
    %s
`, demoSoak, sim.URL(), sim.URL(), project, gateURL, cfgPath, creds.token, *listen, project,
		creds.keyFile, creds.knownHostsFile, *sshListen, project, creds.knownHostsLine)

	var mu sync.Mutex
	s.recorder.onChange = func(r deploy.Result) {
		mu.Lock()
		defer mu.Unlock()
		printDecision(stdout, r, false)
		if r.Reason == deploy.Held && !r.Until.IsZero() {
			fmt.Fprintf(stdout, "  deploy/%s waits until %s (in %s)\n", r.Env, r.Until.UTC().Format("15:04:05 UTC"), time.Until(r.Until).Round(time.Second))
		}
	}

	runErr := make(chan error, 1)
	go func() { runErr <- s.run(ctx) }()

	// Each step comes after its wait. The first waits for prod to start:
	// staging starts at Gerrit's initial commit, prod once staging has
	// held it for the soak. The second waits for the first's soak, so
	// prod takes "Add podinfo" before the veto stops staging.
	story := []struct {
		wait time.Duration
		say  string
		act  func() error
	}{
		{demoSoak + 3*time.Second, "alice's change \"Add podinfo\" gets Code-Review +2 from bob and Verified +1 from carol, and is merged:\n  staging takes it at once; prod is held until staging has held it for " + demoSoak.String(), func() error {
			return demoMerge(sim, project, alice, bob, "Add podinfo", map[string]string{"clusters/prod/podinfo.yaml": "replicas: 2\n"},
				vote{bob, "Code-Review", 2}, vote{carol, "Verified", 1})
		}},
		{demoSoak + 8*time.Second, "alice's change \"Raise replicas\" has Code-Review +2 from bob but -2 from carol; an admin submits it over the veto", func() error {
			return demoMerge(sim, project, alice, bob, "Raise replicas", map[string]string{"clusters/prod/podinfo.yaml": "replicas: 20\n"},
				vote{bob, "Code-Review", 2}, vote{carol, "Code-Review", -2}, vote{carol, "Verified", 1})
		}},
		{3 * time.Second, "bob's approved change \"Add alerts\" is merged after it: it waits behind the vetoed one", func() error {
			return demoMerge(sim, project, bob, alice, "Add alerts", map[string]string{"clusters/prod/alerts.yaml": "alerts: on\n"},
				vote{alice, "Code-Review", 2}, vote{carol, "Verified", 1})
		}},
		{3 * time.Second, "someone with push rights pushes \"hotfix\" straight to main, past review", func() error {
			_, err := sim.DirectPush(project, "main", carol, "hotfix", map[string]string{"clusters/prod/podinfo.yaml": "replicas: 0\n"})
			return err
		}},
	}
	go func() {
		for _, step := range story {
			select {
			case <-ctx.Done():
				return
			case <-time.After(step.wait):
			}
			mu.Lock()
			fmt.Fprintf(stdout, "\n[gerrit] %s\n", step.say)
			mu.Unlock()
			if err := step.act(); err != nil {
				fmt.Fprintf(stderr, "demo step failed: %v\n", err)
				return
			}
		}
		// Let the gate decide on the last step before saying so.
		select {
		case <-ctx.Done():
			return
		case <-time.After(3 * time.Second):
		}
		mu.Lock()
		fmt.Fprintf(stdout, "\nThe story is over; the gate keeps polling. Look at %s/ or\n  curl -H 'Authorization: Bearer %s' %s/api/v1/projects/%s/environments/prod/pending\nCheck the signed audit trail offline:\n  gerritgate verify http://demo:%s@%s/%s.git --key %s --recheck\nCtrl-C to stop.\n",
			gateURL, creds.token, gateURL, strings.ReplaceAll(project, "/", "%2F"), creds.token, *listen, project, creds.publicKeyFile)
		mu.Unlock()
	}()
	err = <-runErr
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}

// demoCreds is what the demo's reader needs to clone.
type demoCreds struct {
	token          string
	keyFile        string
	knownHostsFile string
	knownHostsLine string
	publicKeyFile  string // the audit signing key's public half
}

// writeDemoConfig writes the service config, policy, access list, the
// reader's token and SSH key, the gate's host key and a known_hosts file.
func writeDemoConfig(dir, listen, sshListen, gerritURL, password string) (demoCreds, error) {
	var c demoCreds
	token, hashed, err := access.NewToken()
	if err != nil {
		return c, err
	}
	c.token = token
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return c, err
	}
	block, err := gossh.MarshalPrivateKey(clientKey, "demo reader")
	if err != nil {
		return c, err
	}
	clientPub, err := gossh.NewPublicKey(clientKey.Public())
	if err != nil {
		return c, err
	}
	hostKeyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := gitssh.EnsureHostKey(hostKeyFile); err != nil {
		return c, err
	}
	hostPEM, err := os.ReadFile(hostKeyFile)
	if err != nil {
		return c, err
	}
	hostSigner, err := gossh.ParsePrivateKey(hostPEM)
	if err != nil {
		return c, err
	}
	c.knownHostsLine = knownhosts.Line([]string{knownhosts.Normalize(sshListen)}, hostSigner.PublicKey())
	c.keyFile = filepath.Join(dir, "demo_id_ed25519")
	c.knownHostsFile = filepath.Join(dir, "known_hosts")
	gateKey, gatePub, err := audit.NewKey("gerritgate demo", "gerritgate@localhost")
	if err != nil {
		return c, err
	}
	policy, err := demoPolicy()
	if err != nil {
		return c, err
	}
	c.publicKeyFile = filepath.Join(dir, "gate-key.pub.asc")
	files := map[string]string{
		"gate-key.asc":     gateKey,
		"gate-key.pub.asc": gatePub,
		"policy.yaml":      policy,
		"gerrit-password":  password + "\n",
		"demo_id_ed25519":  string(pem.EncodeToMemory(block)),
		"known_hosts":      c.knownHostsLine + "\n",
		"access.yaml": fmt.Sprintf(`# Who may read what. Written by gerritgate demo.
readers:
  - name: demo
    projects: ["platform/*"]
    sshKeys: [%q]
    tokens: [%q]
`, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(clientPub))), hashed),
		"gerritgate.yaml": fmt.Sprintf(demoMarker+`
dataDir: ./data
poll: "@every 1s"
gerrit:
  url: %s
  username: gate
  passwordFile: ./gerrit-password
http:
  listen: %s
ssh:
  listen: %s
  hostKeyFiles: [./ssh_host_ed25519_key]
access: ./access.yaml
policy: ./policy.yaml
audit:
  signingKey: ./gate-key.asc
`, gerritURL, listen, sshListen),
	}
	// The config first: its marker makes the folder a demo's, to start
	// over in, even if a write after it fails.
	names := []string{"gerritgate.yaml"}
	for name := range files {
		if name != "gerritgate.yaml" {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(files[name]), 0o600); err != nil {
			return c, err
		}
	}
	return c, nil
}

// demoSoak is how long prod waits behind staging in the demo: short, so
// the story shows prod held and then advancing.
const demoSoak = 20 * time.Second

// demoPolicy is the example policy with a staging environment before
// prod, and prod after staging with the demo's soak.
func demoPolicy() (string, error) {
	const prod = "      - name: prod\n        policy: reviewed\n        baseline: upstream\n"
	p := examples.Policy()
	if !strings.Contains(p, prod) {
		return "", errors.New("examples/policy.yaml has no prod environment of policy reviewed to put staging before")
	}
	staging := strings.Replace(prod, "prod", "staging", 1)
	rules := fmt.Sprintf("        after: staging     # the demo's: prod moves only to commits deploy/staging\n        soak: %s          # has held this long (a real policy says 30m or more)\n", demoSoak)
	return strings.Replace(p, prod, staging+prod+rules, 1), nil
}

// demoMarker starts the config the demo writes, so a later run knows the
// folder is a demo's.
const demoMarker = "# Written by gerritgate demo."

// startOver readies dir for a run: the simulated Gerrit is new each time,
// with new commits, so the data of an earlier run (its mirror, deploy
// branches and audit trail) would be Diverged from it. A new or empty
// folder is used as it is; an earlier demo's folder (its gerritgate.yaml
// starts with demoMarker) has its data removed, saying so; any other
// folder is refused untouched, since the demo writes its config, keys and
// data there.
func startOver(dir string, stdout io.Writer) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return fmt.Errorf("--dir %s: %w", dir, err)
	case len(entries) == 0:
		return nil
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "gerritgate.yaml"))
	if err != nil || !strings.HasPrefix(string(cfg), demoMarker) {
		why := "its gerritgate.yaml does not start with the demo's first line " + strconv.Quote(demoMarker)
		if errors.Is(err, fs.ErrNotExist) {
			why = "it has no gerritgate.yaml"
		} else if err != nil {
			why = err.Error()
		}
		return fmt.Errorf("--dir %s is not empty and not written by gerritgate demo (%s); the demo writes its config, keys and data there and removes an earlier demo's data, so it needs a folder of its own: give an empty or new --dir", dir, why)
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(data); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(data); err != nil {
		return fmt.Errorf("removing the earlier demo's data: %w", err)
	}
	fmt.Fprintf(stdout, "starting over: removed %s, the earlier demo's data (its simulated Gerrit is gone; a new one starts with new commits)\n", data)
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type vote struct {
	by    gate.Account
	label string
	value int
}

// demoMerge uploads a change, casts the votes and submits it.
func demoMerge(sim *gerrittest.Server, project string, owner, submitter gate.Account, subject string, files map[string]string, votes ...vote) error {
	ch, err := sim.CreateChange(gerrittest.ChangeInput{Project: project, Branch: "main", Owner: owner, Subject: subject, Files: files})
	if err != nil {
		return err
	}
	for _, v := range votes {
		if err := sim.Vote(ch.Number, v.by, v.label, v.value); err != nil {
			return err
		}
	}
	_, err = sim.Submit(ch.Number, submitter)
	return err
}
