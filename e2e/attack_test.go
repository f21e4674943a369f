package e2e

// Attacks on availability (issue 9). Each runs against the built binary
// from 127.0.0.2, with its own reader token where it needs one, while a
// legitimate reader clones deploy/prod from 127.0.0.1 with C git over HTTP
// and over SSH; the legitimate clones must all succeed, each within a few
// seconds of its unattacked time, and the gate must stay under its memory
// bound.
//
// GERRITGATE_E2E_BINARY=/path/to/an/older/gerritgate runs these tests
// against that binary instead, with no config keys it may not know: that
// is how docs/reliability.md measured the figures "before". They are
// expected to fail then; the figures are in the -v output ("figures:").

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/access"
)

// attackerAddr is where attacks come from; the legitimate reader uses
// 127.0.0.1.
const attackerAddr = "127.0.0.2"

// memoryBoundMiB is the bound the gate's peak RSS must stay under during
// an attack (README: request bodies in memory are bounded to 64 MiB).
const memoryBoundMiB = 256

// attackEnv is a gate with HTTP, SSH and two readers of platform/fleet:
// flux (legitimate) and attacker.
type attackEnv struct {
	*accessGate
	flux, evil reader
	scrape     string // metrics token
	sha        string
	base       map[string]time.Duration // unattacked clone time per transport
}

// baselineRun reports whether the tests run against an older binary.
func baselineRun() bool { return os.Getenv("GERRITGATE_E2E_BINARY") != "" }

// startAttackEnv starts the gate with setup's config and deploys a commit
// with files (nil: a small one).
func startAttackEnv(t *testing.T, setup gateSetup, files map[string]string) *attackEnv {
	t.Helper()
	scrape, _, _ := access.NewToken()
	registerSecret(scrape)
	metricsEntry := fmt.Sprintf("metrics:\n  tokens: [%q]\n", access.HashToken(scrape))
	if baselineRun() {
		setup, metricsEntry = gateSetup{}, ""
	}
	sim := newSim(t, "MERGE_IF_NECESSARY")
	flux, evil := newReader(t, "flux"), newReader(t, "attacker")
	g := startAccessGateWith(t, sim, "readers:\n"+flux.entry(`"platform/fleet"`, "")+evil.entry(`"platform/fleet"`, "")+metricsEntry, setup)
	e := &attackEnv{accessGate: g, flux: flux, evil: evil, scrape: scrape, sha: sim.mergeApprovedFiles("A", files)}
	g.waitDeployedAs(flux, project, e.sha)
	e.base = map[string]time.Duration{}
	for _, tr := range []string{"http", "ssh"} {
		e.clone(t, tr, 20*time.Second) // warm up
		d, err := e.clone(t, tr, 20*time.Second)
		if err != nil {
			t.Fatalf("unattacked %s clone: %v", tr, err)
		}
		e.base[tr] = d
	}
	return e
}

// clone clones deploy/prod as flux over one transport, bounded by limit,
// and checks what it got.
func (e *attackEnv) clone(t *testing.T, transport string, limit time.Duration) (time.Duration, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "c")
	url, env := e.httpURL(e.flux, project), []string(nil)
	if transport == "ssh" {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(kh, []byte(e.knownHosts), 0o644)
		url = e.sshURL(project)
		env = []string{"GIT_SSH_COMMAND=ssh -i " + e.flux.keyFile + " -o UserKnownHostsFile=" + kh +
			" -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "clone", "-q", "--depth", "1", "-b", "deploy/prod", url, dst)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}, env...)
	cmd.WaitDelay = 2 * time.Second // git-remote-http or ssh may outlive a killed git
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%v after %v: %s", err, d.Round(time.Millisecond), out)
	}
	if head, _ := git(t, dst, "rev-parse", "HEAD"); strings.TrimSpace(head) != e.sha {
		return d, fmt.Errorf("cloned %q, want %s", head, e.sha)
	}
	return d, nil
}

