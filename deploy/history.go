package deploy

import (
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// maxHistories bounds the Contained answers kept (each as long as the
// deploy branch's first-parent history).
const maxHistories = 64

// historyKey is everything Contained's answer depends on: the commits
// named by deploy/<env> and audit/<env> fix the history and the records.
type historyKey struct {
	project, env string
	tip, trail   plumbing.Hash
}

// contained is Contained(served, env), kept while deploy/<env> and
// audit/<env> stay where they are: an environment waiting for another's
// soak otherwise reads that one's whole audit trail at every poll.
func (d *Deployer) contained(project string, served *storage.Repo, env string) ([]gate.Contained, error) {
	key, err := historyKeyOf(project, served, env)
	if err != nil {
		return nil, err
	}
	if h, ok := d.histories.get(key); ok {
		return h, nil
	}
	h, err := Contained(served, env)
	if err != nil {
		return nil, err
	}
	// Kept only if nothing moved while it was read.
	if again, err := historyKeyOf(project, served, env); err == nil && again == key {
		d.histories.put(key, h)
	}
	return h, nil
}

func historyKeyOf(project string, served *storage.Repo, env string) (historyKey, error) {
	tip, err := served.Ref("refs/heads/deploy/" + env)
	if err != nil {
		return historyKey{}, err
	}
	trail, err := served.Ref(audit.Ref(env))
	if err != nil {
		return historyKey{}, err
	}
	return historyKey{project, env, tip, trail}, nil
}
