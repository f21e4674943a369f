package e2e

// Attacks on the SSH listener (issue 9, attacks 2 and 4, and failed
// logins), run like attack_test.go's: from 127.0.0.2 and beyond while the
// legitimate reader clones from 127.0.0.1 over HTTP and SSH.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// sshOpen counts the connections the server has not closed, and of those
// the ones it greeted (sent bytes on: its banner, sent at accept) since
// the last call. What the server sent is read and dropped. (A read past
// its deadline fails before it looks at what is buffered, so each read
// gets its own.)
func sshOpen(conns []net.Conn) (open, greeted int) {
	var n, g atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 512)
			got := false
			for {
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				k, err := c.Read(buf)
				got = got || k > 0
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					n.Add(1)
					if got {
						g.Add(1)
					}
					return
				}
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return int(n.Load()), int(g.Load())
}

// storeMax raises a to v if v is larger, safely against other writers.
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// sshListenerBound is how many connections the SSH listener holds at once
// (README: "Each listener also holds at most 1,024 connections").
const sshListenerBound = 1024

// cut reads gerritgate_ssh_connections_cut_total for one reason.
func (e *attackEnv) cut(t *testing.T, reason string) int {
	t.Helper()
	n, _ := e.metric(t, fmt.Sprintf("gerritgate_ssh_connections_cut_total{reason=%q}", reason))
	return int(n)
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
	held, greeted := sshOpen(conns)
	measured := time.Since(start)
	// The attack is real only if it filled the listener: every slot taken
	// by a trickling connection the gate had accepted, and no more.
	if greeted != sshListenerBound && !baselineRun() {
		t.Errorf("the gate held %d trickling connections %v after they dialled (%d of %d open), want its listener full (%d)",
			greeted, measured.Round(time.Millisecond), held, len(conns), sshListenerBound)
	}
	got := e.legitClonesOK(t, handshake+3*time.Second)
	time.Sleep(time.Until(start.Add(handshake + 2*time.Second)))
	left, _ := sshOpen(conns)
	if left != 0 {
		t.Errorf("%d trickling connections still open %v after connecting, handshake timeout %v", left, time.Since(start).Round(time.Second), handshake)
	}
	if !baselineRun() {
		if n := e.cut(t, "handshake_timeout"); n < sshListenerBound {
			t.Errorf("the gate closed %d connections for the handshake timeout, want at least the %d it held", n, sshListenerBound)
		}
	}
	peak := e.memoryOK(t)
	t.Logf("figures: SSH attack 4: held %d of %d, open after handshake timeout %d, %s, peak RSS %d MiB",
		greeted, len(conns), left, e.legitFigures(got), peak)
}

