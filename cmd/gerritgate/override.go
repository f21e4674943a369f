package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
)

// cmdOverride moves deploy/<env> once past its rules (break-glass) and
// leaves a debt; cmdRewind moves it to a commit that does not descend from
// the deployed one. Both are recorded with who, why and the ticket.
func cmdOverride(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return breakGlassCommand(ctx, deploy.ActionOverride, args, stdout, stderr)
}

func cmdRewind(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return breakGlassCommand(ctx, deploy.ActionRewind, args, stdout, stderr)
}

func breakGlassCommand(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	of := operatorFlags(fs)
	to := fs.String("to", "", "the full SHA of the upstream branch deploy/<env> moves to (required)")
	ticket := fs.String("ticket", "", "the incident or change ticket, recorded with the act (required)")
	var expires *time.Duration
	var rewind *bool
	if action == deploy.ActionOverride {
		expires = fs.Duration("expires", 0, fmt.Sprintf("how long the debt may stay unpaid before it is overdue (required, at most %s)", deploy.MaxOverrideExpiry))
		rewind = fs.Bool("rewind", false, "allow a commit that does not descend from the deployed one")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", action, fs.Arg(0))
	}
	if *of.project == "" || *of.env == "" || *to == "" || *of.reason == "" || *ticket == "" || (expires != nil && *expires == 0) {
		if expires != nil {
			return fmt.Errorf("override needs --project, --env, --to, --reason, --ticket and --expires")
		}
		return fmt.Errorf("rewind needs --project, --env, --to, --reason and --ticket")
	}
	a := of.request(action)
	a.Commit, a.Ticket = *to, *ticket
	if expires != nil {
		if *expires < 0 || *expires > deploy.MaxOverrideExpiry {
			return fmt.Errorf("--expires %s: must be more than 0 and at most %s", *expires, deploy.MaxOverrideExpiry)
		}
		a.Expires, a.Rewind = a.At.Add(*expires), *rewind
	}
	return submit(ctx, *of.config, a, *of.wait, stdout, stderr)
}