// legitClonesOK clones deploy/prod as the legitimate reader over HTTP and
// over SSH, at the same time, and fails the test unless each succeeds
// within slack of its unattacked time. It returns the times taken.
func (e *attackEnv) legitClonesOK(t *testing.T, slack time.Duration) map[string]time.Duration {
	t.Helper()
	got := map[string]time.Duration{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, tr := range []string{"http", "ssh"} {
		wg.Go(func() {
			d, err := e.clone(t, tr, e.base[tr]+slack+5*time.Second)
			mu.Lock()
			defer mu.Unlock()
			got[tr] = d
			switch {
			case err != nil:
				t.Errorf("legitimate %s clone under attack: %v", tr, err)
			case d > e.base[tr]+slack:
				t.Errorf("legitimate %s clone under attack took %v, unattacked %v: more than %v slower", tr, d, e.base[tr], slack)
			}
		})
	}
	wg.Wait()
	return got
}

// healthOK fails unless /healthz answers from 127.0.0.1 within a second.
func (e *attackEnv) healthOK(t *testing.T) {
	t.Helper()
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(e.url + "/healthz")
	if err != nil {
		t.Errorf("/healthz under attack: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz under attack: %d", resp.StatusCode)
	}
}

// dialAttacker connects to addr from the attacker's address.
func dialAttacker(addr string) (net.Conn, error) { return dialFromAddr(attackerAddr, addr) }

func dialFromAddr(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// memoryMiB returns the peak (VmHWM) and current (VmRSS) resident set of
// a process, in MiB.
func memoryMiB(t testing.TB, pid int) (peak, now int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmHWM:":
			peak = kb / 1024
		case "VmRSS:":
			now = kb / 1024
		}
	}
	return peak, now
}

// memoryOK fails unless the gate's peak RSS is under memoryBoundMiB.
func (e *attackEnv) memoryOK(t *testing.T) (peak int) {
	t.Helper()
	peak, _ = memoryMiB(t, e.cmd.Process.Pid)
	if peak >= memoryBoundMiB {
		t.Errorf("gate's peak RSS %d MiB, bound %d MiB", peak, memoryBoundMiB)
	}
	return peak
}

// stillOpen counts the connections the server has not closed.
func stillOpen(conns []net.Conn) int {
	n := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			n++
		}
	}
	return n
}

// attackerConns opens n connections to addr from the attacker's address
// and sends first on each.
func attackerConns(t *testing.T, addr string, n int, first string) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c, err := dialAttacker(addr)
		if err != nil {
			closeAll(conns)
			t.Fatal(err)
		}
		io.WriteString(c, first)
		conns = append(conns, c)
	}
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// Attack 1: 1,030 keep-alive connections from one address, each after one
// GET /healthz, then silence. At most maxConnectionsPerAddress of them get
// in, idle ones are closed after the idle timeout, and HTTP (git and
// /healthz) stays up for everyone else.
func TestAttackIdleKeepAlives(t *testing.T) {
	const idle = 3 * time.Second
	e := startAttackEnv(t, gateSetup{httpExtra: "  idleTimeout: 3s\n"}, nil)
	conns := idleKeepAlives(strings.TrimPrefix(e.url, "http://"), []string{attackerAddr}, 1030)
	defer closeAll(conns)
	start := time.Now() // every held connection has had its answer: idle from here
	held := stillOpen(conns)
	if held == 0 || held > 64 {
		t.Errorf("%d idle connections held from one address, want between 1 and maxConnectionsPerAddress (64)", held)
	}
	e.healthOK(t)
	got := e.legitClonesOK(t, 3*time.Second)
	time.Sleep(time.Until(start.Add(idle + 2*time.Second)))
	left := stillOpen(conns)
	if left != 0 {
		t.Errorf("%d idle connections still open %v after their request, idle timeout %v", left, time.Since(start).Round(time.Second), idle)
	}
	peak := e.memoryOK(t)
	t.Logf("figures: attack 1: held %d of 1030, open after idle timeout %d, legit clone http %v (unattacked %v) ssh %v (unattacked %v), peak RSS %d MiB",
		held, left, got["http"].Round(time.Millisecond), e.base["http"].Round(time.Millisecond), got["ssh"].Round(time.Millisecond), e.base["ssh"].Round(time.Millisecond), peak)
}

