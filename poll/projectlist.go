package poll

import (
	"sync/atomic"
	"time"
)

// projectLists says when the projects behind the policy's patterns are
// listed again: a steady poll of a policy with a glob then makes no REST
// call. Gerrit is asked again every `every`, at the next poll after
// Relist (a project-created event), and at every poll while the last
// listing failed. A project deleted or hidden in Gerrit meanwhile stays
// in the list: its fetch fails and its environments are Failed where
// they are until the next listing drops them.
type projectLists struct {
	every  time.Duration
	at     map[string]time.Time // when each pattern was last listed; under Poller.work
	relist atomic.Bool          // list at the next poll
	now    func() time.Time     // nil: time.Now (tests set a clock)
}

func (l *projectLists) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// fresh reports whether pat was listed less than every ago.
func (l *projectLists) fresh(pat string, now time.Time) bool {
	at, ok := l.at[pat]
	return ok && now.Sub(at) < l.every
}

// Relist makes the next poll list Gerrit's projects again for every
// pattern of the policy, and asks for that poll now: a project was
// created (an event says so) or the events that would say so may have
// been missed.
func (p *Poller) Relist() {
	p.lists.relist.Store(true)
	p.Poke()
}
