package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Clones during advances: three C git clients over HTTP and three over SSH
// clone deploy/prod (shallow, as Flux does) without pause while the gate
// advances it 8 times, each advance copying 150 new files. Every clone
// succeeds and gets a commit that had passed the gate. The figures are in
// docs/reliability.md.
func TestClonesDuringAdvances(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: clones for as long as 8 advances take")
	}
	sim := newSim(t, "MERGE_IF_NECESSARY")
	flux := newReader(t, "flux")
	g := startAccessGateWith(t, sim, "readers:\n"+flux.entry(`"platform/fleet"`, ""), gateSetup{webhookSecret: "hook-" + randomHex(t, 16)})
	var mu sync.Mutex
	passed := map[string]bool{sim.head(): true}
	g.waitDeployedAs(flux, project, sim.head())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(g.knownHosts), 0o644)
	sshEnv := []string{"GIT_SSH_COMMAND=ssh -i " + flux.keyFile + " -o UserKnownHostsFile=" + kh + " -o IdentitiesOnly=yes -o BatchMode=yes"}

	stop := make(chan struct{})
	counts := map[string]int{}
	var failures []string
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		transport, url, env := "http", g.httpURL(flux, project), []string(nil)
		if i%2 == 1 {
			transport, url, env = "ssh", g.sshURL(project), sshEnv
		}
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				dst := filepath.Join(t.TempDir(), fmt.Sprintf("c%d", n))
				out, err := gitEnv(t, "", env, "clone", "-q", "--depth", "1", "-b", "deploy/prod", url, dst)
				head, _ := git(t, dst, "rev-parse", "HEAD")
				head = strings.TrimSpace(head)
				mu.Lock()
				counts[transport]++
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("%s clone: %v: %s", transport, err, out))
				case !passed[head]:
					failures = append(failures, fmt.Sprintf("%s clone got %s, which never passed the gate", transport, head))
				}
				mu.Unlock()
				os.RemoveAll(dst)
			}
		})
	}
	start := time.Now()
	for i := 0; i < 8; i++ {
		sha := sim.mergeApprovedFiles("advance", bigFiles(100+i, 150))
		mu.Lock()
		passed[sha] = true
		mu.Unlock()
		g.nudge()
		g.waitDeployedAs(flux, project, sha)
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if counts["http"] == 0 || counts["ssh"] == 0 {
		t.Errorf("clones made: %v; want some over each transport", counts)
	}
	t.Logf("figures: clones during advances: %d over HTTP and %d over SSH during 8 advances in %v, %d failed",
		counts["http"], counts["ssh"], took.Round(100*time.Millisecond), len(failures))
}
