package gate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gerritgate/gerritgate/internal/projectglob"
)

// ErrAmbiguous is returned by Match when two different project patterns
// give a project the same environment and no literal entry settles it.
var ErrAmbiguous = errors.New("two project patterns define the same environment")

// IsPattern reports whether a Repo.Project is a project pattern
// (internal/projectglob) rather than a project name.
func IsPattern(project string) bool { return projectglob.IsPattern(project) }

// Match returns the entries of the policy file that apply to project, as
// copies with Project set to project and Pattern to the entry's project
// pattern, in file order.
//
// The unit of precedence is the environment, since one deploy/<env> ref can
// only follow one branch under one policy: for each environment, an entry
// naming the project literally wins over patterns; otherwise a single
// matching pattern gives it. Two different patterns giving the project the
// same environment is an error wrapping ErrAmbiguous, and then nothing is
// returned for the project: the gate does not guess which policy was meant.
// (Two entries with the same pattern and environment are refused by
// ParsePolicy already.) A project no entry matches gets nil.
func (c *Config) Match(project string) ([]Repo, error) {
	idx := c.index
	if idx == nil || idx.n != len(c.Repos) {
		idx = indexRepos(c.Repos) // a Config not made by ParsePolicy
	}
	candidates := idx.candidates(project)
	literal := map[string]int{} // environment -> entry
	globs := map[string][]int{} // environment -> entries
	for _, i := range candidates {
		r := c.Repos[i]
		if IsPattern(r.Project) {
			for _, e := range r.Environments {
				globs[e.Name] = append(globs[e.Name], i)
			}
			continue
		}
		for _, e := range r.Environments {
			literal[e.Name] = i
		}
	}
	winner := make(map[string]int, len(literal)+len(globs))
	for env, i := range literal {
		winner[env] = i
	}
	var ambiguous []string
	for _, env := range sortedKeys(globs) {
		if _, ok := literal[env]; ok {
			continue
		}
		entries := globs[env]
		if len(entries) > 1 {
			var pats []string
			for _, i := range entries {
				pats = append(pats, fmt.Sprintf("%s (branch %s)", c.Repos[i].Project, c.Repos[i].Branch))
			}
			sort.Strings(pats)
			ambiguous = append(ambiguous, fmt.Sprintf("deploy/%s by %s", env, strings.Join(pats, " and ")))
			continue
		}
		winner[env] = entries[0]
	}
	if len(ambiguous) > 0 {
		return nil, fmt.Errorf("project %s: %w: %s; add an entry for %s itself", project, ErrAmbiguous, strings.Join(ambiguous, "; "), project)
	}
	var out []Repo
	for _, i := range candidates {
		r := c.Repos[i]
		var envs []Environment
		for _, e := range r.Environments {
			if w, ok := winner[e.Name]; ok && w == i {
				envs = append(envs, e)
			}
		}
		if len(envs) > 0 {
			out = append(out, Repo{Project: project, Branch: r.Branch, AcceptFrom: r.AcceptFrom, Environments: envs, Pattern: r.Project})
		}
	}
	return out, nil
}

// repoIndex finds the entries of Config.Repos that may apply to a project
// without walking them all: a poll asks Match for every project, so a
// policy naming a thousand projects literally made each poll walk a
// million entries.
type repoIndex struct {
	n        int              // len(Repos) when made
	literal  map[string][]int // project -> entries naming it, in file order
	patterns []int            // entries with a project pattern, in file order
	pattern  []string         // their patterns
}

func indexRepos(repos []Repo) *repoIndex {
	idx := &repoIndex{n: len(repos), literal: map[string][]int{}}
	for i, r := range repos {
		if IsPattern(r.Project) {
			idx.patterns = append(idx.patterns, i)
			idx.pattern = append(idx.pattern, r.Project)
		} else {
			idx.literal[r.Project] = append(idx.literal[r.Project], i)
		}
	}
	return idx
}

// candidates are the entries naming project and those whose pattern
// matches it, in file order.
func (idx *repoIndex) candidates(project string) []int {
	lit := idx.literal[project]
	out := make([]int, 0, len(lit)+len(idx.patterns))
	for k, i := range idx.patterns {
		for len(lit) > 0 && lit[0] < i {
			out, lit = append(out, lit[0]), lit[1:]
		}
		if projectglob.Match(idx.pattern[k], project) {
			out = append(out, i)
		}
	}
	return append(out, lit...)
}

// Projects lists the projects the policy file names literally, once each,
// in file order: those can be mirrored without asking Gerrit what exists.
func (c *Config) Projects() []string {
	return c.entries(false)
}

// Patterns lists the project patterns of the policy file, once each, in
// file order: the caller lists Gerrit's projects, keeps those a pattern
// matches, and asks Match for each.
func (c *Config) Patterns() []string {
	return c.entries(true)
}

func (c *Config) entries(patterns bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range c.Repos {
		if IsPattern(r.Project) == patterns && !seen[r.Project] {
			seen[r.Project] = true
			out = append(out, r.Project)
		}
	}
	return out
}
