package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/mirror"
	"github.com/gerritgate/gerritgate/storage"
)

// restCalls is the gate's REST calls to Gerrit so far.
func restCalls(g *server) (float64, bool, error) {
	m, err := scrape(g)
	if err != nil {
		return 0, false, err
	}
	n, ok := m.sum("gerritgate_gerrit_requests_total", nil, nil)
	return n, ok, nil
}

// deployedAll says whether every environment of project on g is at want,
// as C git sees it.
func deployedAll(ctx context.Context, g *server, project, want string) (bool, error) {
	cmd := exec.CommandContext(ctx, "git", "ls-remote", g.url+"/"+project+".git", "refs/heads/deploy/*")
	cmd.Env = gitexec.Env()
	out, err := cmd.Output()
	if err != nil {
		return false, nil // not served yet
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		sha, _, _ := strings.Cut(line, "\t")
		if sha != want {
			return false, nil
		}
		n++
	}
	return n == len(environments), nil
}

// nudgeUntilDeployed nudges one poll of g and waits until every
// environment of the fleet is at tip.
func nudgeUntilDeployed(ctx context.Context, g *server, tip string, timeout time.Duration) error {
	if err := nudgeAndWait(ctx, g, timeout); err != nil {
		return err
	}
	return waitUntil(ctx, timeout, "every environment at "+tip[:12], func() (bool, error) { return deployedAll(ctx, g, fleet, tip) })
}

// waitIdle waits until s uses less than 20ms of CPU in 500ms (at most a
// minute), so that work it does in the background after a move (such as
// preparing a pack) is not counted in the next measurement.
func waitIdle(s *server) {
	prev, _ := s.cpu()
	for range 120 {
		time.Sleep(500 * time.Millisecond)
		now, _ := s.cpu()
		if now-prev < 20*time.Millisecond {
			return
		}
		prev = now
	}
}

// inOrder runs round i of gerritgate and of the reference: gerritgate
// first in even rounds, the reference in odd ones, so a drift of the
// machine's load favours neither.
func inOrder(i int, gate, ref func() error) error {
	if i%2 == 1 {
		gate, ref = ref, gate
	}
	if err := gate(); err != nil {
		return err
	}
	return ref()
}

// fleetSim is a simulated Gerrit whose platform/fleet holds the synthetic
// repository. Close its server.
func (b *bench) fleetSim(ctx context.Context) (*sim, error) {
	s, err := newSim(filepath.Join(b.work, "gerrit-fleet"))
	if err != nil {
		return nil, err
	}
	if err := s.createProject(fleet); err != nil {
		s.srv.Close()
		return nil, err
	}
	if err := s.adopt(ctx, fleet, b.synth); err != nil {
		s.srv.Close()
		return nil, err
	}
	return s, nil
}

// fleetFigures serves the synthetic repository as platform/fleet and
// measures ref checks, shallow clones, the burst and the mirror.
func (b *bench) fleetFigures(ctx context.Context) error {
	s, err := b.fleetSim(ctx)
	if err != nil {
		return err
	}
	defer s.srv.Close()
	gateDir := filepath.Join(b.work, "gate-fleet")
	b.logf("gerritgate mirrors and deploys the synthetic repository")
	g, err := startGate(ctx, b.bin, gateSetup{dir: gateDir, gerritURL: s.srv.URL(), password: s.password, policy: policy(fleet, b.synth.Tip)})
	if err != nil {
		return err
	}
	defer g.stop()
	if err := waitUntil(ctx, 30*time.Minute, "the first deploy of the synthetic repository", func() (bool, error) {
		return deployedAll(ctx, g, fleet, b.synth.Tip)
	}); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(g.log.Name()))
	}
	ref, err := startReference(ctx, filepath.Join(gateDir, "data", "served"), filepath.Join(b.work, "http-backend.log"))
	if err != nil {
		return err
	}
	defer ref.stop()
	if err := b.refCheckFigures(ctx, g, ref); err != nil {
		return err
	}
	if err := b.cloneFigure(ctx, s, g, ref); err != nil {
		return err
	}
	if err := b.burstFigure(ctx, s, g); err != nil {
		return err
	}
	return b.mirrorFigures(ctx, s)
}

