package e2e

import (
	"testing"
	"time"
)

// BenchmarkMergeToDeploy measures the time from Gerrit's submit returning
// to the gate serving the merged commit on deploy/prod, with the 1s poll the
// harness configures: the latency a platform team sees. Reported as
// ms/merge (mean) and max-ms.
//
//	go test ./e2e -run '^$' -bench MergeToDeploy -benchtime 20x
func BenchmarkMergeToDeploy(b *testing.B) {
	sim := newSim(b, "MERGE_IF_NECESSARY")
	g := startGate(b, sim.setup(reviewedPolicy))
	g.waitDeployed(project, "prod", sim.head())
	var total, worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sha := sim.mergeApproved("bench")
		start := time.Now()
		g.waitDeployed(project, "prod", sha)
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/merge")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
}
