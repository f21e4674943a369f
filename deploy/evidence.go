package deploy

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// decide evaluates the commits between base (zero: from the root) and
// head. When more than maxRange commits are pending it decides only a
// window: the commits up to a first-parent ancestor of head (window) that
// brings at most maxRange. diverged is true when head does not descend
// from base.
func (d *Deployer) decide(ctx context.Context, t Target, up *storage.Repo, base, head plumbing.Hash) (dec *gate.Decision, rng gate.Range, window plumbing.Hash, diverged bool, err error) {
	commits, window, reachesBase, err := d.pendingWindow(ctx, t.Project, up, base, head)
	if err != nil {
		return nil, rng, window, false, err
	}
	if !base.IsZero() && !reachesBase {
		return nil, rng, window, true, nil
	}
	dec, rng, err = d.evaluate(ctx, t, up, base, window, commits)
	return dec, rng, window, false, err
}

// evaluate gathers what Gerrit and the repository say about commits (the
// commits between base and head) and lets the policy decide on them.
func (d *Deployer) evaluate(ctx context.Context, t Target, up *storage.Repo, base, head plumbing.Hash, commits []gate.Commit) (*gate.Decision, gate.Range, error) {
	shas := make([]string, len(commits))
	for i, c := range commits {
		shas[i] = c.SHA
	}
	var rng gate.Range
	changes, err := d.changesForCommits(ctx, t.Project, t.Branch, shas)
	if err != nil {
		return nil, rng, fmt.Errorf("ask Gerrit about %d pending commits: %w", len(shas), err)
	}
	rng = gate.Range{
		Project: t.Project, Branch: t.Branch,
		Base: hex(base), Head: head.String(), AcceptFrom: t.AcceptFrom,
		Commits: commits, Changes: changes,
	}
	if len(t.Policy.Owners) > 0 {
		if rng.Files, err = changedFiles(up, commits); err != nil {
			return nil, rng, err
		}
		rng.Groups, rng.GroupErrors = d.groups(ctx, t)
	}
	out := gate.Evaluate(t.Policy, rng)
	return &out, rng, nil
}

// groups resolves the members of every group the policy names. A group
// that cannot be resolved is left out, which fails the owner rules that
// need it (with the reason in their evidence), never passes them.
func (d *Deployer) groups(ctx context.Context, t Target) (map[string][]gate.Account, map[string]string) {
	out, why := map[string][]gate.Account{}, map[string]string{}
	for _, name := range t.Policy.GroupNames() {
		members, err := d.approvals.GroupMembers(ctx, name, true)
		if err != nil {
			d.logger.Warn("cannot resolve group; owner rules needing it fail", "group", name, "project", t.Project, "err", err)
			why[name] = err.Error()
			continue
		}
		out[name] = members
	}
	return out, why
}

// changedFiles lists, for each commit, the paths it changes against its
// first parent (all paths for a root commit); both sides of a rename.
func changedFiles(up *storage.Repo, commits []gate.Commit) (map[string][]string, error) {
	out := make(map[string][]string, len(commits))
	for _, gc := range commits {
		files, err := up.ChangedFiles(plumbing.NewHash(gc.SHA))
		if err != nil {
			return nil, err
		}
		out[gc.SHA] = files
	}
	return out, nil
}
