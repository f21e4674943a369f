package gitssh

import (
	"errors"
	"regexp"
	"strings"
)

// The git services a client may ask for by name. Only upload-pack is
// served; the others are recognised so the refusal can say why.
const (
	uploadPack    = "git-upload-pack"
	receivePack   = "git-receive-pack"
	uploadArchive = "git-upload-archive"
)

var (
	errUnknownCommand = errors.New("unknown command")
	errMalformed      = errors.New("malformed command")
	errBadPath        = errors.New("bad repository path")
)

// commandForms are the exact prefixes git sends: "git-upload-pack 'path'"
// (C git, go-git, JGit) and the "git upload-pack" spelling of newer
// clients and people typing by hand.
var commandForms = []struct{ prefix, verb string }{
	{"git-upload-pack ", uploadPack},
	{"git upload-pack ", uploadPack},
	{"git-receive-pack ", receivePack},
	{"git receive-pack ", receivePack},
	{"git-upload-archive ", uploadArchive},
	{"git upload-archive ", uploadArchive},
}

// splitCommand recognises the service of an exec request and returns its
// single argument, unquoted. It never interprets anything the way a shell
// would: the argument is one word, optionally in the single quotes git
// puts around it, with no quote inside.
func splitCommand(raw string) (verb, arg string, err error) {
	for _, f := range commandForms {
		if rest, ok := strings.CutPrefix(raw, f.prefix); ok {
			verb = f.verb
			arg, err = unquote(rest)
			return verb, arg, err
		}
	}
	for _, f := range commandForms {
		if raw == strings.TrimSpace(f.prefix) {
			return f.verb, "", errMalformed
		}
	}
	return "", "", errUnknownCommand
}

func unquote(s string) (string, error) {
	if strings.HasPrefix(s, "'") {
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return "", errMalformed
		}
		s = s[1 : len(s)-1]
		if strings.Contains(s, "'") { // 'a' 'b', or git's '\'' escape: no name needs it
			return "", errMalformed
		}
		return s, nil
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n'\"\\") {
		return "", errMalformed
	}
	return s, nil
}

var pathRE = regexp.MustCompile(`^[A-Za-z0-9/._+@-]+$`)

// projectFromPath turns the path of an ssh URL (ssh://host/platform/fleet.git,
// host:platform/fleet) into a project name: one leading slash and a
// ".git" suffix are dropped. Nothing is percent-decoded and nothing is
// resolved against a directory; any ".", ".." or empty segment, and any
// character outside the project-name alphabet, is refused.
func projectFromPath(p string) (string, error) {
	if !pathRE.MatchString(p) {
		return "", errBadPath
	}
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, ".git")
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errBadPath
		}
	}
	return p, nil
}
