package gate

import (
	"fmt"
	"path"
	"strings"

	"github.com/gerritgate/gerritgate/internal/projectglob"
)

// matchPath reports whether the repository path name matches pattern: the
// segments between slashes match as in path.Match, and a segment that is
// exactly ** matches any number of segments, none included (infra/**
// matches infra/a and infra/a/b/c). The pattern must have passed
// validPathGlob.
func matchPath(pattern, name string) bool { return projectglob.MatchPath(pattern, name) }

// validPathGlob checks an owners path pattern.
func validPathGlob(p string) error {
	if p == "" {
		return fmt.Errorf("empty pattern")
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("bad pattern %q: paths are relative to the repository root, without a leading /", p)
	}
	if strings.HasSuffix(p, "/") {
		return fmt.Errorf("bad pattern %q: to match everything under a directory write %s**", p, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("bad character %q in pattern %q", r, p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("bad pattern %q: empty path segment", p)
		case seg == "." || seg == "..":
			return fmt.Errorf("bad pattern %q: %s segment", p, seg)
		case seg == "**":
			continue
		case strings.Contains(seg, "**"):
			return fmt.Errorf("bad pattern %q: ** must be a whole path segment (a/**/b), use * within a segment", p)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("bad pattern %q: %v", p, err)
		}
	}
	return nil
}
