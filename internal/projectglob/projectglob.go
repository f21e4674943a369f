// Package projectglob is the one definition of a Gerrit project pattern,
// used by the policy file (which projects a rule gates) and by the access
// list (which projects a reader may read).
//
// A pattern is slash-separated segments. A segment matches one segment of
// the project name as in path.Match: * and ? and [...] never cross a
// slash. A segment that is exactly ** matches any number of segments, none
// included, except that a trailing ** needs at least one:
//
//	pattern      matches
//	*            top-level projects only (fleet, not platform/fleet)
//	platform/*   projects directly under platform/
//	platform/**  every project below platform/ (not platform itself)
//	**           every project
//	a/**/b       a/b, a/x/b, a/x/y/b
//
// So * never grants or gates more than one level: a pattern reaches deeper
// only where it says ** (fail closed: a new nested project is not covered
// by accident). MatchPath applies the same segments to file paths in a
// repository (the policy's owners rules).
package projectglob

import (
	"fmt"
	"path"
	"strings"
)

// SyntaxError is an invalid pattern and why.
type SyntaxError struct {
	Pattern string
	Reason  string
}

func (e *SyntaxError) Error() string {
	if e.Pattern == "" {
		return "empty project pattern"
	}
	kind := "project"
	if IsPattern(e.Pattern) {
		kind = "pattern"
	}
	return fmt.Sprintf("bad %s %q: %s", kind, e.Pattern, e.Reason)
}

// IsPattern reports whether p has glob characters, as opposed to naming
// one project.
func IsPattern(p string) bool { return strings.ContainsAny(p, `*?[`) }

// Validate checks a pattern (or a plain project name): not empty, no
// leading or trailing slash, no empty, "." or ".." segment, no control
// character, space or backslash, ** only as a whole segment, and every
// segment valid for path.Match.
func Validate(p string) error {
	bad := func(format string, args ...any) error {
		return &SyntaxError{Pattern: p, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case p == "":
		return bad("empty")
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		return bad("no leading or trailing slash")
	}
	for _, r := range p {
		if r < 0x21 || r == 0x7f || r == '\\' {
			return bad("character %q not allowed", r)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad("%s segment", seg)
		case seg == "**":
			continue
		case strings.Contains(seg, "**"):
			return bad("** must be a whole path segment (a/**/b); * matches within one segment")
		}
		if _, err := path.Match(seg, ""); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// Match reports whether project matches pattern, which must have passed
// Validate (an invalid pattern matches nothing).
func Match(pattern, project string) bool {
	if Validate(pattern) != nil || project == "" {
		return false
	}
	return match(pattern, project, true)
}

// MatchPath is the same glob over file paths in a repository (the
// policy's owners rules), where a trailing ** also matches no segment:
// infra/** matches infra/a, infra/a/b/c and infra. The caller validates
// the pattern.
func MatchPath(pattern, name string) bool { return match(pattern, name, false) }

// match: pattern segments against name segments; a segment ** matches any
// number of segments, and at least one when it is the last and
// trailingNeedsOne.
func match(pattern, name string, trailingNeedsOne bool) bool {
	ps := strings.Split(pattern, "/")
	ns := strings.Split(name, "/")
	// m[i][j]: ps[i:] matches ns[j:]. Quadratic, never exponential,
	// whatever the number of **.
	m := make([][]bool, len(ps)+1)
	for i := range m {
		m[i] = make([]bool, len(ns)+1)
	}
	m[len(ps)][len(ns)] = true
	for i := len(ps) - 1; i >= 0; i-- {
		for j := len(ns); j >= 0; j-- {
			if ps[i] == "**" {
				m[i][j] = m[i+1][j] || (j < len(ns) && m[i][j+1])
				if i == len(ps)-1 && trailingNeedsOne {
					m[i][j] = j < len(ns)
				}
				continue
			}
			if j < len(ns) && m[i+1][j+1] {
				ok, _ := path.Match(ps[i], ns[j])
				m[i][j] = ok
			}
		}
	}
	return m[0][0]
}
