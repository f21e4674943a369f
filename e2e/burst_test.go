package e2e

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threeEnvPolicy gates platform/fleet with dev, staging and prod, each
// from baseline, none after another: one poll decides all three.
func threeEnvPolicy(baseline string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "repos:\n  - project: %s\n    branch: main\n    environments:\n", project)
	for _, env := range []string{"dev", "staging", "prod"} {
		fmt.Fprintf(&b, "      - {name: %s, policy: reviewed, baseline: %s}\n", env, baseline)
	}
	b.WriteString("policies:\n  reviewed:\n    labels: {Code-Review: {min: 2}, Verified: {min: 1}}\n    vetoes: {Code-Review: -2}\n")
	return b.String()
}

// counters reads the samples of one metric from the gate's /metrics, by
// their labels as printed ({op="query changes",outcome="ok"}).
func (g *gateProc) counters(name string) map[string]float64 {
	g.t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(g.metricsText()))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		labels, value := rest[:i], rest[i+1:]
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			g.t.Fatalf("metric line %q: %v", line, err)
		}
		out[labels] = v
	}
	return out
}

func diff(after, before map[string]float64) (map[string]float64, float64) {
	d := map[string]float64{}
	var sum float64
	for k, v := range after {
		if n := v - before[k]; n != 0 {
			d[k] = n
			sum += n
		}
	}
	return d, sum
}

// 50 approved changes merged at once reach dev, staging and prod in one
// nudged poll of the built binary with at most 4 REST calls in all (one
// question shared by the environments, one re-read right before each
// move), counted by its own /metrics; the 150 deploy messages after it
// cost one call each (the post: the gate posted everything before them
// itself, so nothing can be there twice); the poll after, nothing
// changed, makes none.
func TestBurstThroughBinaryCostsFewRESTCalls(t *testing.T) {
	const merges = 50
	envs := []string{"dev", "staging", "prod"}
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: threeEnvPolicy(sim.head()),
		poll: "@every 1h", webhookSecret: "hook-" + randomHex(t, 16)})
	for _, env := range envs {
		g.waitDeployed(project, env, sim.head()) // the first poll, at start
	}
	waitFor(t, 60*time.Second, "the first poll to end", func() bool { return g.status().Polls >= 1 })
	var head string
	for i := range merges {
		head = sim.mergeApproved(fmt.Sprintf("burst %d", i))
	}
	const calls = "gerritgate_gerrit_requests_total"
	before, polls := g.counters(calls), g.status().Polls
	g.nudge()
	for _, env := range envs {
		g.waitDeployed(project, env, head)
	}
	waitFor(t, 60*time.Second, "the nudged poll to end", func() bool { return g.status().Polls > polls })
	posted := func() float64 { return g.counters("gerritgate_deploy_messages_total")[`{outcome="posted"}`] }
	waitFor(t, 2*time.Minute, "the deploy messages", func() bool { return posted() >= float64(merges*len(envs)) })
	got, _ := diff(g.counters(calls), before)
	var deciding, messages float64
	for labels, n := range got {
		if strings.Contains(labels, `op="post review"`) {
			messages += n
		} else {
			deciding += n
		}
	}
	if deciding > 4 {
		t.Errorf("the burst of %d merges, 3 environments, cost %v REST calls besides the messages' posts, want at most 4; by call: %v", merges, deciding, got)
	}
	if want := float64(merges * len(envs)); messages != want || posted() != want {
		t.Errorf("the %v deploy messages (%v posted) cost %v posts, want one each; by call: %v", want, posted(), messages, got)
	}
	t.Logf("burst of %d merges, 3 environments: REST calls by call %v", merges, got)

	before, polls = g.counters(calls), g.status().Polls
	g.nudge()
	waitFor(t, 60*time.Second, "the poll after the burst", func() bool { return g.status().Polls > polls })
	if got, n := diff(g.counters(calls), before); n != 0 {
		t.Errorf("the poll after the burst, nothing changed, made %v REST calls (%v), want none", n, got)
	}
}