func (b *bench) refCheckFigures(ctx context.Context, g, ref *server) error {
	b.logf("info/refs: %d clients, %d rounds of %s each", b.o.clients, b.o.rounds, b.o.checkFor)
	transport := func() *http.Transport {
		return &http.Transport{MaxIdleConnsPerHost: b.o.clients, MaxConnsPerHost: b.o.clients}
	}
	gtr, rtr := transport(), transport()
	defer gtr.CloseIdleConnections()
	defer rtr.CloseIdleConnections()
	var gs, rs []refCheckRun
	var rate, cpu []float64
	for i := range b.o.rounds {
		var gr, rr refCheckRun
		err := inOrder(i, func() (err error) {
			waitIdle(g)
			gr, err = refChecks(ctx, g, gtr, fleet, b.o.clients, b.o.checkFor)
			return err
		}, func() (err error) {
			waitIdle(ref)
			rr, err = refChecks(ctx, ref, rtr, fleet, b.o.clients, b.o.checkFor)
			return err
		})
		if err != nil {
			return err
		}
		gs, rs = append(gs, gr), append(rs, rr)
		rate = append(rate, ratio(gr.perSecond(), rr.perSecond()))
		cpu = append(cpu, ratio(float64(rr.cpuPerRequest()), float64(gr.cpuPerRequest())))
	}
	describe := func(runs []refCheckRun) string {
		return fmt.Sprintf("%s req/s, p99 %s, %s CPU/req",
			num(median(each(runs, refCheckRun.perSecond))),
			ms(median(each(runs, func(r refCheckRun) float64 { return float64(r.p99) }))),
			ms(median(each(runs, func(r refCheckRun) float64 { return float64(r.cpuPerRequest()) }))))
	}
	b.rows = append(b.rows, row{
		figure: fmt.Sprintf("`info/refs`, %d clients, v0", b.o.clients),
		gate:   describe(gs), reference: describe(rs),
		ratio: fmt.Sprintf("%s req/s, %s less CPU/req", times(median(rate)), times(median(cpu))),
		goal:  "within 2x of the from-memory figure; p99 < 20 ms",
	})
	share := func(runs []refCheckRun) string {
		var busy, all, errs int
		for _, r := range runs {
			busy, all, errs = busy+r.busy, all+r.answered()+r.errs, errs+r.errs
		}
		s := fmt.Sprintf("%.1f %% answered 503 (%s of %s)", 100*float64(busy)/float64(all), num(float64(busy)), num(float64(all)))
		if errs > 0 {
			s += fmt.Sprintf(", %d failed", errs)
		}
		return s
	}
	b.rows = append(b.rows, row{
		figure: "`info/refs` with the default `maxConcurrentClones: 32`, the same runs",
		gate:   share(gs), reference: share(rs), ratio: "—",
		goal: "0 %: a ref check never waits for a clone slot",
	})
	return nil
}

// cloneCPU is the server's CPU for one shallow clone of deploy/prod, the
// mean of n clones in a row: /proc counts CPU in ticks of 10 ms, coarser
// than one clone from the pack cache, so a single clone reads 0 or 10 ms.
func (b *bench) cloneCPU(ctx context.Context, s *server, n int) (time.Duration, error) {
	cpu0, err := s.cpu()
	if err != nil {
		return 0, err
	}
	for range n {
		dir, err := os.MkdirTemp(b.work, "clone-")
		if err != nil {
			return 0, err
		}
		cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", "--bare", "--depth", "1", "--single-branch", "--branch", "deploy/prod", s.url+"/"+fleet+".git", dir)
		cmd.Env = gitexec.Env()
		out, err := cmd.CombinedOutput()
		os.RemoveAll(dir)
		if err != nil {
			return 0, fmt.Errorf("shallow clone from %s: %v: %s", s.name, err, out)
		}
	}
	settle()
	cpu1, err := s.cpu()
	return (cpu1 - cpu0) / time.Duration(n), err
}

// repeatClones is how many clones the repeat figure is the mean of.
const repeatClones = 10

