package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gerritgate/gerritgate/access"
)

// cmdToken makes a fresh random token for a reader: the token is printed
// once, for the reader; only its hash goes into the access file.
func cmdToken(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return errors.New("usage: gerritgate token new --name READER")
	}
	fs := flag.NewFlagSet("token new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the reader the token is for (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := access.ValidReaderName(*name); err != nil {
		return fmt.Errorf("--name: %w", err)
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
    tokens: ["%s"]
`, *name, token, *name, hashed)
	return nil
}
