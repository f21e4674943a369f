package gitssh

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// maxChannelsPerConn bounds the sessions open at once on one connection.
// git opens one; a multiplexing OpenSSH client (ControlMaster) a few.
const maxChannelsPerConn = 4

// guard is one connection's bookkeeping: whether it logged in, and the timer that closes it when no command runs. The timer
// starts at accept, so the handshake and authentication must fit in it
// however slowly a client trickles bytes, stops while a command runs and
// starts again when the last one ends.
type guard struct {
	srv   *Server
	conn  net.Conn // the raw connection: closing it ends everything on it
	addr  netip.Addr
	timer *time.Timer

	mu       sync.Mutex
	running  int  // commands
	channels int  // open session channels
	tried    bool // an authentication method other than the first "none" failed
	authed   bool
	closed   bool
}

type guardKey struct{}

func guardOf(ctx ssh.Context) *guard {
	g, _ := ctx.Value(guardKey{}).(*guard)
	return g
}

// connCallback admits a new connection, or closes it at once when its
// address is blocked for failed logins.
func (s *Server) connCallback(ctx ssh.Context, c net.Conn) net.Conn {
	addr := uploadpack.PeerAddr(c.RemoteAddr().String())
	if s.peers.blocked(addr, time.Now()) {
		s.observeConn("blocked")
		return nil
	}
	g := &guard{srv: s, conn: c, addr: addr}
	g.timer = time.AfterFunc(s.handshakeTimeout, g.expire)
	ctx.SetValue(guardKey{}, g)
	return &guardedConn{Conn: c, g: g}
}

// expire closes a connection on which no command has run for the
// handshake timeout.
func (g *guard) expire() {
	g.mu.Lock()
	idle := g.running == 0 && !g.closed
	g.mu.Unlock()
	if idle {
		g.srv.observeConn("handshake_timeout")
		g.conn.Close()
	}
}

// commandStarted stops the timer while a command runs; the returned func
// restarts it when the last one ends.
func (g *guard) commandStarted() (ended func()) {
	g.mu.Lock()
	g.running++
	g.timer.Stop()
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.running--
		if g.running == 0 && !g.closed {
			g.timer.Reset(g.srv.handshakeTimeout)
		}
	}
}

// openChannel takes one of the connection's session channels.
func (g *guard) openChannel() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.channels >= maxChannelsPerConn {
		return false
	}
	g.channels++
	return true
}

func (g *guard) closeChannel() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.channels--
}

// authAttempt is x/crypto/ssh's AuthLogCallback: it sees every attempt.
func (g *guard) authAttempt(method string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err == nil:
		g.authed = true
	case method != "none":
		g.tried = true
	}
}

// close runs once, when the connection closes: it counts a failed login
// if the client tried and never got in.
func (g *guard) close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	failed := g.tried && !g.authed
	g.mu.Unlock()
	g.timer.Stop()
	if failed {
		g.srv.observeConn("login_failed")
		if g.srv.peers.failed(g.addr, time.Now()) {
			g.srv.logger.Warn("ssh: too many failed logins; refusing the address for a while",
				"addr", g.addr.String(), "for", g.srv.peers.window)
		}
	}
}

// guardedConn runs the guard's close when gliderlabs/ssh closes the
// connection (it does on every path once the handler has it).
type guardedConn struct {
	net.Conn
	g *guard
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.g.close()
	return err
}

// serverConfig adds what gliderlabs/ssh does not set: a bound on failed
// authentication attempts per connection, and the guard's view of them.
func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	g := guardOf(ctx)
	return &gossh.ServerConfig{
		MaxAuthTries: maxAuthTries,
		AuthLogCallback: func(_ gossh.ConnMetadata, method string, err error) {
			if g != nil {
				g.authAttempt(method, err)
			}
		},
	}
}

// maxAuthTries is OpenSSH's default: enough for an agent with a few keys.
const maxAuthTries = 6

func (s *Server) observeConn(event string) {
	if s.onConn != nil {
		s.onConn(event)
	}
}
