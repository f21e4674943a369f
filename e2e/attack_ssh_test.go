package e2e

// Attacks on the SSH listener (issue 9, attacks 2 and 4, and failed
// logins), run like attack_test.go's: from 127.0.0.2 and beyond while the
// legitimate reader clones from 127.0.0.1 over HTTP and SSH.

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// sshOpen counts the connections the server has not closed. Whatever the
// server sent (its banner) is read and dropped. (A read past its deadline
// fails before it looks at what is buffered, so each read gets its own.)
func sshOpen(conns []net.Conn) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 512)
			for {
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				_, err := c.Read(buf)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					n.Add(1)
					return
				}
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

// legitFigures says how long the legitimate clones took, against their
// unattacked times, for a figures line.
func (e *attackEnv) legitFigures(got map[string]time.Duration) string {
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("legit clone http %v (unattacked %v) ssh %v (unattacked %v)",
		ms(got["http"]), ms(e.base["http"]), ms(got["ssh"]), ms(e.base["ssh"]))
}

// attackerSSH logs in over SSH from src with the attacking reader's key.
func (e *attackEnv) attackerSSH(src string) (*gossh.Client, error) {
	signer, err := gossh.ParsePrivateKey(e.evil.keyPEM)
	if err != nil {
		return nil, err
	}
	_, _, hostKey, _, _, err := gossh.ParseKnownHosts([]byte(e.knownHosts))
	if err != nil {
		return nil, err
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", e.sshAddr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cc, chans, reqs, err := gossh.NewClientConn(c, e.sshAddr, &gossh.ClientConfig{
		User: "git", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.FixedHostKey(hostKey),
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return gossh.NewClient(cc, chans, reqs), nil
}

// Attack 4: 1,030 connections, from 16 addresses so that the per-address
// bound (64) still lets them fill the listener's 1,024, each trickling one
// byte of an SSH banner every second. The handshake timeout closes every
// one of them however they trickle, so the listener frees up within it and
// the legitimate clones go through.
func TestAttackSSHTrickleBanners(t *testing.T) {
	const handshake = 2 * time.Second
	e := startAttackEnv(t, gateSetup{sshExtra: "  handshakeTimeout: 2s\n"}, nil)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 1030 {
		wg.Go(func() {
			src := fmt.Sprintf("127.0.0.%d", 2+i%16)
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
			c, err := d.Dial("tcp", e.sshAddr)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	defer closeAll(conns)
	stop := make(chan struct{})
	var trickled sync.WaitGroup
	trickled.Go(func() {
		banner := []byte("SSH-2.0-OpenSSH_9.6 a very slow client indeed\r\n")
		for i := 0; ; i++ {
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				c.Write(banner[i%len(banner) : i%len(banner)+1])
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	})
	defer func() { close(stop); trickled.Wait() }()
	held := sshOpen(conns)
	t.Logf("attacker holds %d connections", held)
	got := e.legitClonesOK(t, handshake+3*time.Second)
	time.Sleep(time.Until(start.Add(handshake + 2*time.Second)))
	left := sshOpen(conns)
	if left != 0 {
		t.Errorf("%d trickling connections still open %v after connecting, handshake timeout %v", left, time.Since(start).Round(time.Second), handshake)
	}
	peak := e.memoryOK(t)
	t.Logf("figures: SSH attack 4: held %d of %d, open after handshake timeout %d, %s, peak RSS %d MiB",
		held, len(conns), left, e.legitFigures(got), peak)
}

// Attack 2 over SSH: 32 upload-pack sessions of one reader from one
// address that read the advertisement and then send nothing, but keep
// their connections alive with SSH keepalives; half of them ask for
// protocol v2 (git upload-pack runs), half for v0 (the advertisement
// comes from memory and takes no clone slot). The fair limiter gives
// them a quarter of the clone slots, the session bound 16 sessions, the
// idle timeout ends every one of them, and the legitimate clones go
// through meanwhile.
func TestAttackSSHIdleUploadPacks(t *testing.T) {
	const idle = 3 * time.Second
	e := startAttackEnv(t, gateSetup{sshExtra: "  idleTimeout: 3s\n"}, nil)
	var started, busy, failed atomic.Int64
	var wg sync.WaitGroup
	ended := make(chan time.Duration, 32)
	stop := make(chan struct{})
	var ready sync.WaitGroup // each session has its advertisement, or its refusal
	ready.Add(32)
	start := time.Now()
	for i := range 32 {
		wg.Go(func() {
			var once sync.Once
			isReady := func() { once.Do(ready.Done) }
			defer isReady()
			cl, err := e.attackerSSH(attackerAddr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer cl.Close()
			s, err := cl.NewSession()
			if err != nil {
				failed.Add(1)
				return
			}
			if i%2 == 0 {
				s.Setenv("GIT_PROTOCOL", "version=2")
			}
			stdin, _ := s.StdinPipe() // held open, never written
			defer stdin.Close()
			stdout, _ := s.StdoutPipe()
			var stderr strings.Builder
			s.Stderr = &stderr
			if err := s.Start("git-upload-pack 'platform/fleet.git'"); err != nil {
				failed.Add(1)
				return
			}
			done := make(chan struct{})
			go func() {
				io.ReadFull(stdout, make([]byte, 4)) // the advertisement's first pkt-line length
				isReady()
				io.Copy(io.Discard, stdout)
				s.Wait()
				close(done)
			}()
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					if strings.Contains(stderr.String(), "busy") {
						busy.Add(1)
					} else {
						started.Add(1)
						ended <- time.Since(start)
					}
					return
				case <-tick.C:
					cl.SendRequest("keepalive@openssh.com", true, nil)
				case <-stop:
					started.Add(1)
					return
				}
			}
		})
	}
	ready.Wait() // every session has its advertisement or was refused
	slots := e.clonesInProgress(t)
	got := e.legitClonesOK(t, 3*time.Second)
	timer := time.AfterFunc(idle+5*time.Second, func() { close(stop) })
	wg.Wait()
	timer.Stop()
	close(ended)
	var last time.Duration
	endedN := 0
	for d := range ended {
		last = max(last, d)
		endedN++
	}
	n := started.Load()
	if slots > 8 {
		t.Errorf("one reader's silent sessions held %d clone slots, want at most its share (8 of 32)", slots)
	}
	if n > 16 {
		t.Errorf("one reader ran %d sessions at once, want at most its session bound (16)", n)
	}
	if int64(endedN) != n || last > idle+3*time.Second {
		t.Errorf("%d of %d silent sessions ended by themselves (the last after %v), idle timeout %v", endedN, n, last.Round(time.Millisecond), idle)
	}
	peak := e.memoryOK(t)
	t.Logf("figures: SSH attack 2: 32 sessions: %d ran holding %d clone slots, %d refused busy, %d failed; the last ran %v; %s, peak RSS %d MiB",
		n, slots, busy.Load(), failed.Load(), last.Round(time.Millisecond), e.legitFigures(got), peak)
}

// Failed logins: an address that keeps failing to log in is refused at
// accept, quickly, once it has failed maxFailedLogins times, while the
// legitimate reader elsewhere is served.
func TestAttackSSHFailedLogins(t *testing.T) {
	e := startAttackEnv(t, gateSetup{sshExtra: "  maxFailedLogins: 5\n"}, nil)
	stranger := newReader(t, "stranger") // in no access list
	signer, _ := gossh.ParsePrivateKey(stranger.keyPEM)
	attempt := func() (time.Duration, bool) {
		start := time.Now()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(attackerAddr)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", e.sshAddr)
		if err != nil {
			return time.Since(start), false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _, _, err = gossh.NewClientConn(c, e.sshAddr, &gossh.ClientConfig{
			User: "git", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		})
		// Reached authentication: the server answered the key exchange.
		reached := err != nil && strings.Contains(err.Error(), "unable to authenticate")
		return time.Since(start), reached
	}
	var reached atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range 200 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d, ok := attempt()
			if ok {
				reached.Add(1)
			} else if i >= 50 {
				slowest.Store(max(slowest.Load(), int64(d)))
			}
		})
		if i == 100 {
			e.legitClonesOK(t, 3*time.Second)
		}
	}
	wg.Wait()
	got := e.legitClonesOK(t, 3*time.Second)
	if n := reached.Load(); n > 5+2*10 {
		t.Errorf("%d of 200 login attempts from one address reached authentication, want about maxFailedLogins (5) plus those in flight (10, and as many again while the server notes the failures)", n)
	}
	if d := time.Duration(slowest.Load()); d > time.Second {
		t.Errorf("a refused attempt took %v, want it quick", d)
	}
	if !strings.Contains(e.log.String(), "too many failed logins") {
		t.Errorf("the block is not logged")
	}
	t.Logf("figures: SSH failed logins: %d of 200 attempts reached authentication, slowest refusal %v, %s",
		reached.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), e.legitFigures(got))
}

// A reader's connections, sessions and the data they send before any
// command is read are bounded: each SSH session buffers up to 2 MiB
// (x/crypto/ssh's window) of what its client sends and the server has
// not read, so a reader opening many connections and sessions and filling
// each must not take the process's memory.
func TestAttackSSHSessionBuffers(t *testing.T) {
	e := startAttackEnv(t, gateSetup{sshExtra: "  handshakeTimeout: 5s\n"}, nil)
	var wg sync.WaitGroup
	var sessions atomic.Int64
	var clients []*gossh.Client
	var mu sync.Mutex
	for i := range 64 {
		wg.Go(func() {
			cl, err := e.attackerSSH(fmt.Sprintf("127.0.0.%d", 2+i%16))
			if err != nil {
				return
			}
			mu.Lock()
			clients = append(clients, cl)
			mu.Unlock()
			var inner sync.WaitGroup
			for range 8 {
				s, err := cl.NewSession()
				if err != nil {
					continue
				}
				sessions.Add(1)
				w, _ := s.StdinPipe()
				inner.Go(func() { w.Write(make([]byte, 2<<20)) }) // blocks once the window is full
			}
			inner.Wait()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * time.Second):
	}
	peak, now := memoryMiB(t, e.cmd.Process.Pid)
	got := e.legitClonesOK(t, 3*time.Second)
	mu.Lock()
	for _, cl := range clients {
		cl.Close()
	}
	mu.Unlock()
	if peak >= memoryBoundMiB {
		t.Errorf("gate's peak RSS %d MiB with %d sessions of one reader filled, bound %d MiB", peak, sessions.Load(), memoryBoundMiB)
	}
	t.Logf("figures: SSH session buffers: %d connections, %d sessions opened by one reader, peak RSS %d MiB (now %d); %s",
		len(clients), sessions.Load(), peak, now, e.legitFigures(got))
}

// Attack 4 with reconnects: the same 1,030 trickling connections, each
// dialled again as soon as the gate closes it. No connection outlives the
// handshake timeout, and clones started in the middle of the churn still
// get through.
func TestAttackSSHTrickleReconnecting(t *testing.T) {
	const handshake = 2 * time.Second
	e := startAttackEnv(t, gateSetup{sshExtra: "  handshakeTimeout: 2s\n"}, nil)
	stop := make(chan struct{})
	var longest, admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 1030 {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 2+i%16))}, Timeout: 2 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := d.Dial("tcp", e.sshAddr)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				// Held from the gate's banner (sent at accept) to its close;
				// time in the kernel's backlog before the accept is not the
				// gate's doing.
				var born atomic.Int64
				dead := make(chan int64)
				go func() {
					n, _ := c.Read(make([]byte, 64))
					if n > 0 {
						born.Store(time.Now().UnixNano())
					}
					io.Copy(io.Discard, c)
					dead <- int64(n)
				}()
				tick := time.NewTicker(time.Second)
				var got int64
			trickle:
				for {
					select {
					case got = <-dead:
						break trickle
					case <-tick.C:
						c.Write([]byte("S"))
					case <-stop:
						c.Close()
						<-dead
						tick.Stop()
						return
					}
				}
				tick.Stop()
				c.Close()
				if got > 0 { // the gate let it in (it sent its banner)
					admitted.Add(1)
					longest.Store(max(longest.Load(), int64(time.Since(time.Unix(0, born.Load())))))
				} else {
					time.Sleep(100 * time.Millisecond) // refused at accept: dial again soon
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(500 * time.Millisecond)
	first := e.legitClonesOK(t, handshake+3*time.Second)
	time.Sleep(2 * handshake)
	second := e.legitClonesOK(t, handshake+3*time.Second)
	if d := time.Duration(longest.Load()); d > handshake+time.Second {
		t.Errorf("an attacking connection lived %v, handshake timeout %v", d, handshake)
	}
	peak := e.memoryOK(t)
	t.Logf("figures: SSH attack 4 with reconnects: %d attacker connections admitted, the longest lived %v; first %s; second %s; peak RSS %d MiB",
		admitted.Load(), time.Duration(longest.Load()).Round(time.Millisecond), e.legitFigures(first), e.legitFigures(second), peak)
}
