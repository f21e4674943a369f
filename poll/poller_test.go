package poll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
)

// policy gates platform/fleet and the top-level projects under apps/;
// fleetOnly, after an edit, only platform/fleet.
const (
	fleetRepo = `
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
`
	appsRepo = `
  - project: "apps/*"
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
`
	policies = `
policies:
  reviewed:
    labels: {Code-Review: {min: 2}}
`
	policy    = "repos:" + fleetRepo + appsRepo + policies
	fleetOnly = "repos:" + fleetRepo + policies
)

type fakes struct {
	fetchErr   map[string]error
	listErr    error
	list       []string
	reconciled []string
	board      map[string]deploy.Result
	polls      int
	fetched    map[string]error // last fetch outcome by project
}

func (f *fakes) Fetch(ctx context.Context, project string) error { return f.fetchErr[project] }
func (f *fakes) ListProjects(ctx context.Context, prefix string) ([]string, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	return f.list, nil
}
func (f *fakes) Reconcile(ctx context.Context, t deploy.Target) deploy.Result {
	f.reconciled = append(f.reconciled, t.Project+" "+t.Env)
	return deploy.Result{Project: t.Project, Env: t.Env, Reason: deploy.UpToDate, To: "new-" + t.Project}
}
func (f *fakes) Operate(ctx context.Context, t deploy.Target, a deploy.Adoption) deploy.Result {
	return deploy.Result{}
}
func (f *fakes) Explain(ctx context.Context, t deploy.Target, last int) (deploy.Result, error) {
	return deploy.Result{Project: t.Project, Env: t.Env, Reason: deploy.NotApproved}, nil
}
func (f *fakes) Record(res deploy.Result) bool {
	f.board[res.Project+" "+res.Env] = res
	return true
}
func (f *fakes) Result(project, env string) (deploy.Result, bool) {
	r, ok := f.board[project+" "+env]
	return r, ok
}
func (f *fakes) Retain(keep func(project, env string) bool) {
	for k, r := range f.board {
		if !keep(r.Project, r.Env) {
			delete(f.board, k)
		}
	}
}
func (f *fakes) Polled(time.Duration) { f.polls++ }
func (f *fakes) Fetched(project string, at time.Time, err error) {
	if f.fetched == nil {
		f.fetched = map[string]error{}
	}
	f.fetched[project] = err
}

