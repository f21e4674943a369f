package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	fluxgit "github.com/fluxcd/pkg/git"

	"github.com/gerritgate/gerritgate/access"
)

// series returns the value of one series in the gate's /metrics (0 if
// absent).
func (g *gateProc) series(name string) float64 {
	for _, line := range strings.Split(g.metrics(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return 0
}

// TestFluxCloneAfterAdvanceIsPrepared: after the gate advances deploy/prod,
// it prepares the depth-1 clone Flux will ask for in the background, so
// Flux's first clone of the new tip is answered from the pack cache
// (gerritgate_pack_cache_requests_total{outcome="hit"} counts it and no
// miss), and C git clones it too.
func TestFluxCloneAfterAdvanceIsPrepared(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	g.settle()
	bytesBefore := g.series("gerritgate_pack_cache_bytes")
	b := sim.mergeApproved("B")
	g.waitDeployed(project, "prod", b)
	g.settle()
	// Preparing runs in the background: wait until it has kept more and
	// stopped.
	last := -1.0
	waitFor(t, 60*time.Second, "the pack cache to prepare the new tip", func() bool {
		now := g.series("gerritgate_pack_cache_bytes")
		stable := now == last && now > bytesBefore
		last = now
		return stable
	})
	const hit, miss = `gerritgate_pack_cache_requests_total{outcome="hit"}`, `gerritgate_pack_cache_requests_total{outcome="miss"}`
	hits, misses := g.series(hit), g.series(miss)
	url := g.url + "/" + project + ".git"
	got, concrete, err := fluxClone(t, url, "deploy/prod", a, nil)
	if err != nil || got != b || !concrete {
		t.Fatalf("flux clone after the advance = %s concrete=%v err=%v, want %s", got, concrete, err, b)
	}
	if h, m := g.series(hit), g.series(miss); h != hits+1 || m != misses {
		t.Errorf("Flux's first clone after the advance: hits %v -> %v, misses %v -> %v; want one more hit and no miss", hits, h, misses, m)
	}
	dir := g.cloneServed(t, project, "--depth", "1", "-b", "deploy/prod")
	if out, _ := git(t, dir, "rev-parse", "HEAD"); strings.TrimSpace(out) != b {
		t.Errorf("C git clone = %q, want %s", out, b)
	}
}

// TestClonesOverSSHAfterAdvanceArePrepared: the clones the gate prepares
// after an advance serve SSH too: Flux's first clone over SSH of the new
// tip, and C git's (protocol v2, depth 1), are answered from the pack
// cache (one hit each, no miss) and are of the new tip, never the old.
func TestClonesOverSSHAfterAdvanceArePrepared(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	fluxR := newReader(t, "flux-prod")
	scrape, _, _ := access.NewToken()
	registerSecret(scrape)
	g := startAccessGate(t, sim, "readers:\n"+fluxR.entry(`"platform/fleet"`, "")+fmt.Sprintf("metrics:\n  tokens: [%q]\n", access.HashToken(scrape)))
	series := func(name string) float64 {
		_, body := g.get(t, "/metrics", scrape)
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		return 0
	}
	auth := &fluxgit.AuthOptions{Transport: fluxgit.SSH, Host: g.sshAddr, Username: "git", Identity: fluxR.keyPEM, KnownHosts: []byte(g.knownHosts)}
	a := sim.mergeApproved("A")
	g.waitDeployedAs(fluxR, project, a)
	if got, _, err := fluxClone(t, g.sshURL(project), "deploy/prod", "", auth); err != nil || got != a {
		t.Fatalf("Flux clone over SSH before the advance = %s, %v; want %s", got, err, a)
	}
	bytesBefore := series("gerritgate_pack_cache_bytes")
	b := sim.mergeApproved("B")
	g.waitDeployedAs(fluxR, project, b)
	last := -1.0
	waitFor(t, 60*time.Second, "the pack cache to prepare the new tip", func() bool {
		now := series("gerritgate_pack_cache_bytes")
		stable := now == last && now > bytesBefore
		last = now
		return stable
	})
	const hit, miss = `gerritgate_pack_cache_requests_total{outcome="hit"}`, `gerritgate_pack_cache_requests_total{outcome="miss"}`
	hits, misses := series(hit), series(miss)
	got, concrete, err := fluxClone(t, g.sshURL(project), "deploy/prod", a, auth)
	if err != nil || got != b || !concrete {
		t.Fatalf("Flux clone over SSH after the advance = %s concrete=%v err=%v, want %s", got, concrete, err, b)
	}
	if h, m := series(hit), series(miss); h != hits+1 || m != misses {
		t.Errorf("Flux's first clone over SSH after the advance: hits %v -> %v, misses %v -> %v; want one more hit and no miss", hits, h, misses, m)
	}
	dir := filepath.Join(t.TempDir(), "c")
	if out, err := g.sshGit(t, fluxR.keyFile, g.knownHosts, "-c", "protocol.version=2", "clone", "-q", "--depth", "1", "-b", "deploy/prod", g.sshURL(project), dir); err != nil {
		t.Fatalf("C git clone over SSH: %v\n%s", err, out)
	}
	if out, _ := git(t, dir, "rev-parse", "HEAD"); strings.TrimSpace(out) != b {
		t.Errorf("C git clone over SSH = %q, want %s", out, b)
	}
	if h, m := series(hit), series(miss); h != hits+2 || m != misses {
		t.Errorf("C git's v2 clone over SSH after the advance: hits %v -> %v, misses %v -> %v; want one more hit and no miss", hits+1, h, misses, m)
	}
}