// Attack 2 over SSH: 32 upload-pack sessions of one reader from one
// address that send one protocol v2 command git must answer
// (object-info: the advertisement and ls-refs come from memory and take
// no clone slot; gitssh's TestIdleUploadPackClosed and
// TestSSHStalledRequestHoldsNothing cover those) and then send nothing,
// but keep their connections alive with SSH keepalives. The fair limiter gives
// them a quarter of the clone slots (8: the others are refused busy, or
// their sessions are refused by the reader's session bound), the idle
// timeout ends every one that ran, and the legitimate clones go through
// meanwhile.
func TestAttackSSHIdleUploadPacks(t *testing.T) {
	const idle = 3 * time.Second
	const share = 8 // maxClonesPerReader: a quarter of maxConcurrentClones (32)
	e := startAttackEnv(t, gateSetup{sshExtra: "  idleTimeout: 3s\n"}, nil)
	var ran, busy, sessionRefused, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	fail := func(what string, err error) {
		failed.Add(1)
		mu.Lock()
		failures = append(failures, fmt.Sprintf("%s: %v", what, err))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	ended := make(chan time.Duration, 32)
	stop := make(chan struct{})
	var ready sync.WaitGroup // each session has its advertisement, or its refusal
	ready.Add(32)
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			var once sync.Once
			isReady := func() { once.Do(ready.Done) }
			defer isReady()
			cl, err := e.attackerSSH(attackerAddr)
			if err != nil {
				fail("login", err)
				return
			}
			defer cl.Close()
			s, err := cl.NewSession()
			if oe := (*gossh.OpenChannelError)(nil); errors.As(err, &oe) && oe.Reason == gossh.ResourceShortage {
				sessionRefused.Add(1)
				return
			}
			if err != nil {
				fail("session", err)
				return
			}
			if err := s.Setenv("GIT_PROTOCOL", "version=2"); err != nil {
				fail("setenv", err)
				return
			}
			stdin, _ := s.StdinPipe() // held open after the command
			defer stdin.Close()
			stdout, _ := s.StdoutPipe()
			var stderr strings.Builder
			s.Stderr = &stderr
			if err := s.Start("git-upload-pack 'platform/fleet.git'"); err != nil {
				fail("start", err)
				return
			}
			// object-info asking for nothing: git answers, then waits.
			io.WriteString(stdin, "0018command=object-info\n00010009size\n0000")
			var advertised atomic.Bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				// The answer's first pkt-line length, after the capabilities'
				// flush: upload-pack runs.
				if caps, err := readUntilFlush(stdout); err == nil && strings.Contains(caps, "object-info") {
					if _, err := io.ReadFull(stdout, make([]byte, 4)); err == nil {
						advertised.Store(true)
						ran.Add(1)
					}
				}
				isReady()
				io.Copy(io.Discard, stdout)
				s.Wait()
			}()
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					switch {
					case advertised.Load():
						ended <- time.Since(start)
					case strings.Contains(stderr.String(), "busy"):
						busy.Add(1)
					default:
						fail("upload-pack", fmt.Errorf("ended with neither an advertisement nor busy: %q", stderr.String()))
					}
					return
				case <-tick.C:
					cl.SendRequest("keepalive@openssh.com", true, nil)
				case <-stop: // still running
					cl.Close()
					<-done
					return
				}
			}
		})
	}
	ready.Wait() // every session holds its slot or was refused
	if !baselineRun() {
		if n := e.clonesInProgress(t); n != share {
			t.Errorf("%d clone slots taken while one reader's 32 sessions waited, want its share (%d)", n, share)
		}
	}
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
	n := ran.Load()
	if n != share || failed.Load() != 0 || n+busy.Load()+sessionRefused.Load() != 32 {
		t.Errorf("of 32 upload-packs of one reader: %d ran, %d refused busy, %d sessions refused, %d failed %q; want its share (%d) to run, the rest refused, none failed",
			n, busy.Load(), sessionRefused.Load(), failed.Load(), failures, share)
	}
	if int64(endedN) != n || last > idle+3*time.Second {
		t.Errorf("%d of %d silent sessions ended by themselves (the last after %v), idle timeout %v", endedN, n, last.Round(time.Millisecond), idle)
	}
	if !baselineRun() {
		if c := e.cut(t, "idle_timeout"); int64(c) != n {
			t.Errorf("the gate cut %d upload-packs for the idle timeout, want the %d that ran", c, n)
		}
	}
	peak := e.memoryOK(t)
	t.Logf("figures: SSH attack 2: 32 sessions: %d ran, %d refused busy, %d sessions refused, %d failed; the last ran %v; %s, peak RSS %d MiB",
		n, busy.Load(), sessionRefused.Load(), failed.Load(), last.Round(time.Millisecond), e.legitFigures(got), peak)
}

// readUntilFlush reads pkt-lines up to a flush and returns them.
func readUntilFlush(r io.Reader) (string, error) {
	var b strings.Builder
	for {
		hdr := make([]byte, 4)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return b.String(), err
		}
		n, err := strconv.ParseUint(string(hdr), 16, 16)
		if err != nil {
			return b.String(), err
		}
		if n == 0 {
			return b.String(), nil
		}
		data := make([]byte, max(int(n)-4, 0))
		if _, err := io.ReadFull(r, data); err != nil {
			return b.String(), err
		}
		b.Write(data)
	}
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
				storeMax(&slowest, int64(d))
			}
		})
		if i == 100 {
			e.legitClonesOK(t, 3*time.Second)
		}
	}
	wg.Wait()
	got := e.legitClonesOK(t, 3*time.Second)
	n := reached.Load()
	if n < 5 || n > 5+2*10 {
		t.Errorf("%d of 200 login attempts from one address reached authentication, want about maxFailedLogins (5) plus those in flight (10, and as many again while the server notes the failures)", n)
	}
	if !baselineRun() {
		// Every attempt that did not reach authentication was refused at
		// accept for the block, and each that did was a failed login.
		if b := e.cut(t, "blocked"); int64(b) != 200-n {
			t.Errorf("the gate refused %d connections at accept for failed logins, want the %d attempts that did not reach authentication", b, 200-n)
		}
		if f, _ := e.metric(t, "gerritgate_ssh_failed_logins_total"); int64(f) != n {
			t.Errorf("gerritgate_ssh_failed_logins_total %v, want the %d attempts that reached authentication", f, n)
		}
	}
	if d := time.Duration(slowest.Load()); d > time.Second {
		t.Errorf("a refused attempt took %v, want it quick", d)
	}
	if !strings.Contains(e.log.String(), "too many failed logins") {
		t.Errorf("the block is not logged")
	}
	t.Logf("figures: SSH failed logins: %d of 200 attempts reached authentication, slowest refusal %v, %s",
		n, time.Duration(slowest.Load()).Round(time.Millisecond), e.legitFigures(got))
}