// postFromAttacker starts a POST git-upload-pack from the attacker's
// address with its token, declaring contentLength, and sends body.
func (e *attackEnv) postFromAttacker(extraHeaders string, contentLength int, body []byte) (net.Conn, error) {
	return attackerPost(e.url, e.evil.token, extraHeaders, contentLength, body)
}

// attackerPost starts a POST git-upload-pack of platform/fleet on the gate
// at base from the attacker's address with a token.
func attackerPost(base, token, extraHeaders string, contentLength int, body []byte) (net.Conn, error) {
	c, err := dialAttacker(strings.TrimPrefix(base, "http://"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "POST /%s.git/git-upload-pack HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/x-git-upload-pack-request\r\n%sContent-Length: %d\r\n\r\n", project, token, extraHeaders, contentLength)
	c.Write(body)
	return c, nil
}

// Attack 2 (HTTP): 32 POSTs to git-upload-pack that declare a 100 KB body,
// send a few bytes and stall. No clone slot is taken before the body is
// read, so clones go on; each staller gets 408 after the body timeout.
func TestAttackStalledUploadPackBodies(t *testing.T) {
	const bodyTimeout = 8 * time.Second
	e := startAttackEnv(t, gateSetup{httpExtra: "  bodyTimeout: 8s\n"}, nil)
	var conns []net.Conn
	for i := 0; i < 32; i++ {
		c, err := e.postFromAttacker("", 100_000, []byte("0032want "))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer closeAll(conns)
	start := time.Now()
	time.Sleep(300 * time.Millisecond) // the requests have reached the handler
	e.healthOK(t)
	got := e.legitClonesOK(t, 3*time.Second)
	timedOut := 0
	for _, c := range conns {
		c.SetReadDeadline(start.Add(bodyTimeout + 5*time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil && resp.StatusCode == http.StatusRequestTimeout {
			timedOut++
		}
	}
	if timedOut != 32 {
		t.Errorf("%d of 32 stalled bodies answered 408 within %v", timedOut, bodyTimeout+5*time.Second)
	}
	peak := e.memoryOK(t)
	t.Logf("figures: attack 2 (http): 32 stalled bodies, %d answered 408 after the body timeout, legit clone http %v (unattacked %v) ssh %v (unattacked %v), peak RSS %d MiB",
		timedOut, got["http"].Round(time.Millisecond), e.base["http"].Round(time.Millisecond), got["ssh"].Round(time.Millisecond), e.base["ssh"].Round(time.Millisecond), peak)
}

// gzipBomb is 64 MiB of "0" (pkt-line flushes) gzipped: about 65 KB.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := bytes.Repeat([]byte("0"), 1<<20)
	for i := 0; i < 64; i++ {
		zw.Write(chunk)
	}
	zw.Close()
	return b.Bytes()
}

// sendBombs sends n gzip bombs at once from the attacker to the gate at
// base and returns the statuses they got.
func sendBombs(base, token string, bomb []byte, n int) map[int]int {
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() {
			code := 0
			if c, err := attackerPost(base, token, "Content-Encoding: gzip\r\n", len(bomb), bomb); err == nil {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					code = resp.StatusCode
				}
				c.Close()
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

// Attack 3: 32 gzip bodies of 65 KB that inflate to 64 MiB each, at once
// and again, while the legitimate reader clones. Each is refused at the
// per-request bound (413) or for want of buffer room (503), and the gate
// stays under its memory bound.
func TestAttackGzipBombs(t *testing.T) {
	e := startAttackEnv(t, gateSetup{}, nil)
	bomb := gzipBomb(t)
	var codes []map[int]int
	var got map[string]time.Duration
	var wg sync.WaitGroup
	for round := 0; round < 3; round++ {
		if round == 1 {
			wg.Go(func() { got = e.legitClonesOK(t, 3*time.Second) })
		}
		codes = append(codes, sendBombs(e.url, e.evil.token, bomb, 32))
	}
	wg.Wait()
	for i, c := range codes {
		if c[413]+c[503] != 32 {
			t.Errorf("round %d: statuses %v, want every bomb refused with 413 or 503", i+1, c)
		}
	}
	peak := e.memoryOK(t)
	_, now := memoryMiB(t, e.cmd.Process.Pid)
	t.Logf("figures: attack 3: 3 rounds of 32 bombs of %d KB, statuses %v, legit clone http %v (unattacked %v) ssh %v (unattacked %v), peak RSS %d MiB, RSS after %d MiB",
		len(bomb)/1000, codes, got["http"].Round(time.Millisecond), e.base["http"].Round(time.Millisecond), got["ssh"].Round(time.Millisecond), e.base["ssh"].Round(time.Millisecond), peak, now)
}

// Attack 3 on `gerritgate demo`, the simulated Gerrit in the same process:
// 32 gzip bombs at once, three times, while the demo's clone commands are
// run; the process stays well under 512 MiB.
func TestAttackGzipBombsOnDemo(t *testing.T) {
	useBinary(t)
	cmd := exec.Command(binary, "demo", "--dir", t.TempDir(), "--listen", freeAddr(t), "--ssh-listen", freeAddr(t))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	clones := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for len(clones) < 2 && sc.Scan() {
		for tr, prefix := range map[string]string{"http": "over HTTP:  ", "ssh": "over SSH:   "} {
			if _, c, ok := strings.Cut(sc.Text(), prefix); ok {
				clones[tr] = c
			}
		}
	}
	go io.Copy(io.Discard, stdout)
	m := regexp.MustCompile(`http://demo:([^@]+)@([^/]+)/`).FindStringSubmatch(clones["http"])
	if m == nil {
		t.Fatalf("no HTTP clone command with a token in the demo's output: %q", clones)
	}
	registerSecret(m[1])
	base := "http://" + m[2]
	bomb := gzipBomb(t)
	// The demo's deploy/prod starts once staging has held its first
	// commit for the soak (20s): wait until a clone works.
	waitFor(t, 60*time.Second, "the demo to serve deploy/prod", func() bool {
		_, err := exec.Command("bash", "-c", clones["http"]+" "+filepath.Join(t.TempDir(), "c")).CombinedOutput()
		return err == nil
	})
	var wg sync.WaitGroup
	var codes []map[int]int
	for round := 0; round < 3; round++ {
		if round == 1 {
			for tr, c := range clones {
				wg.Go(func() {
					if out, err := exec.Command("bash", "-c", c+" "+filepath.Join(t.TempDir(), tr)).CombinedOutput(); err != nil {
						t.Errorf("demo %s clone under attack: %v\n%s", tr, err, out)
					}
				})
			}
		}
		codes = append(codes, sendBombs(base, m[1], bomb, 32))
	}
	wg.Wait()
	peak, now := memoryMiB(t, cmd.Process.Pid)
	if peak >= memoryBoundMiB {
		t.Errorf("demo's peak RSS %d MiB, bound %d MiB", peak, memoryBoundMiB)
	}
	t.Logf("figures: attack 3 on the demo: statuses %v, peak RSS %d MiB, RSS after %d MiB", codes, peak, now)
}

// clonesInProgress reads gerritgate_clones_in_progress (-1 if absent).
func (e *attackEnv) clonesInProgress(t *testing.T) int {
	t.Helper()
	n, ok := e.metric(t, "gerritgate_clones_in_progress")
	if !ok {
		return -1
	}
	return int(n)
}

// metric reads one series from /metrics, named as Prometheus writes it
// (`name` or `name{label="value"}`), and says whether it was there.
func (e *attackEnv) metric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+e.scrape)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %s: %v", series, err)
			}
			return n, true
		}
	}
	return 0, false
}

