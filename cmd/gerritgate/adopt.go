package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/poll"
	"github.com/gerritgate/gerritgate/storage"
)

// cmdAdopt moves deploy/<env> to a commit an operator names, past the
// policy, and records the act.
func cmdAdopt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return operatorCommand(ctx, deploy.ActionAdopt, args, stdout, stderr)
}

// cmdHold pins deploy/<env> at its commit until cmdRelease.
func cmdHold(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return operatorCommand(ctx, deploy.ActionHold, args, stdout, stderr)
}

// cmdRelease ends a hold.
func cmdRelease(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return operatorCommand(ctx, deploy.ActionRelease, args, stdout, stderr)
}

// operatorCommand runs adopt, hold or release (action). Without a running
// service it acts itself; beside one (which owns the data directory) it
// leaves a request, which the service notices within a second and applies
// in a poll it starts for it, and waits for the answer.
func operatorCommand(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	of := operatorFlags(fs)
	var commit *string
	if action == deploy.ActionAdopt {
		commit = fs.String("commit", "", "the full SHA deploy/<env> moves to (required)")
	}
	ticket := fs.String("ticket", "", "the ticket the act belongs to, recorded with it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *of.project == "" || *of.env == "" || *of.reason == "" || (commit != nil && *commit == "") {
		if commit != nil {
			return errors.New("adopt needs --project, --env, --commit and --reason")
		}
		return fmt.Errorf("%s needs --project, --env and --reason", action)
	}
	a := of.request(action)
	a.Ticket = *ticket
	if commit != nil {
		a.Commit = *commit
	}
	return submit(ctx, *of.config, a, *of.wait, stdout, stderr)
}

// opFlags are the flags every operator command has.
type opFlags struct {
	config, project, env, reason, name *string
	wait                               *time.Duration
}

func operatorFlags(fs *flag.FlagSet) opFlags {
	return opFlags{
		config:  fs.String("config", "gerritgate.yaml", "service config file"),
		project: fs.String("project", "", "Gerrit project (required)"),
		env:     fs.String("env", "", "environment (required)"),
		reason:  fs.String("reason", "", "why, recorded with the act (required)"),
		name:    fs.String("operator", "", "your name, recorded beside the OS user the command runs as"),
		wait:    fs.Duration("wait", 2*time.Minute, "how long to wait for a running service to apply the request"),
	}
}

// request is the operator's request of action, stamped now.
func (f opFlags) request(action string) deploy.Adoption {
	return deploy.Adoption{Project: *f.project, Env: *f.env, Reason: *f.reason, Name: *f.name, By: operator(), At: time.Now().UTC(), Action: action}
}

// submit applies an operator's request. Without a running service it
// acts itself; beside one (which owns the data directory) it leaves a
// request the service notices within a second and applies in a poll it starts for it, and waits for
// the answer.
func submit(ctx context.Context, configPath string, a deploy.Adoption, wait time.Duration, stdout, stderr io.Writer) error {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return err
	}
	pc, err := loadPolicyInForce(cfg)
	if err != nil {
		return err
	}
	t, err := poll.FindTarget(pc, a.Project, a.Env)
	if err != nil {
		return err
	}

	store, err := storage.Open(cfg.DataDir)
	if err == nil {
		defer store.Close()
		signer, err := auditSigner(cfg)
		if err != nil {
			return err
		}
		d := deploy.New(store, nil, deploy.WithLogger(newLogger(stderr, cfg.LogJSON)), deploy.WithSigner(signer), deploy.WithVersion(version))
		return printOperated(stdout, d.Operate(ctx, t, a))
	}
	if !errors.Is(err, storage.ErrLocked) {
		return err
	}
	id, err := deploy.RequestAdoption(cfg.DataDir, a)
	if err != nil {
		return fmt.Errorf("leave the request for the running service: %w", err)
	}
	fmt.Fprintf(stderr, "the service owns %s: request %s left for it\n", cfg.DataDir, id)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		res, done, err := deploy.AdoptionResult(cfg.DataDir, id)
		if err != nil {
			return err
		}
		if done {
			return printOperated(stdout, res)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the service has not answered request %s within %s; it applies it in its next poll", id, wait)
}

func printOperated(w io.Writer, res deploy.Result) error {
	if res.Reason == deploy.Failed {
		return errors.New(res.Message)
	}
	fmt.Fprintln(w, res.Message)
	return nil
}

// operator names who runs the command, for the record.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
