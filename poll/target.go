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
		for _, e := range promotionOrder(r.Environments) {
			out = append(out, deploy.Target{
				Project: project, Branch: r.Branch, Env: e.Name,
				Policy: pc.Policies[e.Policy], Baseline: e.Baseline, AcceptFrom: r.AcceptFrom, Notify: e.Notify,
				After: e.After, Soak: e.Soak, Schedule: e.Schedule, PolicySource: pc.Source,
			})
		}
	}
	return out, nil
}

// promotionOrder orders envs so that each comes after the one it follows
// (staging before prod): a poll then moves prod on what staging holds
// after this poll's advance, not the last one's. Otherwise the policy's
// order is kept. The policy has no after cycles (gate.ParsePolicy).
func promotionOrder(envs []gate.Environment) []gate.Environment {
	out := make([]gate.Environment, 0, len(envs))
	placed := map[string]bool{}
	var place func(e gate.Environment)
	place = func(e gate.Environment) {
		if placed[e.Name] {
			return
		}
		placed[e.Name] = true // before the recursion: a cycle cannot loop
		for _, a := range envs {
			if a.Name == e.After {
				place(a)
			}
		}
		out = append(out, e)
	}
	for _, e := range envs {
		place(e)
	}
	return out
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
