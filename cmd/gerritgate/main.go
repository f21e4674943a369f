// Command gerritgate mirrors Gerrit projects and advances deploy/<env>
// branches on its own read-only git server only when an approval policy is
// met. See README.md.
//
// This package is wiring and commands, one file per command (serve.go,
// demo.go, check.go, explain.go, adopt.go with hold and release, override.go
// with rewind, token.go,
// verify.go with key, version.go): the config, logging,
// metrics, listeners, signals and the policy reload live here; the poll
// loop is package poll, the status page and API package status. It
// decides nothing itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	// The policy's timezones must load where the host has no zoneinfo
	// (a slim or distroless image): the binary carries its own, used only
	// when the system has none.
	_ "time/tzdata"
)

const usage = `gerritgate: a gated mirror between Gerrit and Flux

Usage:
  gerritgate serve --config gerritgate.yaml   run the service
  gerritgate demo [--listen 127.0.0.1:8080]   run it against a simulated Gerrit
  gerritgate check policy.yaml                validate a policy file
  gerritgate explain --config gerritgate.yaml --project P --env E [--commit SHA] [--policy new.yaml] [--last N] [--json]
                                              why each pending commit is (not) deployable
  gerritgate adopt --config gerritgate.yaml --project P --env E --commit SHA --reason "..."
                                              move deploy/E to a commit the policy did not approve, recorded
  gerritgate hold --config gerritgate.yaml --project P --env E --reason "..."
                                              pin deploy/E at its commit until release, recorded
  gerritgate release --config gerritgate.yaml --project P --env E --reason "..."
                                              end a hold, recorded
  gerritgate override --config gerritgate.yaml --project P --env E --to SHA --reason "..." --ticket T --expires 2h [--rewind]
                                              move deploy/E once past its rules; it owes approvals until given
  gerritgate rewind --config gerritgate.yaml --project P --env E --to SHA --reason "..." --ticket T
                                              move deploy/E back, or onto rewritten upstream history, recorded
                                              (adopt, hold, release, override, rewind: [--operator NAME]; the
                                              first three take [--ticket T] too)
  gerritgate verify <clone-dir-or-URL> --key pub.asc [--recheck] [--json]
                                              check the audit trail offline
  gerritgate key new --out gate-key.asc [--name N] [--email E]
                                              make the audit signing key; prints the public key
  gerritgate token new --name READER [--projects a,b/**] [--environments staging]
                                              make a reader token; prints it once and the sha256 line for access.yaml
  gerritgate version                          print the version and the commit it was built from
`

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return // a command's --help printed its usage: not a failure
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gerritgate:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(ctx, args[1:], stdout, stderr)
	case "adopt":
		return cmdAdopt(ctx, args[1:], stdout, stderr)
	case "hold":
		return cmdHold(ctx, args[1:], stdout, stderr)
	case "release":
		return cmdRelease(ctx, args[1:], stdout, stderr)
	case "override":
		return cmdOverride(ctx, args[1:], stdout, stderr)
	case "rewind":
		return cmdRewind(ctx, args[1:], stdout, stderr)
	case "verify":
		return cmdVerify(ctx, args[1:], stdout, stderr)
	case "key":
		return cmdKey(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout)
	case "version":
		return cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func newLogger(w io.Writer, json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
