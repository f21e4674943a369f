package e2e

import (
	"net/http"
	"slices"
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

// BenchmarkRefCheck measures one client's ref check (GET info/refs,
// protocol v0, as Flux asks) against the built binary over one kept-alive
// connection, the service's logging and listener bounds included.
// Reported as p50-ms and p99-ms besides ns/op.
//
//	go test ./e2e -run '^$' -bench RefCheck -benchtime 2000x
func BenchmarkRefCheck(b *testing.B) {
	sim := newSim(b, "MERGE_IF_NECESSARY")
	g := startGate(b, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy})
	g.waitDeployed(project, "prod", sim.head())
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		code, _, err := refCheck(client, g.url, false)
		if err != nil || code != 200 {
			b.Fatalf("ref check: %d, %v", code, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
