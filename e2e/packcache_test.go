package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
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
