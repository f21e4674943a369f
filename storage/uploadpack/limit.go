package uploadpack

import (
	"net/netip"
	"sync"
)

// Limiter bounds how many git upload-pack processes run at once, across
// the HTTP and SSH front ends: each is a process with memory and CPU of its
// own, and a client (or many) must not be able to start them without end.
// Besides the global bound it bounds each reader and each source address,
// so one reader (one token, one key) or one address cannot take the
// capacity every other reader needs. A peer without credentials is
// bounded by its address only: anonymous clients are not one reader, and
// one of them must not take the share of all the others. A nil *Limiter
// limits nothing.
type Limiter struct {
	max, perReader, perAddr int

	mu     sync.Mutex
	total  int
	reader map[string]int
	addr   map[netip.Addr]int
}

// Peer is who asks for a clone slot: the reader the access list named
// ("" for a peer without credentials, bounded per address only) and the
// source address (the zero Addr when unknown; unknown addresses share one
// address's share).
type Peer struct {
	Reader string
	Addr   netip.Addr
}

// PeerAddr returns the source a "host:port" string such as
// http.Request.RemoteAddr or net.Addr.String() counts as for per-address
// bounds: its IPv4 address (::ffff:127.0.0.1 and 127.0.0.1 are one), or
// its IPv6 /64, since one host or site is routinely given a whole /64 and
// could otherwise take a share per address; the zero Addr if it has none.
func PeerAddr(hostport string) netip.Addr {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// NewLimiter allows max upload-packs at once, of which at most perReader
// for one reader and at most perAddr from one source address. A bound
// below 1 or above max is taken as max.
func NewLimiter(max, perReader, perAddr int) *Limiter {
	clamp := func(n int) int {
		if n < 1 || n > max {
			return max
		}
		return n
	}
	return &Limiter{
		max: max, perReader: clamp(perReader), perAddr: clamp(perAddr),
		reader: map[string]int{},
		addr:   map[netip.Addr]int{},
	}
}

// TryAcquire takes a slot for p if the global, p's reader's (unless p is
// anonymous) and p's address's bounds all leave one; the caller must call release (once)
// when its upload-pack has ended. It never waits: a busy server answers at
// once and the client retries.
func (l *Limiter) TryAcquire(p Peer) (release func(), ok bool) {
	if l == nil {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || (p.Reader != "" && l.reader[p.Reader] >= l.perReader) || l.addr[p.Addr] >= l.perAddr {
		return nil, false
	}
	l.total++
	if p.Reader != "" {
		l.reader[p.Reader]++
	}
	l.addr[p.Addr]++
	var once sync.Once
	return func() { once.Do(func() { l.release(p) }) }, true
}

func (l *Limiter) release(p Peer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	// Delete at zero so the maps hold only peers with a clone running.
	if p.Reader != "" {
		if l.reader[p.Reader]--; l.reader[p.Reader] == 0 {
			delete(l.reader, p.Reader)
		}
	}
	if l.addr[p.Addr]--; l.addr[p.Addr] == 0 {
		delete(l.addr, p.Addr)
	}
}

// InUse returns how many slots are taken, for metrics and tests.
func (l *Limiter) InUse() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
