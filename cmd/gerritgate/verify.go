package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
)

// cmdVerify checks the audit trail of a clone (or of a URL it clones
// first) offline: audit.Verify does the work, this prints it.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "the service's armored public key (gerritgate key new printed it)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	recheck := fs.Bool("recheck", false, "decide every advance again from its recorded evidence")
	var where []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		where, rest = append(where, fs.Arg(0)), fs.Args()[1:]
	}
	if len(where) != 1 {
		return errors.New("usage: gerritgate verify <clone-dir-or-URL> --key pub.asc [--recheck] [--json]")
	}
	opts := audit.Options{Recheck: *recheck}
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		if opts.Keyring, err = audit.ReadKeyring(string(b)); err != nil {
			return fmt.Errorf("%s: %w", *keyFile, err)
		}
	}
	dir := where[0]
	if strings.Contains(dir, "://") {
		tmp, err := os.MkdirTemp("", "gerritgate-verify-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := mirrorClone(ctx, dir, filepath.Join(tmp, "repo.git")); err != nil {
			return err
		}
		dir = filepath.Join(tmp, "repo.git")
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	opts.Prefix = branchPrefix(repo)
	rep, err := audit.Verify(repo.Storer, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTimeline(stdout, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("verify: the audit trail does not hold (%d problems): %s", len(rep.Problems), strings.Join(rep.Problems, "; "))
	}
	return nil
}

// mirrorClone clones url bare into dir with C git. The URL is not
// repeated in errors: it may hold a token.
func mirrorClone(ctx context.Context, url, dir string) error {
	cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", "--mirror", "--", url, dir)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := strings.ReplaceAll(strings.TrimSpace(string(out)), url, "<url>")
		return fmt.Errorf("git clone of the given URL: %v: %s", err, msg)
	}
	return nil
}

// branchPrefix is where deploy/* and audit/* are: refs/remotes/origin/
// in a working clone (its local branches may be stale or the reader's
// own), refs/heads/ in a bare or mirror clone.
func branchPrefix(repo *git.Repository) string {
	iter, err := repo.References()
	if err != nil {
		return "refs/heads/"
	}
	remote := false
	iter.ForEach(func(r *plumbing.Reference) error {
		n := r.Name().String()
		remote = remote || strings.HasPrefix(n, "refs/remotes/origin/audit/") || strings.HasPrefix(n, "refs/remotes/origin/deploy/")
		return nil
	})
	if remote {
		return "refs/remotes/origin/"
	}
	return "refs/heads/"
}

func printTimeline(w io.Writer, rep *audit.Report) {
	for _, env := range rep.Environments {
		fmt.Fprintf(w, "environment %s: deploy/%s at %s\n", env.Name, env.Name, orNone(env.Deployed))
		for _, e := range env.Timeline {
			from := "(nothing)"
			if e.From != "" {
				from = e.From[:min(12, len(e.From))]
			}
			fmt.Fprintf(w, "  %s  %-8s %s -> %s", e.Time.UTC().Format("2006-01-02T15:04:05Z"), e.Kind, from, e.To[:min(12, len(e.To))])
			if len(e.Changes) > 0 {
				fmt.Fprintf(w, "  changes %s", strings.Trim(fmt.Sprint(e.Changes), "[]"))
			}
			if e.By != "" {
				fmt.Fprintf(w, "  by %s", e.By)
			}
			if e.Ticket != "" {
				fmt.Fprintf(w, "  ticket %s", e.Ticket)
			}
			fmt.Fprintf(w, "  policy %s", e.Policy)
			if e.SignedBy != "" {
				fmt.Fprintf(w, "  signed %s", e.SignedBy[max(0, len(e.SignedBy)-16):])
			}
			if e.Rechecked {
				fmt.Fprint(w, "  rechecked")
			}
			fmt.Fprintln(w)
		}
	}
	if rep.OK() {
		fmt.Fprintln(w, "ok: every movement is recorded once, signed and chained")
		return
	}
	fmt.Fprintln(w, "problems:")
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "  "+p)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// cmdKey makes the service's audit signing key.
func cmdKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write the armored private key to (required; not overwritten)")
	name := fs.String("name", "gerritgate", "the key's user id name")
	email := fs.String("email", "gerritgate@localhost", "the key's user id email")
	if len(args) == 0 || args[0] != "new" {
		return usageError(args, stderr, "usage: gerritgate key new --out gate-key.asc")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("key new needs --out")
	}
	priv, pub, err := audit.NewKey(*name, *email)
	if err != nil {
		return err
	}
	if err := writeNewFile(*out, []byte(priv)); err != nil {
		return err
	}
	fmt.Fprint(stdout, pub)
	return nil
}

// writeNewFile writes a secret to a file that must not exist yet,
// readable by its owner only.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// auditSigner loads the configured signing key; nil without one.
func auditSigner(cfg *Config) (*audit.Signer, error) {
	if cfg.Audit.SigningKey == "" {
		return nil, nil
	}
	fi, err := os.Stat(cfg.Audit.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("audit.signingKey: %w", err)
	}
	if fi.Mode().Perm()&0o006 != 0 {
		return nil, fmt.Errorf("audit.signingKey: %s is readable or writable by everyone", cfg.Audit.SigningKey)
	}
	return audit.LoadSigner(cfg.Audit.SigningKey)
}
