package deploy

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
)

// newResult is the Result every operation on t starts from, stamped at
// (in UTC).
func newResult(t Target, at time.Time) Result {
	res := Result{Project: t.Project, Branch: t.Branch, Env: t.Env, Time: at.UTC()}
	if t.Policy != nil {
		res.Policy = t.Policy.Name
	}
	return res
}

// state is where a target stands: what both Reconcile and Explain start
// from.
type state struct {
	up, served *storage.Repo // served is nil for Explain before the first deploy
	head, tip  plumbing.Hash
}

// load reads the target's upstream head and deploy tip. With create (the
// service, which owns the data directory) missing repositories are made;
// without (explain, beside a running service) a missing upstream mirror is
// an error and a missing served repository means nothing is deployed yet.
func (d *Deployer) load(t Target, create bool) (state, error) {
	var st state
	if t.Policy == nil {
		return st, errors.New("no policy")
	}
	var err error
	if create {
		if st.up, err = d.store.Upstream(t.Project); err != nil {
			return st, err
		}
		if st.served, err = d.store.Served(t.Project); err != nil {
			return st, err
		}
	} else {
		if st.up, err = d.store.ExistingUpstream(t.Project); err != nil {
			return st, fmt.Errorf("upstream mirror of %s: %w", t.Project, err)
		}
		if st.served, err = d.store.ExistingServed(t.Project); err != nil {
			st.served = nil
		}
	}
	if st.head, err = st.up.Ref("refs/heads/" + t.Branch); err != nil {
		return st, err
	}
	if st.served != nil {
		if st.tip, err = st.served.Ref(t.Ref()); err != nil {
			return st, err
		}
	}
	return st, nil
}

// loadToMove is load for an operator's move of deploy/<env>: the upstream
// branch must exist; res starts where the ref is.
func (d *Deployer) loadToMove(t Target, res *Result) (state, error) {
	st, err := d.load(t, true)
	if err != nil {
		return st, err
	}
	res.From, res.To = hex(st.tip), hex(st.tip)
	if st.head.IsZero() {
		return st, fmt.Errorf("upstream branch %s does not exist", t.Branch)
	}
	res.Head = st.head.String()
	return st, nil
}
