package poll

import (
	"fmt"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
)

// Targets lists the environments the policy gives one project (a literal
// entry or a matching pattern).
func Targets(pc *gate.Config, project string) ([]deploy.Target, error) {
	repos, err := pc.Match(project)
	if err != nil {
		return nil, err
	}
	var out []deploy.Target
	for _, r := range repos {
		for _, e := range r.Environments {
			out = append(out, deploy.Target{
				Project: project, Branch: r.Branch, Env: e.Name,
				Policy: pc.Policies[e.Policy], Baseline: e.Baseline, AcceptFrom: r.AcceptFrom, Notify: e.Notify,
			})
		}
	}
	return out, nil
}

// FindTarget finds the environment env of project in a policy.
func FindTarget(pc *gate.Config, project, env string) (deploy.Target, error) {
	ts, err := Targets(pc, project)
	if err != nil {
		return deploy.Target{}, err
	}
	for _, t := range ts {
		if t.Env == env {
			return t, nil
		}
	}
	return deploy.Target{}, fmt.Errorf("the policy deploys no environment %q for project %q", env, project)
}