// cloneFigure: in each round one approved change is merged and deployed,
// then the new tip is cloned shallow from each server: once, then repeatClones
// times more.
func (b *bench) cloneFigure(ctx context.Context, sm *sim, g, ref *server) error {
	b.logf("shallow clones: %d rounds", b.o.rounds)
	type pair struct{ first, repeat time.Duration }
	var gs, rs []pair
	var ratios []float64
	for i := range b.o.rounds {
		tip, err := sm.mergeApproved(fleet)
		if err != nil {
			return err
		}
		if err := nudgeUntilDeployed(ctx, g, tip, 10*time.Minute); err != nil {
			return err
		}
		twice := func(s *server, into *[]pair) func() error {
			return func() error {
				waitIdle(s)
				first, err := b.cloneCPU(ctx, s, 1)
				if err != nil {
					return err
				}
				repeat, err := b.cloneCPU(ctx, s, repeatClones)
				*into = append(*into, pair{first, repeat})
				return err
			}
		}
		if err := inOrder(i, twice(g, &gs), twice(ref, &rs)); err != nil {
			return err
		}
		ratios = append(ratios, ratio(float64(rs[i].repeat), float64(gs[i].repeat)))
	}
	describe := func(ps []pair) string {
		f := median(each(ps, func(p pair) float64 { return float64(p.first) }))
		r := median(each(ps, func(p pair) float64 { return float64(p.repeat) }))
		return fmt.Sprintf("first %s, repeat %s CPU (mean of %d; first ÷ repeat = %s)", ms(f), ms(r), repeatClones, times(median(each(ps, func(p pair) float64 { return ratio(float64(p.first), float64(p.repeat)) }))))
	}
	b.rows = append(b.rows, row{
		figure: fmt.Sprintf("shallow clone of an unchanged tip (%s files), server CPU, first after an advance and repeated", num(float64(b.synth.Files))),
		gate:   describe(gs), reference: describe(rs),
		ratio: fmt.Sprintf("http-backend's repeat ÷ gerritgate's = %s", times(median(ratios))),
		goal:  "repeat ≥ 20x cheaper than the first; the first clone after an advance already prepared at advance time",
	})
	return nil
}

// burstFigure merges o.burst approved changes while the gate sleeps, then
// nudges it once and counts the REST calls it makes to bring every
// environment to the last of them. The messages it then posts on the
// changes (one post each, and a read of the change first when the gate
// cannot be sure it is not there yet) are counted apart.
func (b *bench) burstFigure(ctx context.Context, sm *sim, g *server) error {
	b.logf("burst: merging %d approved changes", b.o.burst)
	var tip string
	for range b.o.burst {
		var err error
		if tip, err = sm.mergeApproved(fleet); err != nil {
			return err
		}
	}
	m0, err := scrape(g)
	if err != nil {
		return err
	}
	if err := nudgeUntilDeployed(ctx, g, tip, 30*time.Minute); err != nil {
		return err
	}
	want := float64(b.o.burst * len(environments))
	var m1 metrics
	messages := func(m metrics) (float64, bool) {
		return m.sum("gerritgate_deploy_messages_total", nil, []string{`outcome="retried"`, `outcome="failed"`, `outcome="dropped"`})
	}
	if err := waitUntil(ctx, 10*time.Minute, "the deploy messages on the burst's changes", func() (bool, error) {
		var err error
		if m1, err = scrape(g); err != nil {
			return false, err
		}
		done, ok := messages(m1)
		start, _ := messages(m0)
		return !ok || done-start >= want, nil
	}); err != nil {
		return err
	}
	const calls = "gerritgate_gerrit_requests_total"
	total0, ok := m0.sum(calls, nil, nil)
	total1, _ := m1.sum(calls, nil, nil)
	// The messages' calls: their posts, and the reads of the change and
	// of the gate's own account the Poster makes when it cannot be sure
	// that a message is not there already (deploy.Poster).
	var forMessages float64
	for _, op := range []string{`op="post review"`, `op="get change"`, `op="get self"`} {
		n0, _ := m0.sum(calls, []string{op}, nil)
		n1, _ := m1.sum(calls, []string{op}, nil)
		forMessages += n1 - n0
	}
	msg0, _ := messages(m0)
	msg1, _ := messages(m1)
	cell := "n/a (no " + calls + ")"
	if ok {
		cell = fmt.Sprintf("%.0f REST calls (and %.0f more for the %.0f messages on the changes)", total1-total0-forMessages, forMessages, msg1-msg0)
	}
	b.rows = append(b.rows, row{
		figure: fmt.Sprintf("%d approved commits merged at once, %d environments", b.o.burst, len(environments)),
		gate:   cell, reference: "—", ratio: "—", goal: "≤ 4 REST calls in all",
	})
	return nil
}

