package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// fleet is the project that holds the synthetic repository.
const fleet = "platform/fleet"

// environments are the deploy branches every gated project of the bench
// has, each under the same policy and none after another, so one poll
// decides all three.
var environments = []string{"dev", "staging", "prod"}

// sim is a simulated Gerrit with the accounts the bench merges as.
type sim struct {
	srv      *gerrittest.Server
	password string
	alice    gate.Account
	bob      gate.Account
	carol    gate.Account
	n        atomic.Int64
}

func newSim(dir string) (*sim, error) {
	srv, err := gerrittest.New(gerrittest.WithDir(dir))
	if err != nil {
		return nil, err
	}
	s := &sim{srv: srv, password: "bench-gate-password-0123456789"}
	srv.SetCredentials("gate", s.password)
	s.alice, s.bob, s.carol = srv.AddAccount("alice"), srv.AddAccount("bob"), srv.AddAccount("carol")
	return s, nil
}

func (s *sim) createProject(name string) error {
	return s.srv.CreateProject(name, gerrittest.MergeIfNecessary, gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified()))
}

// adopt makes the synthetic repository the project's main: its objects by
// alternates (no copy), its tip by a ref update, as a project with that
// history would be.
func (s *sim) adopt(ctx context.Context, project string, r *synthRepo) error {
	dir := s.srv.RepoDir(project)
	alt := filepath.Join(dir, "objects", "info", "alternates")
	if err := os.WriteFile(alt, []byte(filepath.Join(r.Dir, "objects")+"\n"), 0o644); err != nil {
		return err
	}
	if out, err := gitexec.Command(ctx, dir, "update-ref", "refs/heads/main", r.Tip).CombinedOutput(); err != nil {
		return fmt.Errorf("update-ref main of %s: %v: %s", project, err, out)
	}
	return nil
}

// mergeApproved merges a change touching one app of the fleet, with the
// votes the bench's policy asks for, and returns main's new tip.
func (s *sim) mergeApproved(project string) (string, error) {
	i := s.n.Add(1)
	path := fmt.Sprintf("clusters/dev/apps/bench-%d/configmap.yaml", i)
	ch, err := s.srv.CreateChange(gerrittest.ChangeInput{
		Project: project, Branch: "main", Owner: s.alice,
		Subject: fmt.Sprintf("Bench change %d", i),
		Files:   map[string]string{path: fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\ndata:\n  n: %q\n", fmt.Sprint(i))},
	})
	if err != nil {
		return "", err
	}
	if err := s.srv.Vote(ch.Number, s.bob, "Code-Review", 2); err != nil {
		return "", err
	}
	if err := s.srv.Vote(ch.Number, s.carol, "Verified", 1); err != nil {
		return "", err
	}
	if _, err := s.srv.Submit(ch.Number, s.bob); err != nil {
		return "", err
	}
	return s.srv.BranchTip(project, "main")
}

// gitAuthEnv makes C git send the gate's credentials to the simulated
// Gerrit, by environment rather than in a URL or on a command line.
func (s *sim) gitAuthEnv() []string {
	basic := base64.StdEncoding.EncodeToString([]byte("gate:" + s.password))
	return gitexec.Env("GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+basic)
}

// policy is the bench's policy for project (a name or a glob), each
// environment starting at baseline.
func policy(project, baseline string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "repos:\n  - project: %q\n    branch: main\n    environments:\n", project)
	for _, env := range environments {
		fmt.Fprintf(&b, "      - {name: %s, policy: reviewed, baseline: %s}\n", env, baseline)
	}
	b.WriteString("policies:\n  reviewed:\n    labels: {Code-Review: {min: 2}, Verified: {min: 1}}\n    vetoes: {Code-Review: -2}\n")
	return b.String()
}
