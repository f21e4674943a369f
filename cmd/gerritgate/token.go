package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/internal/projectglob"
	"github.com/gerritgate/gerritgate/storage"
)

// cmdToken makes a fresh random token for a reader: the token is printed
// once, for the reader; only its hash goes into the access file.
func cmdToken(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return usageError(args, stderr, "usage: gerritgate token new --name READER [--projects GLOB,...] [--environments ENV,...]")
	}
	fs := flag.NewFlagSet("token new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the reader the token is for (required)")
	projectList := fs.String("projects", "", "comma-separated projects (globs) the reader may read; without it the snippet has an empty list to edit")
	envList := fs.String("environments", "", "comma-separated environments the reader may read; without it, every one")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := access.ValidReaderName(*name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	projects := "[]  # EDIT: the projects it may read, e.g. [\"platform/*\"]; empty grants nothing"
	if *projectList != "" {
		var quoted []string
		for _, p := range strings.Split(*projectList, ",") {
			p = strings.TrimSpace(p)
			if err := projectglob.Validate(p); err != nil {
				return fmt.Errorf("--projects %q: %w", p, err)
			}
			quoted = append(quoted, strconv.Quote(p))
		}
		projects = "[" + strings.Join(quoted, ", ") + "]"
	}
	envs := ""
	if *envList != "" {
		var names []string
		for _, e := range strings.Split(*envList, ",") {
			e = strings.TrimSpace(e)
			if err := storage.ValidateEnv(e); err != nil {
				return fmt.Errorf("--environments %q: %w", e, err)
			}
			names = append(names, e)
		}
		envs = "\n    environments: [" + strings.Join(names, ", ") + "]"
	}
	token, hashed, err := access.NewToken()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `token for %s (shown once; give it to the reader as its HTTP password or bearer token):
%s

add its hash to access.yaml:
readers:
  - name: %s
    projects: %s%s
    tokens: ["%s"]
`, *name, token, *name, projects, envs, hashed)
	return nil
}
