package deploy

import (
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// Contained returns each commit on deploy/<env>'s first-parent history in
// served, newest first, with the time since which deploy/<env> has
// contained it (as its tip or an ancestor), read from the records of
// audit/<env>: what gate.Soaked takes. A commit the branch contained,
// lost (an adoption elsewhere, a rewind) and contained again counts from
// the record that contained it again. Record times only count forward: a
// record older than one before it (a clock set back) counts from the
// later time. No deploy/<env> is an empty history; a trail that does not
// end at deploy/<env>'s tip, that names another environment, or a record
// without a time is an error, never a guess.
func Contained(served *storage.Repo, env string) ([]gate.Contained, error) {
	tip, err := served.Ref("refs/heads/deploy/" + env)
	if err != nil || tip.IsZero() {
		return nil, err
	}
	head, err := served.Ref(audit.Ref(env))
	if err != nil {
		return nil, err
	}
	if head.IsZero() {
		return nil, fmt.Errorf("deploy/%s is at %s but there is no audit/%s: the times it came to contain its commits are unknown", env, short(tip), env)
	}
	chain, err := audit.Chain(served.Objects(), head)
	if err != nil {
		return nil, err
	}
	recs := make([]*audit.Record, len(chain))
	for i, c := range chain {
		if recs[i], err = audit.ReadRecord(c); err != nil {
			return nil, fmt.Errorf("audit %s: %w", short(c.Hash), err)
		}
		if recs[i].Environment != env {
			return nil, fmt.Errorf("audit %s: the record is for environment %q, not %q", short(c.Hash), recs[i].Environment, env)
		}
		if recs[i].Time.IsZero() {
			// Counting from the epoch would make every commit soaked.
			return nil, fmt.Errorf("audit %s: the record has no time: since when deploy/%s contains its commits is unknown", short(c.Hash), env)
		}
	}
	if last := recs[len(recs)-1]; last.To != tip.String() {
		return nil, fmt.Errorf("deploy/%s is at %s but its last record ends at %.12s: a movement is not recorded", env, short(tip), last.To)
	}
	var history []plumbing.Hash
	index := map[plumbing.Hash]int{}
	if err := served.WalkFirstParents(tip, func(c storage.Commit) bool {
		index[c.Hash] = len(history)
		history = append(history, c.Hash)
		return true
	}); err != nil {
		return nil, err
	}
	// covered[i]: the newest index of history that the To of record i and
	// of every later record contain. Those contained by one To are a
	// suffix of history (an ancestor's ancestors are ancestors), so one
	// index says which.
	covered := make([]int, len(recs))
	newest := 0
	for i := len(recs) - 1; i >= 0; i-- {
		k, err := newestContained(served, history, index, recs[i].To)
		if err != nil {
			return nil, err
		}
		newest = max(newest, k)
		covered[i] = newest
	}
	out := make([]gate.Contained, len(history))
	for j, h := range history {
		out[j].SHA = h.String()
	}
	// Record i is the first of the unbroken run containing the commits
	// from covered[i] up to covered[i-1]: they count from its time.
	var at time.Time
	prev := len(history)
	for i, rec := range recs {
		if rec.Time.After(at) {
			at = rec.Time
		}
		for j := covered[i]; j < prev; j++ {
			out[j].Since = at
		}
		prev = min(prev, covered[i])
	}
	return out, nil
}

// newestContained returns the index of the newest commit of history that
// to contains, len(history) when none.
func newestContained(served *storage.Repo, history []plumbing.Hash, index map[plumbing.Hash]int, to string) (int, error) {
	h := plumbing.NewHash(to)
	if k, ok := index[h]; ok {
		return k, nil
	}
	// Off the first-parent line: search the suffix's start.
	lo, hi := 0, len(history)
	for lo < hi {
		mid := (lo + hi) / 2
		ok, err := served.IsAncestor(history[mid], h)
		if err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}
