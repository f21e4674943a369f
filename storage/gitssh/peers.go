package gitssh

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// PeerAddr is the source a per-address limit counts: the IPv4 address, or
// the /64 of an IPv6 one, since one host commonly holds a whole /64. It is
// the zero Addr for a connection that is not TCP/IP.
func PeerAddr(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Why a connection was refused before its handshake.
const (
	refusedAddressLimit = "address_limit" // the address holds maxConnsPerAddr already
	refusedBlocked      = "blocked"       // the address failed to log in too often
)

// peers counts, per source address, the open connections and the failed
// logins. A failed login is a connection that tried to authenticate and
// ended without succeeding; after maxFailures of them within window, the
// address is refused for window. Time comes from the caller.
type peers struct {
	maxConns    int // 0: no per-address bound
	maxFailures int // 0: no failed-login bound
	window      time.Duration

	mu      sync.Mutex
	m       map[netip.Addr]*peer
	pruneAt int
}

type peer struct {
	conns        int
	failures     int       // since windowStart
	windowStart  time.Time // of the failures counted
	blockedUntil time.Time
}

func newPeers(maxConns, maxFailures int, window time.Duration) *peers {
	return &peers{maxConns: maxConns, maxFailures: maxFailures, window: window, m: map[netip.Addr]*peer{}, pruneAt: 4096}
}

// admit takes a connection slot for a, or says why not. The caller must
// call release once the connection is closed.
func (p *peers) admit(a netip.Addr, now time.Time) (release func(), refused string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.entry(a, now)
	switch {
	case now.Before(st.blockedUntil):
		return nil, refusedBlocked
	case p.maxConns > 0 && st.conns >= p.maxConns:
		return nil, refusedAddressLimit
	}
	st.conns++
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			st.conns--
		})
	}, ""
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

// prune forgets addresses with no connection whose failures and block
// have run out, once the map has grown past pruneAt: a scan of many
// addresses must not grow it without end.
func (p *peers) prune(now time.Time) {
	if len(p.m) < p.pruneAt {
		return
	}
	for a, st := range p.m {
		if st.conns == 0 && !now.Before(st.blockedUntil) && now.Sub(st.windowStart) >= p.window {
			delete(p.m, a)
		}
	}
	p.pruneAt = max(4096, 2*len(p.m))
}
