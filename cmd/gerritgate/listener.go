package main

import (
	"net"
	"net/netip"
	"sync"

	"github.com/gerritgate/gerritgate/storage/githttp"
)

// addrLimitListener holds at most max open connections from one source
// address: a connection over that is closed as soon as it is accepted, so
// one address cannot fill a listener's global bound (maxConnections) and
// lock every other client out.
type addrLimitListener struct {
	net.Listener
	max      int
	onRefuse func() // counts refusals (metrics); may be nil

	mu   sync.Mutex
	open map[netip.Addr]int
}

func limitPerAddress(ln net.Listener, max int, onRefuse func()) net.Listener {
	return &addrLimitListener{Listener: ln, max: max, onRefuse: onRefuse, open: map[netip.Addr]int{}}
}

func (l *addrLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := githttp.PeerAddr(c.RemoteAddr().String())
		l.mu.Lock()
		full := l.open[a] >= l.max
		if !full {
			l.open[a]++
		}
		l.mu.Unlock()
		if full {
			c.Close()
			if l.onRefuse != nil {
				l.onRefuse()
			}
			continue
		}
		return &addrConn{Conn: c, release: func() { l.release(a) }}, nil
	}
}

func (l *addrLimitListener) release(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[a]--; l.open[a] <= 0 {
		delete(l.open, a)
	}
}

// addrConn gives its address's place back when closed (once, however
// often Close is called).
type addrConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *addrConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
