package gate

import "time"

// Contained is one commit of an environment's deploy branch history and
// the time since which the branch has contained it (as its tip or an
// ancestor), from the audit trail; zero when unknown.
type Contained struct {
	SHA   string
	Since time.Time
}

// Soak is how far a dependent environment may move along the history of
// the environment it comes after.
type Soak struct {
	// Target is the newest commit that has soaked; "" when none has.
	Target string
	// Waiting is the commit newer than Target that soaks next, and Ready
	// when it will have; "" and zero when none is soaking.
	Waiting string
	Ready   time.Time
}

// Soaked decides, from the history of the upstream environment (newest
// first, as deploy.Contained returns it), which newest commit has been
// contained for at least soak at now. A commit whose time is unknown, or
// in the future, has not soaked. It is pure: now comes from the caller.
func Soaked(history []Contained, soak time.Duration, now time.Time) Soak {
	var s Soak
	for _, c := range history {
		if c.Since.IsZero() || c.Since.After(now) {
			continue
		}
		ready := c.Since.Add(soak)
		if !ready.After(now) {
			s.Target = c.SHA
			return s
		}
		s.Waiting, s.Ready = c.SHA, ready
	}
	return s
}
