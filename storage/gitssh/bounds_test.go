package gitssh_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/storage/gitssh"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// dialFrom opens a TCP connection to addr from the loopback address src
// (127.0.0.2 plays another host).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads from c until the server closes it and says how long
// that took, or fails the test after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}

// eventually polls cond for up to 5 seconds and fails the test if it
// never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sshFrom is an SSH client connection from src with key.
func (e *env) sshFrom(t *testing.T, src string, key clientKey) (*gossh.Client, error) {
	t.Helper()
	c := dialFrom(t, src, e.addr)
	cc, chans, reqs, err := gossh.NewClientConn(c, e.addr, &gossh.ClientConfig{
		User:            "git",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(key.signer)},
		HostKeyCallback: gossh.FixedHostKey(e.hostKey),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	cl := gossh.NewClient(cc, chans, reqs)
	t.Cleanup(func() { cl.Close() })
	return cl, nil
}

// Attack 4 of issue 9: a client trickling its banner one byte at a time
// is cut off at the handshake timeout, which the bytes do not extend.
func TestHandshakeTimeoutIgnoresTrickle(t *testing.T) {
	e := start(t, gitssh.WithHandshakeTimeout(time.Second), gitssh.WithIdleTimeout(time.Minute))
	c := dialFrom(t, "127.0.0.2", e.addr)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for _, b := range []byte("SSH-2.0-trickle-trickle-trickle-trickle\r\n") {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	if d := closedWithin(t, c, 5*time.Second); d > 3*time.Second {
		t.Errorf("closed after %v, want about the 1s handshake timeout", d)
	}
}

// A client that logs in and then starts no command is closed too, and so
// is one whose last command ended; a running command is not cut off.
func TestHandshakeTimeoutWithoutCommand(t *testing.T) {
	e := start(t, gitssh.WithHandshakeTimeout(time.Second))
	cl, err := e.sshFrom(t, "127.0.0.1", e.flux)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, cl, "git-upload-pack 'platform/fleet'", "0000"); code != 0 {
		t.Fatalf("upload-pack: exit %d: %s", code, stderr)
	}
	done := make(chan struct{})
	go func() { cl.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("an authenticated connection with no command stayed open past the handshake timeout")
	}
}

// After a few failed logins an address is refused outright for a while;
// another address still gets in, and a client that tries a wrong key
// before the right one (an agent with several keys) is not counted.
func TestFailedLoginsBlockAddress(t *testing.T) {
	var mu sync.Mutex
	events := map[string]int{}
	e := start(t, gitssh.WithFailedLoginLimit(3, time.Minute), gitssh.WithConnectionObserver(func(ev string) {
		mu.Lock()
		defer mu.Unlock()
		events[ev]++
	}))
	count := func(ev string) int {
		mu.Lock()
		defer mu.Unlock()
		return events[ev]
	}
	stranger := newClientKey(t)

	// Wrong key then right key, on one connection, several times.
	for range 4 {
		c := dialFrom(t, "127.0.0.2", e.addr)
		cc, _, _, err := gossh.NewClientConn(c, e.addr, &gossh.ClientConfig{
			User:            "git",
			Auth:            []gossh.AuthMethod{gossh.PublicKeys(stranger.signer, e.flux.signer)},
			HostKeyCallback: gossh.FixedHostKey(e.hostKey),
			Timeout:         5 * time.Second,
		})
		if err != nil {
			t.Fatalf("agent-like client with a wrong key first: %v", err)
		}
		cc.Close()
	}
	for i := range 3 {
		if _, err := e.sshFrom(t, "127.0.0.2", stranger); err == nil {
			t.Fatalf("unknown key %d accepted", i)
		}
	}
	eventually(t, "3 failed logins observed", func() bool { return count("login_failed") >= 3 })
	if n := count("login_failed"); n != 3 {
		t.Errorf("observed %d failed logins, want 3 (a wrong key before the right one is no failure)", n)
	}

	start := time.Now()
	if _, err := e.sshFrom(t, "127.0.0.2", e.flux); err == nil {
		t.Error("a blocked address logged in with a good key")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing a blocked address took %v, want it quick", d)
	}
	if count("blocked") < 1 {
		t.Errorf("no blocked refusal observed")
	}
	if _, err := e.sshFrom(t, "127.0.0.1", e.flux); err != nil {
		t.Errorf("127.0.0.1 refused because 127.0.0.2 failed: %v", err)
	}
	if !strings.Contains(e.logs.String(), "too many failed logins") {
		t.Errorf("the block is not logged:\n%s", e.logs)
	}
}

// Attack 2 (SSH) of issue 9: an upload-pack session that sends nothing
// after the advertisement is closed at the idle timeout, keepalives or
// not, and frees its clone slot; with the advertisement from memory it
// never takes one.
func TestIdleUploadPackClosed(t *testing.T) {
	for _, memory := range []bool{false, true} {
		t.Run(map[bool]string{false: "git", true: "from memory"}[memory], func(t *testing.T) {
			l := uploadpack.NewLimiter(1, 1, 1)
			var mu sync.Mutex
			var outcomes []string
			opts := []gitssh.Option{gitssh.WithLimiter(l), gitssh.WithIdleTimeout(time.Second), gitssh.WithObserver(func(_, outcome string) {
				mu.Lock()
				defer mu.Unlock()
				outcomes = append(outcomes, outcome)
			})}
			if memory {
				opts = append(opts, gitssh.WithAdvertiser(refadv.New()))
			}
			e := start(t, opts...)
			cl, err := e.sshFrom(t, "127.0.0.2", e.flux)
			if err != nil {
				t.Fatal(err)
			}
			s, err := cl.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			stdin, _ := s.StdinPipe() // held open, never written
			defer stdin.Close()
			stdout, _ := s.StdoutPipe()
			if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
				t.Fatal(err)
			}
			ended := make(chan struct{})
			go func() { io.Copy(io.Discard, stdout); s.Wait(); close(ended) }()
			// SSH keepalives keep the connection busy, but no git data moves.
			var noSlot *uploadpack.Limiter
			if memory {
				noSlot = l
			}
			keepAliveUntil(t, cl, ended, noSlot, "a session that only read the advertisement from memory")
			eventually(t, "the clone slot is freed", func() bool {
				release, ok := l.TryAcquire(uploadpack.Peer{Reader: "someone else"})
				if ok {
					release()
				}
				return ok
			})
			// The slot is freed before the session's outcome is observed.
			eventually(t, "the outcome is observed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(outcomes) > 0
			})
			mu.Lock()
			defer mu.Unlock()
			if len(outcomes) != 1 || outcomes[0] != "timeout" {
				t.Errorf("outcomes %q, want [timeout]", outcomes)
			}
		})
	}
}