// randomFiles is n files of size random (incompressible) bytes, base64.
func randomFiles(n, size int) map[string]string {
	files := map[string]string{}
	for i := 0; i < n; i++ {
		b := make([]byte, size*3/4)
		rand.Read(b)
		files[fmt.Sprintf("blobs/b%d", i)] = base64.StdEncoding.EncodeToString(b)
	}
	return files
}

// Slow readers: 32 clones of a 32 MB deploy branch from the attacker that
// never read the pack. One reader holds at most maxClonesPerReader slots,
// so the legitimate reader clones on; and a response nobody reads for the
// stall timeout is cut off, giving its slot back.
func TestAttackSlowReaders(t *testing.T) {
	const stall = 2 * time.Second
	e := startAttackEnv(t, gateSetup{httpExtra: "  stallTimeout: 2s\n"}, randomFiles(4, 8<<20))
	want := fmt.Sprintf("%04x", len("want "+e.sha+" side-band-64k\n")+4) + "want " + e.sha + " side-band-64k\n" + "0000" + "0009done\n"
	var conns []net.Conn
	refused := 0
	start := time.Now()
	for i := 0; i < 32; i++ {
		c, err := e.postFromAttacker("", len(want), []byte(want))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer closeAll(conns)
	time.Sleep(500 * time.Millisecond)
	held := e.clonesInProgress(t)
	got := e.legitClonesOK(t, 3*time.Second)
	// Refused ones were answered at once (503); count them by peeking.
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		b := make([]byte, 12)
		if n, _ := io.ReadFull(c, b); n == 12 && string(b) == "HTTP/1.1 503" {
			refused++
		}
	}
	if !baselineRun() && (held < 1 || held > 8) {
		t.Errorf("%d clone slots held by one reader, want between 1 and maxClonesPerReader (8)", held)
	}
	waitFor(t, stall+10*time.Second, "the stalled clones to be cut off", func() bool { return e.clonesInProgress(t) <= 0 })
	peak := e.memoryOK(t)
	t.Logf("figures: slow readers: 32 clones of %d MiB not read, %d slots held, %d refused at once (503), slots free %v after the attack began, legit clone http %v (unattacked %v) ssh %v (unattacked %v), peak RSS %d MiB",
		32, held, refused, time.Since(start).Round(100*time.Millisecond), got["http"].Round(time.Millisecond), e.base["http"].Round(time.Millisecond), got["ssh"].Round(time.Millisecond), e.base["ssh"].Round(time.Millisecond), peak)
}

