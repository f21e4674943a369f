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
		list, err := yamlList("--projects", *projectList, projectglob.Validate)
		if err != nil {
			return err
		}
		projects = list
	}
	envs := ""
	if *envList != "" {
		list, err := yamlList("--environments", *envList, storage.ValidateEnv)
		if err != nil {
			return err
		}
		envs = "\n    environments: " + list
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

// yamlList checks each comma-separated item of a flag's value and returns
// them as a YAML flow list of quoted strings.
func yamlList(flagName, value string, check func(string) error) (string, error) {
	var quoted []string
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if err := check(item); err != nil {
			return "", fmt.Errorf("%s %q: %w", flagName, item, err)
		}
		quoted = append(quoted, strconv.Quote(item))
	}
	return "[" + strings.Join(quoted, ", ") + "]", nil
}