// keepAliveUntil sends SSH keepalives on cl until ended is closed,
// failing after 10s (the tests' idle timeouts are 1s), or as soon as a
// clone slot of noSlot is in use (what says whose session that is).
func keepAliveUntil(t *testing.T, cl *gossh.Client, ended <-chan struct{}, noSlot *uploadpack.Limiter, what string) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-ended:
			return
		case <-tick.C:
			if noSlot != nil && noSlot.InUse() != 0 {
				t.Fatalf("%s holds a clone slot", what)
			}
			cl.SendRequest("keepalive@openssh.com", true, nil)
		case <-timeout:
			t.Fatalf("%s: still open 10s after a 1s idle timeout", what)
		}
	}
}

// A clone that keeps moving data is not cut by the idle timeout.
func TestIdleTimeoutSparesWorkingClone(t *testing.T) {
	e := start(t, gitssh.WithIdleTimeout(time.Second))
	for range 3 {
		if out, err := gitRun(t, "", []string{gitSSH(e.flux.file, e.knownHosts)}, "clone", "-q", "--bare", e.url("platform/fleet"), t.TempDir()+"/c"); err != nil {
			t.Fatalf("clone: %v\n%s", err, out)
		}
	}
}

// One connection cannot open sessions without end.
func TestSessionsPerConnection(t *testing.T) {
	e := start(t)
	cl, err := e.sshFrom(t, "127.0.0.1", e.flux)
	if err != nil {
		t.Fatal(err)
	}
	var open []*gossh.Session
	for i := range 4 {
		s, err := cl.NewSession()
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		open = append(open, s)
	}
	if s, err := cl.NewSession(); err == nil {
		s.Close()
		t.Fatal("a fifth session at once was accepted")
	} else if !strings.Contains(err.Error(), "too many sessions") {
		t.Errorf("fifth session: %v, want a refusal saying too many sessions", err)
	}
	open[0].Close()
	eventually(t, "a closed session frees its place", func() bool {
		s, err := cl.NewSession()
		if err == nil {
			s.Close()
		}
		return err == nil
	})
}

