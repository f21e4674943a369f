package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/poll"
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
	if err := checkCommitPrefix(*commit); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	edit := *policyPath != "" && *policyPath != cfg.Policy
	var pc *gate.Config
	if edit {
		if *last == 0 {
			*last = 20
		}
		pc, err = gate.LoadPolicy(*policyPath)
	} else {
		pc, err = loadPolicyInForce(cfg)
	}
	if err != nil {
		return err
	}
	t, err := poll.FindTarget(pc, *project, *env)
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
	d := deploy.New(store, client)
	res, err := d.Explain(ctx, t, *last)
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
	if !edit {
		return nil
	}
	// A dry run of an edit: decide the same commits under the policy in
	// force and say which verdicts the edit turns.
	var before map[string]bool
	if now, err := loadPolicyInForce(cfg); err != nil {
		fmt.Fprintf(stdout, "the edit's effect is unknown: the policy in force does not load: %v\n", err)
		return nil
	} else if t0, err := poll.FindTarget(now, *project, *env); err == nil {
		was, err := d.Explain(ctx, t0, *last)
		if err != nil {
			return fmt.Errorf("deciding under the policy in force: %w", err)
		}
		before = verdicts(was)
	}
	printEdit(stdout, policyName(cfg), res, before)
	return nil
}

// verdicts maps each decided commit to whether it was approved.
func verdicts(r deploy.Result) map[string]bool {
	m := map[string]bool{}
	if r.Decision != nil {
		for _, v := range r.Decision.Verdicts {
			m[v.SHA] = v.Approved
		}
	}
	return m
}

// printEdit says, per commit of after, how its verdict under the edited
// policy differs from before's (the policy in force; nil when it does not
// gate the environment).
func printEdit(w io.Writer, inForce string, after deploy.Result, before map[string]bool) {
	word := map[bool]string{true: "approved", false: "NOT APPROVED"}
	if before == nil {
		fmt.Fprintf(w, "what the edit changes: %s does not gate deploy/%s now; the edit starts gating it\n", inForce, after.Env)
		return
	}
	fmt.Fprintf(w, "what the edit changes (verdict under %s -> under the edit):\n", inForce)
	same := 0
	if after.Decision != nil {
		for _, v := range after.Decision.Verdicts {
			was, known := before[v.SHA]
			switch {
			case !known:
				fmt.Fprintf(w, "  %s %q: not decided now -> %s\n", v.SHA[:12], v.Subject, word[v.Approved])
			case was != v.Approved:
				fmt.Fprintf(w, "  %s %q: %s -> %s\n", v.SHA[:12], v.Subject, word[was], word[v.Approved])
			default:
				same++
			}
		}
	}
	fmt.Fprintf(w, "  %d commits keep their verdict\n", same)
}

// minPrefix is the shortest --commit prefix taken, git's default
// abbreviation.
const minPrefix = 7

// checkCommitPrefix refuses a --commit that cannot name one commit, before
// anything is asked of Gerrit.
func checkCommitPrefix(sha string) error {
	switch {
	case sha == "":
		return nil
	case len(sha) < minPrefix:
		return fmt.Errorf("--commit %s is too short: give %d or more hex digits of the commit", sha, minPrefix)
	case len(sha) > 40 || strings.Trim(strings.ToLower(sha), "0123456789abcdef") != "":
		return fmt.Errorf("--commit %q is not a commit id (hex digits, %d to 40 of them)", sha, minPrefix)
	}
	return nil
}

func onlyCommit(res *deploy.Result, sha string) error {
	if res.Decision == nil {
		return fmt.Errorf("commit %s is not pending: %s", sha, res.Message)
	}
	for _, v := range res.Decision.Verdicts {
		if strings.HasPrefix(v.SHA, strings.ToLower(sha)) && len(sha) >= minPrefix {
			res.Decision.Verdicts = []gate.Verdict{v}
			return nil
		}
	}
	return fmt.Errorf("commit %s is not among the %d commits decided (%s)", sha, len(res.Decision.Verdicts), res.Message)
}
