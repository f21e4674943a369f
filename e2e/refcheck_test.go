package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// refCheck asks the gate for platform/fleet's refs as Flux does before
// each clone: GET info/refs (protocol v0) or a v2 ls-refs, over client's
// kept-alive connection. It returns the status and body.
func refCheck(client *http.Client, base string, v2 bool) (int, string, error) {
	req, _ := http.NewRequest("GET", base+"/"+project+".git/info/refs?service=git-upload-pack", nil)
	if v2 {
		pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
		body := pkt("command=ls-refs\n") + pkt("agent=git/2.39.5\n") + "0001" + pkt("peel\n") + pkt("symrefs\n") + pkt("ref-prefix refs/heads/deploy/prod\n") + "0000"
		req, _ = http.NewRequest("POST", base+"/"+project+".git/git-upload-pack", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		req.Header.Set("Git-Protocol", "version=2")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Ref checks never wait for a clone slot: 64 clients on one address (the
// default maxConcurrentClones is 32, a quarter of it per address) check
// refs at once, again and again, with the default config, and none is
// refused. Meanwhile the gate advances deploy/prod; a check begun after
// the status API reported the advance done shows the new commit.
func TestRefChecksNeverBusy(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy})
	first := sim.head()
	g.waitDeployed(project, "prod", first)

	// All from 127.0.0.2: the harness's own requests (from 127.0.0.1)
	// must not make a 65th connection from the address, which the default
	// maxConnectionsPerAddress (64) would refuse.
	const clients = 64
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}

	var (
		mu      sync.Mutex
		codes   = map[int]int{}
		errs    []string
		advance string    // the commit of the advance, once merged
		doneAt  time.Time // when the status API reported it done
		checks  int
	)
	stop := make(chan struct{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			<-start
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				want, after := advance, !doneAt.IsZero()
				mu.Unlock()
				code, body, err := refCheck(client, g.url, (i+n)%2 == 1)
				mu.Lock()
				checks++
				codes[code]++
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case code != 200:
					errs = append(errs, fmt.Sprintf("%d %s", code, strings.TrimSpace(body)))
				case !strings.Contains(body, first+" refs/heads/deploy/prod") && !(want != "" && strings.Contains(body, want+" refs/heads/deploy/prod")):
					errs = append(errs, fmt.Sprintf("deploy/prod advertised at neither %s nor the advance: %q", first, body))
				case after && !strings.Contains(body, want+" refs/heads/deploy/prod"):
					errs = append(errs, fmt.Sprintf("check begun after the advance was reported done shows the old commit: %q", body))
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	time.Sleep(time.Second)
	sha := sim.mergeApproved("advance while clients check refs")
	mu.Lock()
	advance = sha
	mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for g.env(project, "prod").To != sha {
		if time.Now().After(deadline) {
			t.Fatalf("deploy/prod not advanced to %s after 60s; status %+v", sha, g.env(project, "prod"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	doneAt = time.Now()
	mu.Unlock()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	if len(errs) > 0 {
		t.Errorf("%d of %d ref checks failed (statuses %v); the first: %s", len(errs), checks, codes, errs[0])
	}
	if checks < 2*clients {
		t.Errorf("only %d ref checks by %d clients", checks, clients)
	}
	if got := g.metrics(); strings.Contains(got, `outcome="busy"`) {
		t.Errorf("metrics count busy git requests:\n%s", grepLines(got, "gerritgate_git_requests_total"))
	}
	t.Logf("%d ref checks by %d clients, statuses %v", checks, clients, codes)
}
