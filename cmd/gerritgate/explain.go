package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/storage"
)

// cmdExplain prints, for each pending commit of an environment (or one
// commit, or the last N upstream commits under another policy), every rule
// with its evidence and the verdict. It reads the mirror as the service
// last fetched it and asks Gerrit; it changes nothing, and runs beside a
// serving gerritgate.
func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "gerritgate.yaml", "service config file")
	project := fs.String("project", "", "Gerrit project (required)")
	env := fs.String("env", "", "environment (required)")
	commit := fs.String("commit", "", "explain only this commit")
	policyPath := fs.String("policy", "", "decide with this policy file instead of the configured one (dry run of an edit)")
	last := fs.Int("last", 0, "decide the last N upstream commits instead of the pending ones (default 20 with --policy)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *project == "" || *env == "" {
		return errors.New("explain needs --project and --env")
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if *policyPath == "" {
		*policyPath = cfg.Policy
	} else if *last == 0 {
		*last = 20
	}
	pc, err := gate.LoadPolicy(*policyPath)
	if err != nil {
		return err
	}
	t, err := findTarget(pc, *project, *env)
	if err != nil {
		return err
	}
	password, err := gerritPassword(cfg)
	if err != nil {
		return err
	}
	client, err := gerritClient(cfg, password, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	store, err := storage.OpenReadOnly(cfg.DataDir)
	if err != nil {
		return err
	}
	res, err := deploy.New(store, client).Explain(ctx, t, *last)
	if err != nil {
		return err
	}
	if *commit != "" {
		if err := onlyCommit(&res, *commit); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printDecision(stdout, res, true)
	return nil
}

// findTarget finds the environment env of project in a policy.
func findTarget(pc *gate.Config, project, env string) (deploy.Target, error) {
	ts, err := targetsFor(pc, project)
	if err != nil {
		return deploy.Target{}, err
	}
	for _, t := range ts {
		if t.Env == env {
			return t, nil
		}
	}
	return deploy.Target{}, fmt.Errorf("the policy deploys no environment %q for project %q", env, project)
}

func onlyCommit(res *deploy.Result, sha string) error {
	if res.Decision == nil {
		return fmt.Errorf("commit %s is not pending: %s", sha, res.Message)
	}
	for _, v := range res.Decision.Verdicts {
		if strings.HasPrefix(v.SHA, strings.ToLower(sha)) && len(sha) >= 7 {
			res.Decision.Verdicts = []gate.Verdict{v}
			return nil
		}
	}
	return fmt.Errorf("commit %s is not among the %d commits decided (%s)", sha, len(res.Decision.Verdicts), res.Message)
}

// printDecision writes a result for people: the outcome, then each commit
// with its rules (all of them, or only the failing ones).
func printDecision(w io.Writer, r deploy.Result, allRules bool) {
	fmt.Fprintf(w, "%s %s -> deploy/%s (policy %s): %s: %s\n", r.Project, r.Branch, r.Env, r.Policy, r.Reason, r.Message)
	if r.Decision == nil {
		return
	}
	for _, v := range r.Decision.Verdicts {
		mark := "approved    "
		if !v.Approved {
			mark = "NOT APPROVED"
		}
		change := ""
		if v.Change != 0 {
			change = fmt.Sprintf(" (change %d)", v.Change)
		}
		fmt.Fprintf(w, "  %s %s %q%s\n", mark, v.SHA[:12], v.Subject, change)
		for _, rule := range v.Rules {
			if rule.Pass && !allRules {
				continue
			}
			m := "pass"
			if !rule.Pass {
				m = "FAIL"
			}
			fmt.Fprintf(w, "      %s %s: %s\n", m, rule.Name, rule.Detail)
		}
	}
}

// gerritPassword reads the Gerrit password file, if the config names one.
func gerritPassword(cfg *Config) (string, error) {
	if cfg.Gerrit.PasswordFile == "" {
		return "", nil
	}
	password, err := readSecret(cfg.Gerrit.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("gerrit.passwordFile: %w", err)
	}
	return password, nil
}

// gerritClient builds the REST client from the service config.
func gerritClient(cfg *Config, password string, logger *slog.Logger, more ...gerrit.Option) (*gerrit.Client, error) {
	opts := append([]gerrit.Option{gerrit.WithLogger(logger), gerrit.WithPageSize(cfg.Gerrit.PageSize)}, more...)
	if password != "" {
		opts = append(opts, gerrit.WithBasicAuth(cfg.Gerrit.Username, password))
	}
	return gerrit.New(cfg.Gerrit.URL, opts...)
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
