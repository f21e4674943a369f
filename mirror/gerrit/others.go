package gerrit

import (
	"sync"
	"time"
)

// othersFor is how long an answer to "does a change of another project
// have this commit" is reused. The answer only words a verdict (a commit
// of no change of its project is never approved either way), so it may
// be a little old; without the cache a commit pushed past review would
// cost a query across projects at every poll for as long as it waits.
const othersFor = 10 * time.Minute

// maxOthers bounds the answers kept; when full, all are dropped.
const maxOthers = 10000

// others remembers, per project and commit, whether a change of another
// project has the commit as a patch set.
type others struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]otherAnswer // project + "\x00" + sha
}

type otherAnswer struct {
	has bool
	at  time.Time
}

func newOthers(now func() time.Time) *others {
	return &others{now: now, m: map[string]otherAnswer{}}
}

// get returns the kept answer for sha in project, if fresh.
func (o *others) get(project, sha string) (has, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a, ok := o.m[project+"\x00"+sha]
	if !ok || o.now().Sub(a.at) >= othersFor {
		return false, false
	}
	return a.has, true
}

func (o *others) put(project, sha string, has bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.m) >= maxOthers {
		clear(o.m)
	}
	o.m[project+"\x00"+sha] = otherAnswer{has: has, at: o.now()}
}
