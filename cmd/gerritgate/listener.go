package main

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// addrLimitListener holds at most max open connections from one source
// address: a connection over that is closed as soon as it is accepted, so
// one address cannot fill a listener's global bound (maxConnections) and
// lock every other client out.
type addrLimitListener struct {
	net.Listener
	max      int
	onRefuse func() // counts refusals (metrics); may be nil

	mu    sync.Mutex
	open  map[netip.Addr]int
	total int
}

func limitPerAddress(ln net.Listener, max int, onRefuse func()) *addrLimitListener {
	return &addrLimitListener{Listener: ln, max: max, onRefuse: onRefuse, open: map[netip.Addr]int{}}
}

// limitListener bounds ln to max open connections, perAddr from one
// source address. When it is full, a new client need not wait for the
// idle timeout: the oldest connection idle (if any, tracked by idle)
// is closed to make room, as a connection that holds no request costs
// its client nothing to reopen.
func limitListener(ln net.Listener, max, perAddr int, onRefuse func(), idle *idleConns) net.Listener {
	byAddr := limitPerAddress(ln, perAddr, onRefuse)
	limited := netutil.LimitListener(byAddr, max)
	if idle == nil {
		return limited
	}
	return &reclaimListener{Listener: limited, full: func() bool { return byAddr.openConns() >= max }, idle: idle}
}

type reclaimListener struct {
	net.Listener
	full func() bool
	idle *idleConns
}

func (l *reclaimListener) Accept() (net.Conn, error) {
	if l.full() {
		l.idle.closeOldest()
	}
	return l.Listener.Accept()
}

// idleConns follows an http.Server's connections (as its ConnState hook)
// and knows which hold no request: new ones that have sent nothing yet
// and keep-alive ones between requests.
type idleConns struct {
	mu    sync.Mutex
	since map[net.Conn]time.Time
}

func newIdleConns() *idleConns { return &idleConns{since: map[net.Conn]time.Time{}} }

func (i *idleConns) track(c net.Conn, st http.ConnState) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch st {
	case http.StateNew, http.StateIdle:
		i.since[c] = time.Now()
	default:
		delete(i.since, c)
	}
}

// closeOldest closes the connection idle the longest, if any.
func (i *idleConns) closeOldest() {
	i.mu.Lock()
	var oldest net.Conn
	var at time.Time
	for c, t := range i.since {
		if oldest == nil || t.Before(at) {
			oldest, at = c, t
		}
	}
	delete(i.since, oldest)
	i.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

func (l *addrLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := uploadpack.PeerAddr(c.RemoteAddr().String())
		l.mu.Lock()
		full := l.open[a] >= l.max
		if !full {
			l.open[a]++
			l.total++
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
	l.total--
	if l.open[a]--; l.open[a] <= 0 {
		delete(l.open, a)
	}
}

func (l *addrLimitListener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
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

// stallWrites bounds every write on ln's connections: a write whose bytes
// the client does not take within d fails, and the server closes the
// connection, whatever the handler (status page, API, git) was sending.
func stallWrites(ln net.Listener, d time.Duration) net.Listener {
	return &stallListener{Listener: ln, d: d}
}

type stallListener struct {
	net.Listener
	d time.Duration
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, d: l.d}, nil
}

type stallConn struct {
	net.Conn
	d time.Duration
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}
