package gate

import (
	"errors"
	"fmt"
	"slices"
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
	literal := map[string]int{} // environment -> entry
	globs := map[string][]int{} // environment -> entries
	for i, r := range c.Repos {
		if IsPattern(r.Project) {
			if !projectglob.Match(r.Project, project) {
				continue
			}
			for _, e := range r.Environments {
				globs[e.Name] = append(globs[e.Name], i)
			}
			continue
		}
		if r.Project == project {
			for _, e := range r.Environments {
				literal[e.Name] = i
			}
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
	for i, r := range c.Repos {
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
	for _, r := range c.Repos {
		if IsPattern(r.Project) == patterns && !slices.Contains(out, r.Project) {
			out = append(out, r.Project)
		}
	}
	return out
}
