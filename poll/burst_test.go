package poll_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror"
	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
	"github.com/gerritgate/gerritgate/poll"
	"github.com/gerritgate/gerritgate/storage"
)

// burst is a gate on one project of the simulated Gerrit with three
// environments, counting its REST calls by operation.
type burst struct {
	srv    *gerrittest.Server
	poller *poll.Poller
	board  *board
	bob    gate.Account
	alice  gate.Account
	mu     sync.Mutex
	calls  map[string]int
}

const burstProject = "platform/fleet"

func newBurst(tb testing.TB) *burst {
	tb.Helper()
	srv, err := gerrittest.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	b := &burst{srv: srv, board: &board{results: map[string]deploy.Result{}}, calls: map[string]int{}}
	srv.SetCredentials("gate", "gate-secret")
	b.alice, b.bob = srv.AddAccount("alice"), srv.AddAccount("bob")
	if err := srv.CreateProject(burstProject, gerrittest.MergeIfNecessary); err != nil {
		tb.Fatal(err)
	}
	base, err := srv.BranchTip(burstProject, "main")
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := gate.ParsePolicy("policy.yaml", []byte(fmt.Sprintf(`
repos:
  - project: %s
    branch: main
    environments:
      - {name: dev, policy: reviewed, baseline: %[2]s}
      - {name: staging, policy: reviewed, baseline: %[2]s}
      - {name: prod, policy: reviewed, baseline: %[2]s}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}}
`, burstProject, base)))
	if err != nil {
		tb.Fatal(err)
	}
	store, err := storage.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	client, err := gerrit.New(srv.URL(), gerrit.WithBasicAuth("gate", "gate-secret"),
		gerrit.WithObserver(func(op, outcome string) { b.mu.Lock(); b.calls[op+" "+outcome]++; b.mu.Unlock() }))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := mirror.New(store, mirror.Options{URL: srv.URL(), Username: "gate", Password: "gate-secret"})
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	b.poller, err = poll.New(poll.Config{
		Schedule: "@every 1h", FetchTimeout: time.Minute, DataDir: store.Dir(), Policy: pc,
		Fetcher: poll.FetchFunc(func(ctx context.Context, project string) error {
			_, err := m.Fetch(ctx, project)
			return err
		}),
		Reconciler: deploy.New(store, client, deploy.WithLogger(logger)),
		Recorder:   b.board, Lister: client, Logger: logger,
		Concurrency: 8, Release: store.Release,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// merge merges n approved changes, one after the other, and returns the
// branch head.
func (b *burst) merge(tb testing.TB, n int) string {
	tb.Helper()
	for i := range n {
		ch, err := b.srv.CreateChange(gerrittest.ChangeInput{Project: burstProject, Owner: b.alice, Subject: fmt.Sprintf("change %d", i),
			Files: map[string]string{fmt.Sprintf("apps/f%d.yaml", i): strconv.Itoa(i) + "\n"}})
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.srv.Vote(ch.Number, b.bob, "Code-Review", 2); err != nil {
			tb.Fatal(err)
		}
		if _, err := b.srv.Submit(ch.Number, b.bob); err != nil {
			tb.Fatal(err)
		}
	}
	head, err := b.srv.BranchTip(burstProject, "main")
	if err != nil {
		tb.Fatal(err)
	}
	return head
}

// poll runs one poll and returns the REST calls it made, all outcomes
// together.
func (b *burst) poll() (calls int, by map[string]int) {
	b.mu.Lock()
	b.calls = map[string]int{}
	b.mu.Unlock()
	b.poller.Poll(context.Background())
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.calls {
		calls += n
	}
	return calls, b.calls
}

// burstSize is the burst of merges: 200, or GERRITGATE_BURST.
func burstSize() int {
	if n, err := strconv.Atoi(os.Getenv("GERRITGATE_BURST")); err == nil {
		return n
	}
	return 200
}

// 200 approved changes merged at once reach dev, staging and prod in one
// poll with at most 4 REST calls in all (the environments share the
// answers, and 100 commits go in one query); the poll after it, with
// nothing changed, makes none.
func TestBurstCostsFewRESTCalls(t *testing.T) {
	b := newBurst(t)
	if calls, by := b.poll(); calls != 0 {
		t.Errorf("first poll (every environment starts at its baseline) made %d REST calls (%v), want none", calls, by)
	}
	head := b.merge(t, burstSize())
	calls, by := b.poll()
	for _, env := range []string{"dev", "staging", "prod"} {
		if res, _ := b.board.Result(burstProject, env); res.Reason != deploy.Advanced || res.To != head {
			t.Errorf("%s after the burst: %s to %.12s (%s), want Advanced to the head %.12s", env, res.Reason, res.To, res.Message, head)
		}
	}
	if calls > 4 {
		t.Errorf("the burst of %d merges cost %d REST calls (%v), want at most 4", burstSize(), calls, by)
	}
	t.Logf("burst of %d merges, 3 environments: %d REST calls %v", burstSize(), calls, by)
	if calls, by := b.poll(); calls != 0 {
		t.Errorf("the poll after, nothing changed, made %d REST calls (%v), want none", calls, by)
	}
}

// BenchmarkBurst measures the poll that takes 200 approved merges to
// three environments, and its REST calls.
//
//	go test ./poll -run '^$' -bench Burst -benchtime 3x
func BenchmarkBurst(b *testing.B) {
	var total int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bu := newBurst(b)
		bu.poll()
		bu.merge(b, burstSize())
		b.StartTimer()
		calls, _ := bu.poll()
		total += calls
	}
	b.ReportMetric(float64(total)/float64(b.N), "rest/burst")
}
