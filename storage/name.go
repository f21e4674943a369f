package storage

import (
	"fmt"
	"strings"
)

// NameError reports a project or ref name that storage refuses.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string { return fmt.Sprintf("invalid name %q: %s", e.Name, e.Reason) }

// ValidateProject checks that a Gerrit project name is safe to use as a
// path below the data directory: slash-separated segments of letters, digits
// and ._-+@, no empty, "." or ".." segment, no segment ending in ".git" (it
// would nest one repository in another), nothing absolute.
func ValidateProject(name string) error {
	bad := func(reason string) error { return &NameError{Name: name, Reason: reason} }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > 1024:
		return bad("longer than 1024 bytes")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	}
	for _, r := range name {
		ok := r == '/' || r == '.' || r == '_' || r == '-' || r == '+' || r == '@' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return bad(fmt.Sprintf("character %q not allowed", r))
		}
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad("path segment " + seg)
		case strings.HasPrefix(seg, "."):
			return bad("path segment starts with a dot")
		case strings.HasSuffix(seg, ".git"):
			return bad("path segment ends in .git")
		case strings.HasSuffix(seg, ".lock"):
			return bad("path segment ends in .lock")
		}
	}
	return nil
}

// ValidateRef checks a full ref name by the rules of git check-ref-format
// that matter for a file name: under refs/, no "..", no control characters,
// no component starting with a dot or ending in ".lock".
func ValidateRef(name string) error {
	bad := func(reason string) error { return &NameError{Name: name, Reason: reason} }
	if !strings.HasPrefix(name, "refs/") {
		return bad("not under refs/")
	}
	if strings.Contains(name, "..") || strings.Contains(name, "@{") || strings.HasSuffix(name, "/") {
		return bad("not a valid ref name")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad(fmt.Sprintf("character %q not allowed", r))
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".lock") {
			return bad("invalid component " + fmt.Sprintf("%q", seg))
		}
	}
	return nil
}