// Sessions are bounded per reader and in all, whatever the connections:
// each may buffer 2 MiB of what its client sent.
func TestSessionsPerReader(t *testing.T) {
	var mu sync.Mutex
	events := map[string]int{}
	e := start(t, gitssh.WithMaxSessions(3, 2), gitssh.WithConnectionObserver(func(ev string) {
		mu.Lock()
		defer mu.Unlock()
		events[ev]++
	}))
	session := func(key clientKey) (*gossh.Session, error) {
		cl, err := e.sshFrom(t, "127.0.0.1", key)
		if err != nil {
			t.Fatal(err)
		}
		return cl.NewSession()
	}
	var open []*gossh.Session
	for i := range 2 {
		s, err := session(e.flux)
		if err != nil {
			t.Fatalf("flux session %d: %v", i, err)
		}
		open = append(open, s)
	}
	if _, err := session(e.flux); err == nil || !strings.Contains(err.Error(), "too many sessions") {
		t.Errorf("a third session of one reader (bound 2), on a new connection: %v, want refused", err)
	}
	s, err := session(e.other)
	if err != nil {
		t.Fatalf("another reader refused while under the total: %v", err)
	}
	open = append(open, s)
	if _, err := session(e.other); err == nil {
		t.Errorf("a fourth session in all (bound 3) was accepted")
	}
	open[0].Close()
	eventually(t, "a closed session frees its reader's place", func() bool {
		s, err := session(e.flux)
		if err == nil {
			s.Close()
		}
		return err == nil
	})
	mu.Lock()
	defer mu.Unlock()
	if events["session_limit"] < 2 {
		t.Errorf("observed %v, want session_limit counted", events)
	}
}

// A session that keeps git busy (protocol v2 ls-refs, again and again) is
// not idle, but its connection ends at the max timeout all the same.
func TestMaxTimeoutBoundsBusySession(t *testing.T) {
	e := start(t, gitssh.WithMaxTimeout(2*time.Second), gitssh.WithIdleTimeout(time.Minute))
	cl, err := e.sshFrom(t, "127.0.0.1", e.flux)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Setenv("GIT_PROTOCOL", "version=2"); err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Start("git-upload-pack 'platform/fleet'"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ended := make(chan struct{})
	var got atomic.Int64
	go func() { n, _ := io.Copy(io.Discard, stdout); got.Store(n); close(ended) }()
	timeout := time.After(6 * time.Second)
	for {
		select {
		case <-ended:
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("ended after %v, max timeout 2s", d)
			}
			if got.Load() < 1000 {
				t.Errorf("git answered %d bytes: the session was not kept busy", got.Load())
			}
			return
		case <-time.After(200 * time.Millisecond):
			io.WriteString(stdin, "0014command=ls-refs\n0000")
		case <-timeout:
			t.Fatal("a busy session ran past the max timeout")
		}
	}
}