// mirrorOnly is -mirror-only: the mirror's figures, without building or
// starting the gate, printed and not written into the docs (the table
// there has every figure).
func (b *bench) mirrorOnly(ctx context.Context, m machine, stdout io.Writer) error {
	b.logf("synthetic repository: %d files, %d commits (cache %s)", b.o.files, b.o.commits, b.o.cache)
	var err error
	if b.synth, err = synthesize(ctx, b.o.cache, b.o.files, b.o.commits); err != nil {
		return err
	}
	s, err := b.fleetSim(ctx)
	if err != nil {
		return err
	}
	defer s.srv.Close()
	if err := b.mirrorFigures(ctx, s); err != nil {
		return err
	}
	m.LoadEnd = loadAverage()
	fmt.Fprint(stdout, renderTable(m, b.o, b.synth, b.rows))
	return nil
}

// mirrorFigures fetch the synthetic repository from the simulated Gerrit
// with the mirror package (what the gate runs) and with C git, each into
// an empty repository and then again with nothing new.
func (b *bench) mirrorFigures(ctx context.Context, sm *sim) error {
	rounds := min(b.o.rounds, 3)
	b.logf("mirror: %d rounds", rounds)
	var initial, noop []float64
	var gi, gn, ri, rn []float64
	for i := range rounds {
		var gInit, gNoop, rInit, rNoop time.Duration
		err := inOrder(i, func() error {
			store, err := storage.Open(filepath.Join(b.work, fmt.Sprintf("mirror-%d", i)))
			if err != nil {
				return err
			}
			defer store.Close()
			defer os.RemoveAll(store.Dir())
			mr, err := mirror.New(store, mirror.Options{URL: sm.srv.URL(), Username: "gate", Password: sm.password})
			if err != nil {
				return err
			}
			fetch := func() (time.Duration, error) {
				t := time.Now()
				_, err := mr.Fetch(ctx, fleet)
				return time.Since(t), err
			}
			if gInit, err = fetch(); err != nil {
				return err
			}
			gNoop, err = fetch()
			return err
		}, func() error {
			dir := filepath.Join(b.work, fmt.Sprintf("cgit-%d.git", i))
			defer os.RemoveAll(dir)
			if out, err := gitexec.Command(ctx, dir, "init", "--quiet", "--bare").CombinedOutput(); err != nil {
				return fmt.Errorf("git init: %v: %s", err, out)
			}
			fetch := func() (time.Duration, error) {
				cmd := gitexec.Command(ctx, dir, "fetch", "--quiet", "--prune", "--no-tags", "--force", sm.srv.URL()+"/a/"+fleet, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
				cmd.Env = sm.gitAuthEnv()
				t := time.Now()
				out, err := cmd.CombinedOutput()
				if err != nil {
					return 0, fmt.Errorf("git fetch: %v: %s", err, out)
				}
				return time.Since(t), nil
			}
			var err error
			if rInit, err = fetch(); err != nil {
				return err
			}
			rNoop, err = fetch()
			return err
		})
		if err != nil {
			return err
		}
		initial = append(initial, ratio(float64(gInit), float64(rInit)))
		noop = append(noop, ratio(float64(gNoop), float64(rNoop)))
		gi, gn, ri, rn = append(gi, float64(gInit)), append(gn, float64(gNoop)), append(ri, float64(rInit)), append(rn, float64(rNoop))
	}
	b.rows = append(b.rows, row{
		figure: fmt.Sprintf("mirror: initial fetch of that repository (%s commits)", num(float64(b.synth.Count))),
		gate:   ms(median(gi)), reference: "C git `git fetch`: " + ms(median(ri)),
		ratio: times(median(initial)) + " C git's time", goal: "≤ 1.2x",
	}, row{
		figure: "mirror: no-op fetch",
		gate:   ms(median(gn)), reference: "C git `git fetch`: " + ms(median(rn)),
		ratio: times(median(noop)) + " C git's time", goal: "≤ 1.0x",
	})
	return nil
}

// pollFigure: o.projects projects of 3 environments each, all deployed and
// nothing changing; each round nudges one poll of the gate and fetches
// every project once with C git, one after another.
func (b *bench) pollFigure(ctx context.Context) error {
	n := b.o.projects
	b.logf("steady poll: creating %d projects", n)
	s, err := newSim(filepath.Join(b.work, "gerrit-many"))
	if err != nil {
		return err
	}
	defer s.srv.Close()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench/p%04d", i)
		if err := s.createProject(names[i]); err != nil {
			return err
		}
	}
	g, err := startGate(ctx, b.bin, gateSetup{dir: filepath.Join(b.work, "gate-many"), gerritURL: s.srv.URL(), password: s.password, policy: policy("bench/*", "upstream")})
	if err != nil {
		return err
	}
	defer g.stop()
	b.logf("steady poll: waiting for %d environments to be deployed", n*len(environments))
	// Each check is a nudged poll: the first poll created the deploy
	// branches, one more finds every environment up to date.
	if err := waitUntil(ctx, 30*time.Minute, "every environment up to date", func() (bool, error) {
		if err := nudgeAndWait(ctx, g, 30*time.Minute); err != nil {
			return false, err
		}
		var st struct {
			Environments []struct {
				Reason string `json:"reason"`
			} `json:"environments"`
		}
		if err := getJSON(g.url+"/api/v1/status", &st); err != nil {
			return false, err
		}
		up := 0
		for _, e := range st.Environments {
			if e.Reason == "UpToDate" {
				up++
			}
		}
		return up == n*len(environments), nil
	}); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(g.log.Name()))
	}
	b.logf("steady poll: C git clones of %d projects", n)
	clones := filepath.Join(b.work, "clones")
	for _, p := range names {
		cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", "--bare", s.srv.URL()+"/a/"+p, filepath.Join(clones, p+".git"))
		cmd.Env = s.gitAuthEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git clone %s: %v: %s", p, err, out)
		}
	}
	rss0, err := procRSS(g.pid())
	if err != nil {
		return err
	}
	rest0, restOK, err := restCalls(g)
	if err != nil {
		return err
	}
	b.logf("steady poll: %d rounds", b.o.rounds)
	var gd, rd, ratios []float64
	var rss []int64
	for i := range b.o.rounds {
		var gDur, rDur time.Duration
		err := inOrder(i, func() error {
			// The pack cache prepares clones of the tips the first
			// polls deployed in the background: not a steady poll's work.
			waitIdle(g)
			m0, err := scrape(g)
			if err != nil {
				return err
			}
			t := time.Now()
			if err := nudgeAndWait(ctx, g, 30*time.Minute); err != nil {
				return err
			}
			gDur = time.Since(t)
			m1, err := scrape(g)
			if err != nil {
				return err
			}
			// The gate's own measure of its poll when it has one: the
			// nudge's round trip adds up to 100ms of waiting.
			s0, ok0 := m0.sum("gerritgate_poll_duration_seconds_sum", nil, nil)
			s1, ok1 := m1.sum("gerritgate_poll_duration_seconds_sum", nil, nil)
			c0, _ := m0.sum("gerritgate_poll_duration_seconds_count", nil, nil)
			c1, _ := m1.sum("gerritgate_poll_duration_seconds_count", nil, nil)
			if ok0 && ok1 && c1 > c0 {
				gDur = time.Duration((s1 - s0) / (c1 - c0) * float64(time.Second))
			}
			r, err := procRSS(g.pid())
			rss = append(rss, r)
			return err
		}, func() error {
			t := time.Now()
			for _, p := range names {
				cmd := gitexec.Command(ctx, filepath.Join(clones, p+".git"), "fetch", "--quiet", "--prune", "--no-tags")
				cmd.Env = s.gitAuthEnv()
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("git fetch %s: %v: %s", p, err, out)
				}
			}
			rDur = time.Since(t)
			return nil
		})
		if err != nil {
			return err
		}
		gd, rd = append(gd, float64(gDur)), append(rd, float64(rDur))
		ratios = append(ratios, ratio(float64(gDur), float64(rDur)))
	}
	rest1, _, err := restCalls(g)
	if err != nil {
		return err
	}
	calls := "n/a REST calls"
	if restOK {
		calls = fmt.Sprintf("%.0f REST calls in %d polls", rest1-rest0, b.o.rounds)
	}
	mib := func(v int64) string { return fmt.Sprintf("%.0f", float64(v)/(1<<20)) }
	trail := make([]string, len(rss))
	for i, r := range rss {
		trail[i] = mib(r)
	}
	b.rows = append(b.rows, row{
		figure: fmt.Sprintf("steady poll, %s projects x %d environments, nothing changed", num(float64(n)), len(environments)),
		gate: fmt.Sprintf("%s a poll, %s, RSS %s MB before → %s MB after the polls (%s)",
			ms(median(gd)), calls, mib(rss0), mib(rss[len(rss)-1]), strings.Join(trail, ", ")),
		reference: "sequential C git fetch: " + ms(median(rd)),
		ratio:     times(median(ratios)) + " C git's time",
		goal:      "< 2 s (for 1,000), 0 REST calls, RSS flat and < 300 MB",
	})
	return nil
}
