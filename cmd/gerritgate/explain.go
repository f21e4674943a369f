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