// idleKeepAlives opens n connections to addr from each of srcs, sends one
// GET /healthz on each and returns those that got an answer, left idle.
func idleKeepAlives(addr string, srcs []string, n int) []net.Conn {
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for _, src := range srcs {
		for i := 0; i < n; i++ {
			wg.Go(func() {
				c, err := dialFromAddr(src, addr)
				if err != nil {
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: gate\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					c.Close()
					return
				}
				resp.Body.Close()
				c.SetDeadline(time.Time{})
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return conns
}

// Attack 1 from many addresses: 20 addresses with 60 idle keep-alive
// connections each (1,200, past the listener's 1,024, each address under
// its own bound). The idle timeout is the default minute, yet new clients
// get in at once: a full listener closes its oldest idle connection.
func TestAttackIdleKeepAlivesManyAddresses(t *testing.T) {
	e := startAttackEnv(t, gateSetup{}, nil)
	var srcs []string
	for i := 2; i < 22; i++ {
		srcs = append(srcs, fmt.Sprintf("127.0.0.%d", i))
	}
	conns := idleKeepAlives(strings.TrimPrefix(e.url, "http://"), srcs, 60)
	defer closeAll(conns)
	e.healthOK(t)
	got := e.legitClonesOK(t, 3*time.Second)
	peak := e.memoryOK(t)
	t.Logf("figures: attack 1 from 20 addresses: %d of 1200 idle connections answered, legit clone http %v (unattacked %v) ssh %v (unattacked %v), peak RSS %d MiB",
		len(conns), got["http"].Round(time.Millisecond), e.base["http"].Round(time.Millisecond), got["ssh"].Round(time.Millisecond), e.base["ssh"].Round(time.Millisecond), peak)
}

// Headers: 64 connections that trickle a request's headers a byte at a
// time are closed after the header timeout however much they send, and a
// request with 100 KB of headers is refused (431) without being read on.
func TestAttackSlowAndHugeHeaders(t *testing.T) {
	const headerTimeout = 2 * time.Second
	e := startAttackEnv(t, gateSetup{httpExtra: "  readHeaderTimeout: 2s\n"}, nil)
	addr := strings.TrimPrefix(e.url, "http://")
	conns := attackerConns(t, addr, 64, "")
	defer closeAll(conns)
	start := time.Now()
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		line := "GET /healthz HTTP/1.1\r\nX-Slow: " + strings.Repeat("a", 1000)
		for i := 0; ; i++ {
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				c.Write([]byte{line[i%len(line)]})
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	got := e.legitClonesOK(t, 3*time.Second)
	time.Sleep(time.Until(start.Add(headerTimeout + 2*time.Second)))
	close(stop)
	<-trickled
	left := stillOpen(conns)
	if left != 0 {
		t.Errorf("%d of 64 trickling connections still open %v after connecting, header timeout %v", left, time.Since(start).Round(100*time.Millisecond), headerTimeout)
	}

	c, err := dialAttacker(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: gate\r\nX-Big: %s\r\n\r\n", strings.Repeat("b", 100_000))
	code := 0
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		code = resp.StatusCode
	}
	if code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KB of headers: %d, want 431", code)
	}
	peak := e.memoryOK(t)
	t.Logf("figures: headers: 64 trickling connections, %d open after the header timeout; 100 KB headers answered %d; legit clone http %v (unattacked %v) ssh %v (unattacked %v), peak RSS %d MiB",
		left, code, got["http"].Round(time.Millisecond), e.base["http"].Round(time.Millisecond), got["ssh"].Round(time.Millisecond), e.base["ssh"].Round(time.Millisecond), peak)
}

// The stall timeout bounds each write, not the connection: a keep-alive
// connection that was sent a pack can serve another request after longer
// than the stall timeout.
func TestStallTimeoutSparesKeepAlive(t *testing.T) {
	e := startAttackEnv(t, gateSetup{httpExtra: "  stallTimeout: 1s\n"}, nil)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	want := fmt.Sprintf("%04x", len("want "+e.sha+"\n")+4) + "want " + e.sha + "\n" + "0000" + "0009done\n"
	for i, req := range []string{
		fmt.Sprintf("POST /%s.git/git-upload-pack HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: %d\r\n\r\n%s", project, e.flux.token, len(want), want),
		"GET /healthz HTTP/1.1\r\nHost: gate\r\n\r\n",
	} {
		if i > 0 {
			time.Sleep(1500 * time.Millisecond)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on the kept-alive connection: %v", i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("request %d: %d %v %.60q", i+1, resp.StatusCode, err, body)
		}
	}
}

// Stalled bodies on the API: 32 POSTs to /api/v1/hooks/gerrit declaring
// 100 KB and stalling. net/http would read an unread body after the
// handler without end; the whole request must arrive within the body
// timeout, so the connections are closed.
func TestAttackStalledAPIBodies(t *testing.T) {
	const bodyTimeout = 2 * time.Second
	e := startAttackEnv(t, gateSetup{httpExtra: "  bodyTimeout: 2s\n"}, nil)
	conns := attackerConns(t, strings.TrimPrefix(e.url, "http://"), 32,
		"POST /api/v1/hooks/gerrit HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"type\":")
	defer closeAll(conns)
	start := time.Now()
	got := e.legitClonesOK(t, 3*time.Second)
	time.Sleep(time.Until(start.Add(bodyTimeout + 2*time.Second)))
	left := stillOpen(conns)
	if left != 0 {
		t.Errorf("%d of 32 stalled API requests still open %v in, body timeout %v", left, time.Since(start).Round(100*time.Millisecond), bodyTimeout)
	}
	t.Logf("figures: stalled API bodies: %d of 32 open after the body timeout, legit clone http %v (unattacked %v) ssh %v (unattacked %v)",
		left, got["http"].Round(time.Millisecond), e.base["http"].Round(time.Millisecond), got["ssh"].Round(time.Millisecond), e.base["ssh"].Round(time.Millisecond))
}