// A reader's connections, sessions and the data they send before any
// command is read are bounded: each SSH session buffers up to 2 MiB
// (x/crypto/ssh's window) of what its client sends and the server has
// not read, so a reader opening many connections and sessions and filling
// each must not take the process's memory. One reader opens 64
// connections with 8 sessions each; the gate lets it have 16 sessions at
// once (twice maxClonesPerReader).
func TestAttackSSHSessionBuffers(t *testing.T) {
	const readerSessions = 16
	// The handshake timeout (no command runs) must not free a session
	// while the attack is still opening them, even under load.
	e := startAttackEnv(t, gateSetup{sshExtra: "  handshakeTimeout: 30s\n"}, nil)
	var wg sync.WaitGroup
	var sessions, tried atomic.Int64
	var clients []*gossh.Client
	var mu sync.Mutex
	for i := range 64 {
		wg.Go(func() {
			cl, err := e.attackerSSH(fmt.Sprintf("127.0.0.%d", 2+i%16))
			if err != nil {
				tried.Add(1)
				t.Errorf("attacker connection %d: %v", i, err)
				return
			}
			mu.Lock()
			clients = append(clients, cl)
			mu.Unlock()
			var writes []chan struct{}
			for range 8 {
				s, err := cl.NewSession()
				if err != nil {
					continue
				}
				sessions.Add(1)
				w, _ := s.StdinPipe()
				wrote := make(chan struct{})
				writes = append(writes, wrote)
				go func() { w.Write(make([]byte, 2<<20)); close(wrote) }() // blocks once the window is full
			}
			tried.Add(1)
			for _, wrote := range writes {
				<-wrote // until the client closes
			}
		})
	}
	waitFor(t, 30*time.Second, "the 64 attacking connections to try their 8 sessions", func() bool {
		return tried.Load() == 64
	})
	time.Sleep(time.Second) // the sessions' windows fill
	peak, now := memoryMiB(t, e.cmd.Process.Pid)
	got := e.legitClonesOK(t, 3*time.Second)
	opened := sessions.Load()
	mu.Lock()
	conns := len(clients)
	for _, cl := range clients {
		cl.Close()
	}
	mu.Unlock()
	wg.Wait()
	if conns != 64 || opened != readerSessions {
		t.Errorf("one reader with %d connections opened %d sessions, want 64 connections and %d sessions (twice maxClonesPerReader)", conns, opened, readerSessions)
	}
	if peak >= memoryBoundMiB {
		t.Errorf("gate's peak RSS %d MiB with %d sessions of one reader filled, bound %d MiB", peak, opened, memoryBoundMiB)
	}
	t.Logf("figures: SSH session buffers: %d connections, %d sessions opened by one reader, peak RSS %d MiB (now %d); %s",
		conns, opened, peak, now, e.legitFigures(got))
}

// Attack 4 with reconnects: the same 1,030 trickling connections, each
// dialled again as soon as the gate closes it. No connection outlives the
// handshake timeout, and clones started in the middle of the churn still
// get through.
func TestAttackSSHTrickleReconnecting(t *testing.T) {
	const handshake = 2 * time.Second
	e := startAttackEnv(t, gateSetup{sshExtra: "  handshakeTimeout: 2s\n"}, nil)
	stop := make(chan struct{})
	var longest, admitted, live, peakLive atomic.Int64
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
						storeMax(&peakLive, live.Add(1))
					}
					io.Copy(io.Discard, c)
					if n > 0 {
						live.Add(-1)
					}
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
					storeMax(&longest, int64(time.Since(time.Unix(0, born.Load()))))
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
	// The attack is real only if it filled the listener and was let in
	// again after the gate closed its connections.
	if p, a := peakLive.Load(), admitted.Load(); p < sshListenerBound || a <= p {
		t.Errorf("the gate let in %d attacking connections, at most %d at once; want its listener full (%d) and reconnects let in",
			a, p, sshListenerBound)
	}
	if d := time.Duration(longest.Load()); d > handshake+time.Second {
		t.Errorf("an attacking connection lived %v, handshake timeout %v", d, handshake)
	}
	peak := e.memoryOK(t)
	t.Logf("figures: SSH attack 4 with reconnects: %d attacker connections admitted, %d at once, the longest lived %v; first %s; second %s; peak RSS %d MiB",
		admitted.Load(), peakLive.Load(), time.Duration(longest.Load()).Round(time.Millisecond), e.legitFigures(first), e.legitFigures(second), peak)
}
