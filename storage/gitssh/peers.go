package gitssh

import (
	"net/netip"
	"sync"
	"time"
)

// peers counts the failed logins of each source address. A failed login
// is a connection that tried to authenticate and ended without
// succeeding; after maxFailures of them within window, the address is
// refused for window. Time comes from the caller. (The listener bounds
// each address's connections: see maxConnectionsPerAddress.)
type peers struct {
	maxFailures int // 0: no failed-login bound
	window      time.Duration

	mu      sync.Mutex
	m       map[netip.Addr]*peer
	pruneAt int
}

type peer struct {
	failures     int       // since windowStart
	windowStart  time.Time // of the failures counted
	blockedUntil time.Time
}

func newPeers(maxFailures int, window time.Duration) *peers {
	return &peers{maxFailures: maxFailures, window: window, m: map[netip.Addr]*peer{}, pruneAt: 4096}
}

// blocked says whether a is refused for failed logins now.
func (p *peers) blocked(a netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.m[a]
	return st != nil && now.Before(st.blockedUntil)
}

// failed records a failed login from a and says whether it made the
// address blocked.
func (p *peers) failed(a netip.Addr, now time.Time) (nowBlocked bool) {
	if p.maxFailures <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.entry(a, now)
	if now.Sub(st.windowStart) >= p.window {
		st.failures, st.windowStart = 0, now
	}
	st.failures++
	if st.failures >= p.maxFailures && !now.Before(st.blockedUntil) {
		st.blockedUntil = now.Add(p.window)
		st.failures, st.windowStart = 0, now
		return true
	}
	return false
}

// entry returns a's state, made if need be. p.mu is held.
func (p *peers) entry(a netip.Addr, now time.Time) *peer {
	st := p.m[a]
	if st == nil {
		p.prune(now)
		st = &peer{}
		p.m[a] = st
	}
	return st
}

// prune forgets addresses whose failures and block have run out, once the map has grown past pruneAt: a scan of many
// addresses must not grow it without end.
func (p *peers) prune(now time.Time) {
	if len(p.m) < p.pruneAt {
		return
	}
	for a, st := range p.m {
		if !now.Before(st.blockedUntil) && now.Sub(st.windowStart) >= p.window {
			delete(p.m, a)
		}
	}
	p.pruneAt = max(4096, 2*len(p.m))
}