func newPoller(t *testing.T, f *fakes) *Poller {
	t.Helper()
	pc, err := gate.ParsePolicy("policy.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Schedule: "@every 1h", FetchTimeout: time.Second, DataDir: t.TempDir(), Policy: pc,
		Fetcher: f, Reconciler: f, Recorder: f, Lister: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A poll reconciles the named projects and those a pattern matches in
// Gerrit's list (not Gerrit's own, not other patterns'); when the list
// cannot be had, the last one is used; a failed fetch is recorded as
// Failed where the ref stands, without reconciling.
func TestPoll(t *testing.T) {
	f := &fakes{board: map[string]deploy.Result{}, list: []string{"apps/web", "apps/a/b", "All-Projects", "other/x"}}
	p := newPoller(t, f)
	p.Poll(context.Background())
	if want := []string{"platform/fleet prod", "apps/web prod"}; !slices.Equal(f.reconciled, want) {
		t.Errorf("first poll reconciled %q, want %q", f.reconciled, want)
	}

	f.reconciled, f.listErr = nil, errors.New("gerrit down")
	f.fetchErr = map[string]error{"platform/fleet": errors.New("fetch: connection refused")}
	p.Poll(context.Background())
	if want := []string{"apps/web prod"}; !slices.Equal(f.reconciled, want) {
		t.Errorf("poll with Gerrit's list unavailable and platform/fleet's fetch failing reconciled %q, want %q", f.reconciled, want)
	}
	got := f.board["platform/fleet prod"]
	if got.Reason != deploy.Failed || got.Message != "fetch: connection refused" || got.From != "new-platform/fleet" || got.To != "new-platform/fleet" {
		t.Errorf("failed fetch recorded %+v, want Failed with the fetch error, from and to where the ref stood", got)
	}
	if err := f.fetched["platform/fleet"]; err == nil || err.Error() != "fetch: connection refused" {
		t.Errorf("fetch outcome recorded for platform/fleet = %v, want the fetch error", err)
	}
	if err, ok := f.fetched["apps/web"]; !ok || err != nil {
		t.Errorf("fetch outcome recorded for apps/web = %v (recorded %v), want a success", err, ok)
	}
	if f.polls != 2 {
		t.Errorf("two polls counted %d", f.polls)
	}

	// A policy without apps/* forgets its environments.
	pc, err := gate.ParsePolicy("policy.yaml", []byte(fleetOnly))
	if err != nil {
		t.Fatal(err)
	}
	p.SetPolicy(pc)
	f.fetchErr = nil
	p.Poll(context.Background())
	if _, kept := f.board["apps/web prod"]; kept {
		t.Errorf("after a reload without apps/*, apps/web prod is still recorded")
	}
}

// Explain answers for gated environments only.
func TestExplain(t *testing.T) {
	p := newPoller(t, &fakes{board: map[string]deploy.Result{}})
	if _, gated, err := p.Explain(context.Background(), "platform/fleet", "staging"); gated || err == nil {
		t.Errorf("Explain of an environment the policy lacks: gated=%v err=%v, want not gated with a reason", gated, err)
	}
	if res, gated, err := p.Explain(context.Background(), "platform/fleet", "prod"); !gated || err != nil || res.Reason != deploy.NotApproved {
		t.Errorf("Explain(platform/fleet, prod) = %+v %v %v", res, gated, err)
	}
}

// A poll reconciles the environment another comes after first, whatever
// the order the policy lists them in, so prod decides on what staging
// holds after this poll's advance.
func TestTargetsInPromotionOrder(t *testing.T) {
	pc, err := gate.ParsePolicy("policy.yaml", []byte(`
repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream, after: canary, soak: 30m}
      - {name: dev, policy: reviewed, baseline: upstream}
      - {name: canary, policy: reviewed, baseline: upstream, after: staging}
      - {name: staging, policy: reviewed, baseline: upstream}
`+policies))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := Targets(pc, "platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range ts {
		got = append(got, tg.Env)
	}
	if want := []string{"staging", "canary", "prod", "dev"}; !slices.Equal(got, want) {
		t.Errorf("reconcile order %v, want %v", got, want)
	}
	if ts[2].After != "canary" || ts[2].Soak != 30*time.Minute {
		t.Errorf("prod's rules: after %q soak %s, want canary 30m", ts[2].After, ts[2].Soak)
	}
}

// Failing and diverging are logged once on entering, at ERROR and WARN,
// and recovering once at INFO; a failing listing of Gerrit's projects
// warns once per outage.
func TestPollLogsTransitionsOnce(t *testing.T) {
	f := &fakes{board: map[string]deploy.Result{}, list: []string{"apps/web"}}
	var logs bytes.Buffer
	p := newPoller(t, f)
	p.logger = slog.New(slog.NewTextHandler(&logs, nil))
	count := func(s string) int { return strings.Count(logs.String(), s) }
	p.Poll(context.Background())
	f.listErr = errors.New("gerrit down")
	for i := 0; i < 3; i++ {
		// A different message each poll, as a network error's would be.
		f.fetchErr = map[string]error{"platform/fleet": fmt.Errorf("fetch: dial tcp :%d: connection refused", 1000+i)}
		p.Poll(context.Background())
	}
	f.fetchErr, f.listErr = nil, nil
	p.Poll(context.Background())
	p.Poll(context.Background())
	for _, tt := range []struct {
		line string
		want int
	}{
		{`level=ERROR msg="environment failing; deploy branch held where it is" project=platform/fleet`, 1},
		{`level=INFO msg="environment recovered" project=platform/fleet env=prod reason=UpToDate`, 1},
		{`level=WARN msg="cannot list Gerrit projects`, 1},
		{`level=INFO msg="Gerrit projects listed again"`, 1},
		{`level=WARN msg="environment diverged`, 0},
	} {
		if got := count(tt.line); got != tt.want {
			t.Errorf("%d log lines %s, want %d:\n%s", got, tt.line, tt.want, logs.String())
		}
	}
	logs.Reset()
	p.reconciler = diverging{f}
	p.Poll(context.Background())
	p.Poll(context.Background())
	if got := count(`level=WARN msg="environment diverged; deploy branch held until an operator decides"`); got != 2 { // platform/fleet and apps/web, once each
		t.Errorf("two polls of two diverged environments logged %d warnings, want 2:\n%s", got, logs.String())
	}
}

type diverging struct{ *fakes }

func (diverging) Reconcile(ctx context.Context, t deploy.Target) deploy.Result {
	return deploy.Result{Project: t.Project, Env: t.Env, Reason: deploy.Diverged, Message: "history was rewritten"}
}

// A reconcile that failed after moving the deploy branch (a long range
// failing in a later window) is not logged as held where it was.
func TestPollLogsFailureAfterMoving(t *testing.T) {
	f := &fakes{board: map[string]deploy.Result{}}
	var logs bytes.Buffer
	p := newPoller(t, f)
	p.logger = slog.New(slog.NewTextHandler(&logs, nil))
	p.reconciler = failingAfterMoving{f}
	p.Poll(context.Background())
	if want := `level=ERROR msg="environment failing after its deploy branch moved" project=platform/fleet env=prod reason=Failed message="advanced then failed" from=aaa to=bbb`; !strings.Contains(logs.String(), want) {
		t.Errorf("logs lack %s:\n%s", want, logs.String())
	}
	if strings.Contains(logs.String(), "held where it is") {
		t.Errorf("a branch that moved is logged as held:\n%s", logs.String())
	}
}

type failingAfterMoving struct{ *fakes }

func (failingAfterMoving) Reconcile(ctx context.Context, t deploy.Target) deploy.Result {
	return deploy.Result{Project: t.Project, Env: t.Env, Reason: deploy.Failed, Message: "advanced then failed", From: "aaa", To: "bbb"}
}

// An operator request left in the data directory starts a poll that
// applies it, however far the next scheduled poll is (an hour here).
func TestOperatorRequestStartsAPoll(t *testing.T) {
	f := &fakes{board: map[string]deploy.Result{}}
	p := newPoller(t, f)
	p.requestEvery = 10 * time.Millisecond
	o := operating{f, make(chan deploy.Adoption, 1), make(chan struct{}, 1)}
	p.reconciler, p.recorder = o, o
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-o.polled: // the first poll, at start, is over
	case <-time.After(20 * time.Second):
		t.Fatal("no poll at start")
	}
	a := deploy.Adoption{Project: "platform/fleet", Env: "prod", Action: deploy.ActionHold, Reason: "INC-1", By: "ops", At: time.Now()}
	id, err := deploy.RequestAdoption(p.dataDir, a)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-o.operated:
		if got.Action != deploy.ActionHold || got.Reason != "INC-1" {
			t.Errorf("operated %+v, want the hold asked for", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the request was not applied within 20s: no poll noticed it")
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, answered, _ := deploy.AdoptionResult(p.dataDir, id); answered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request was applied but never answered")
		}
	}
}

type operating struct {
	*fakes
	operated chan deploy.Adoption
	polled   chan struct{}
}

func (o operating) Polled(took time.Duration) {
	o.fakes.Polled(took)
	select {
	case o.polled <- struct{}{}:
	default:
	}
}

func (o operating) Operate(ctx context.Context, t deploy.Target, a deploy.Adoption) deploy.Result {
	o.operated <- a
	return deploy.Result{Project: t.Project, Env: t.Env, Reason: deploy.Held, Message: "held"}
}

// With Refresh (a policy reviewed in Gerrit), each poll uses the policy it
// returns, with its source on every target; nil (no approved policy yet)
// fetches, reconciles and explains nothing, and still counts the poll.
func TestPollRefresh(t *testing.T) {
	pc, err := gate.ParsePolicy("policy.yaml", []byte(fleetOnly))
	if err != nil {
		t.Fatal(err)
	}
	pc.Source = &gate.Source{Project: "platform/gate-policy", Branch: "main", Path: "policy.yaml", Commit: "c1"}
	var sources []*gate.Source
	f := &fakes{board: map[string]deploy.Result{}}
	rec := reconcileFunc(func(t deploy.Target) { sources = append(sources, t.PolicySource) })
	tests := []struct {
		what       string
		refresh    *gate.Config
		reconciled []string
	}{
		{"no policy in force", nil, nil},
		{"a reviewed policy in force", pc, []string{"platform/fleet prod"}},
		{"none again", nil, nil},
	}
	for i, tt := range tests {
		f.reconciled, sources = nil, nil
		p, err := New(Config{Schedule: "@every 1h", FetchTimeout: time.Second, DataDir: t.TempDir(),
			Refresh:    func(context.Context) *gate.Config { return tt.refresh },
			Fetcher:    FetchFunc(func(context.Context, string) error { t.Errorf("%s: fetched without a policy", tt.what); return nil }),
			Reconciler: rec.with(f), Recorder: f, Lister: f, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if tt.refresh != nil {
			p.fetcher = f
		}
		p.Poll(context.Background())
		if !slices.Equal(f.reconciled, tt.reconciled) || f.polls != i+1 {
			t.Errorf("%s: reconciled %q (polls %d), want %q (polls %d)", tt.what, f.reconciled, f.polls, tt.reconciled, i+1)
		}
		for _, s := range sources {
			if s != pc.Source {
				t.Errorf("%s: target's policy source %+v, want %+v", tt.what, s, pc.Source)
			}
		}
		_, gated, err := p.Explain(context.Background(), "platform/fleet", "prod")
		if (tt.refresh == nil) != (err != nil) || gated != (tt.refresh != nil) {
			t.Errorf("%s: Explain gated=%v err=%v", tt.what, gated, err)
		}
	}
}

// reconcileFunc sees each target a fakes reconciles.
type reconcileFunc func(deploy.Target)

type seeing struct {
	*fakes
	see reconcileFunc
}

func (r reconcileFunc) with(f *fakes) seeing { return seeing{f, r} }

func (s seeing) Reconcile(ctx context.Context, t deploy.Target) deploy.Result {
	s.see(t)
	return s.fakes.Reconcile(ctx, t)
}
