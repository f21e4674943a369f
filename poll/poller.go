package poll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/filewatch"
	"github.com/gerritgate/gerritgate/internal/projectglob"
	"github.com/gerritgate/gerritgate/storage"
)

// Fetcher brings one project's upstream branches into the mirror.
type Fetcher interface {
	Fetch(ctx context.Context, project string) error
}

// FetchFunc adapts a function to a Fetcher.
type FetchFunc func(ctx context.Context, project string) error

func (f FetchFunc) Fetch(ctx context.Context, project string) error { return f(ctx, project) }

// Reconciler decides and performs the advances of deploy branches
// (*deploy.Deployer).
type Reconciler interface {
	Reconcile(ctx context.Context, t deploy.Target) deploy.Result
	// Operate applies an operator's request: adopt, hold, release,
	// override or rewind.
	Operate(ctx context.Context, t deploy.Target, a deploy.Adoption) deploy.Result
	Explain(ctx context.Context, t deploy.Target, last int) (deploy.Result, error)
}

// Recorder keeps what polls decided (the status board, with metrics).
type Recorder interface {
	// Record keeps res and reports whether it differs from the last one.
	Record(res deploy.Result) (changed bool)
	Result(project, env string) (deploy.Result, bool)
	// Retain forgets environments the policy no longer gates.
	Retain(keep func(project, env string) bool)
	// Polled counts a finished poll and how long it took.
	Polled(took time.Duration)
	// Fetched keeps the outcome of a project's mirror fetch (err nil when
	// it worked).
	Fetched(project string, at time.Time, err error)
}

// Lister lists Gerrit's projects below a prefix (*gerrit.Client).
type Lister interface {
	ListProjects(ctx context.Context, prefix string) ([]string, error)
}

// Poller runs polls; see the package doc.
type Poller struct {
	schedule     cron.Schedule
	fetchTimeout time.Duration
	dataDir      string // where adoption requests wait
	fetcher      Fetcher
	reconciler   Reconciler
	recorder     Recorder
	lister       Lister
	logger       *slog.Logger
	policy       atomic.Pointer[gate.Config] // nil: no policy in force, nothing is reconciled
	refresh      func(ctx context.Context) *gate.Config
	nudge        chan struct{}        // a poll asked for now (cap 1)
	requestEvery time.Duration        // how often <dataDir>/adopt is looked at
	noticed      map[string]bool      // requests seen there at the last look; Run's watcher only
	concurrency  int                  // projects polled at once
	release      func(project string) // see Config.Release

	work     sync.Mutex          // one poll or explain at a time over the repositories
	listed   map[string][]string // last project list per pattern; under work
	unlisted map[string]bool     // patterns whose listing fails now; under work
	lists    projectLists        // when each pattern was listed, and when to list again
}

// Config is what a Poller is made of.
type Config struct {
	Schedule     string        // robfig/cron spec, e.g. "@every 30s"
	FetchTimeout time.Duration // bound on one project's fetch
	DataDir      string        // the data directory, for adoption requests
	Policy       *gate.Config  // the policy in force at start; nil: none yet
	// Refresh, when set, runs at the start of every poll, under the
	// poll's lock, and returns the policy in force for it (a policy
	// reviewed in Gerrit: it fetches the policy project and decides its
	// new commits); nil: none is, and nothing is reconciled.
	Refresh    func(ctx context.Context) *gate.Config
	Fetcher    Fetcher
	Reconciler Reconciler
	Recorder   Recorder
	Lister     Lister
	Logger     *slog.Logger
	// RequestEvery is how often the data directory is looked at for
	// operator requests (gerritgate adopt, hold, release); a new one
	// starts a poll at once. Default 250ms.
	RequestEvery time.Duration
	// Concurrency is how many projects a poll fetches and reconciles at
	// once (default 1). The Fetcher, Reconciler and Recorder must then be
	// safe for concurrent use; one project is never worked on by two.
	Concurrency int
	// Release, if set, is called when a poll is done with a project
	// (the service lets go of what its repositories keep in memory:
	// storage.Store.Release).
	Release func(project string)
	// ListEvery is how long the projects Gerrit listed for a pattern of
	// the policy are used before they are listed again (0: every poll);
	// Relist lists them at the next poll.
	ListEvery time.Duration
}

// New returns a Poller, or an error naming a schedule cron cannot parse.
func New(c Config) (*Poller, error) {
	sched, err := cron.ParseStandard(c.Schedule)
	if err != nil {
		return nil, fmt.Errorf("poll schedule %q: %w", c.Schedule, err)
	}
	p := &Poller{
		schedule: sched, fetchTimeout: c.FetchTimeout, dataDir: c.DataDir, requestEvery: c.RequestEvery, noticed: map[string]bool{},
		fetcher: c.Fetcher, reconciler: c.Reconciler, recorder: c.Recorder, lister: c.Lister,
		logger: c.Logger, refresh: c.Refresh, nudge: make(chan struct{}, 1), listed: map[string][]string{}, unlisted: map[string]bool{},
		concurrency: max(1, c.Concurrency), release: c.Release, lists: projectLists{every: c.ListEvery, at: map[string]time.Time{}},
	}
	if p.requestEvery <= 0 {
		p.requestEvery = 250 * time.Millisecond
	}
	p.policy.Store(c.Policy)
	return p, nil
}

// errNoPolicy: no policy is in force yet (a reviewed policy without an
// approved commit that parses).
var errNoPolicy = errors.New("no policy is in force: nothing is decided")

// SetPolicy puts a (reloaded) policy in force from the next poll on.
func (p *Poller) SetPolicy(pc *gate.Config) { p.policy.Store(pc) }

// Policy returns the policy in force.
func (p *Poller) Policy() *gate.Config { return p.policy.Load() }

// Poke asks for a poll now; one request waits at most.
func (p *Poller) Poke() {
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// Run polls at once, then on the schedule, when poked and when an
// operator request appears in the data directory, until ctx is cancelled; it returns when the poll in progress (cancelled with ctx:
// refs change only by compare-and-swap after the objects are safe) has
// stopped. Polls never overlap; poked polls are 200ms apart at least.
func (p *Poller) Run(ctx context.Context) {
	c := cron.New(cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	id := c.Schedule(p.schedule, cron.FuncJob(func() { p.Poll(ctx) }))
	c.Start()
	var wg sync.WaitGroup
	// The first poll now, not one interval from now; through the cron
	// chain so it never overlaps a scheduled one.
	wg.Go(func() { c.Entry(id).WrappedJob.Run() })
	// An operator request is answered now, not at the next tick (the
	// command waits for the answer): the CLI cannot nudge over HTTP, which
	// access control and the webhook secret close.
	wg.Go(func() {
		filewatch.Run[struct{}](ctx, p.requestEvery, nil, func(bool) { p.noticeRequests() })
	})
	// At most one nudge waits while a poll runs.
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.nudge:
			}
			p.Poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	<-ctx.Done()
	wg.Wait()
	<-c.Stop().Done()
}

// noticeRequests pokes a poll when a request waits in the data directory
// that was not there at the last look.
func (p *Poller) noticeRequests() {
	now := map[string]bool{}
	var fresh []string
	for _, id := range deploy.WaitingRequests(p.dataDir) {
		now[id] = true
		if !p.noticed[id] {
			fresh = append(fresh, id)
		}
	}
	p.noticed = now
	if len(fresh) > 0 {
		p.logger.Info("operator request waiting; polling now", "requests", fresh)
		p.Poke()
	}
}

// projects lists the projects to poll: those the policy names, then those
// Gerrit has that a pattern matches. When Gerrit cannot be listed, the last
// list it gave is used, so already gated projects keep being reconciled
// (and fail closed on their own if Gerrit is really gone). Called under
// work.
func (p *Poller) projects(ctx context.Context, pc *gate.Config) []string {
	names := pc.Projects()
	now, relist := p.lists.clock(), p.lists.relist.Swap(false)
	for _, pat := range pc.Patterns() {
		if !relist && p.lists.fresh(pat, now) && !p.unlisted[pat] {
			names = p.appendListed(names, pat, p.listed[pat])
			continue
		}
		prefix := pat[:strings.IndexAny(pat, "*?[")]
		list, err := p.lister.ListProjects(ctx, prefix)
		if err == nil {
			p.lists.at[pat] = now
		}
		switch {
		case err != nil:
			if !p.unlisted[pat] { // once per outage
				p.logger.Warn("cannot list Gerrit projects; using the last list", "pattern", pat, "err", err)
			}
			p.unlisted[pat] = true
			list = p.listed[pat]
		case p.unlisted[pat]:
			p.logger.Info("Gerrit projects listed again", "pattern", pat)
			delete(p.unlisted, pat)
			fallthrough
		default:
			p.listed[pat] = list
		}
		names = p.appendListed(names, pat, list)
	}
	return names
}

// appendListed appends to names the projects of list that pat matches
// and that are not in names yet.
func (p *Poller) appendListed(names []string, pat string, list []string) []string {
	for _, name := range list {
		if projectglob.Match(pat, name) && name != "All-Projects" && name != "All-Users" && storage.ValidateProject(name) == nil && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// Poll fetches every project and reconciles every environment, up to
// Config.Concurrency projects at once (each project's environments one
// after the other, in promotion order). A project whose fetch fails keeps
// its deploy refs where they are.
func (p *Poller) Poll(ctx context.Context) {
	p.work.Lock()
	defer p.work.Unlock()
	start := time.Now()
	if p.refresh != nil {
		p.policy.Store(p.refresh(ctx))
	}
	pc := p.policy.Load()
	if pc == nil {
		// The refresh said why (logs, status, metrics); nothing is
		// fetched, decided or moved without a policy.
		p.recorder.Polled(time.Since(start))
		return
	}
	byProject := map[string][]deploy.Target{}
	var projects []string
	for _, name := range p.projects(ctx, pc) {
		ts, err := Targets(pc, name)
		if err != nil {
			p.logger.Error("project not gated: the policy is ambiguous for it", "project", name, "err", err)
			continue
		}
		if len(ts) > 0 {
			projects = append(projects, name)
			byProject[name] = ts
		}
	}
	p.recorder.Retain(func(project, env string) bool {
		return slices.ContainsFunc(byProject[project], func(t deploy.Target) bool { return t.Env == env })
	})
	adoptions, adoptionIDs := deploy.AdoptionRequests(p.dataDir)
	// Each project's requests go to the worker that polls it; what is
	// left after the poll names no polled project.
	mine := map[string]map[string]deploy.Adoption{}
	for id, a := range adoptions {
		if byProject[a.Project] != nil {
			if mine[a.Project] == nil {
				mine[a.Project] = map[string]deploy.Adoption{}
			}
			mine[a.Project][id] = a
			delete(adoptions, id)
		}
	}
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(p.concurrency, len(projects)) {
		wg.Go(func() {
			for name := range next {
				p.pollProject(ctx, pc, name, byProject[name], mine[name], adoptionIDs)
			}
		})
	}
	for _, name := range projects {
		if ctx.Err() != nil {
			break
		}
		next <- name
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	for _, id := range adoptionIDs {
		if a, waiting := adoptions[id]; waiting {
			p.finishAdoption(id, deploy.Result{Project: a.Project, Env: a.Env, Reason: deploy.Failed, Time: time.Now().UTC(),
				Message: fmt.Sprintf("%s: the policy gates no environment %q for project %q", a.Verb(), a.Env, a.Project)})
		}
	}
	p.recorder.Polled(time.Since(start))
}

// pollProject fetches one project, applies its operator requests and
// reconciles its environments, with Gerrit's answers about its commits
// shared among them (deploy.WithLookups), then lets go of what its
// repositories hold in memory.
func (p *Poller) pollProject(ctx context.Context, pc *gate.Config, name string, targets []deploy.Target, adoptions map[string]deploy.Adoption, adoptionIDs []string) {
	if p.release != nil {
		defer p.release(name)
	}
	fctx, cancel := context.WithTimeout(ctx, p.fetchTimeout)
	ferr := p.fetcher.Fetch(fctx, name)
	cancel()
	p.recorder.Fetched(name, time.Now().UTC(), ferr)
	if ferr != nil {
		p.postpone(name, ferr, adoptions, adoptionIDs)
	}
	p.adopt(ctx, pc, name, adoptions, adoptionIDs)
	ctx = deploy.WithLookups(ctx)
	for _, t := range targets {
		var res deploy.Result
		if ferr != nil {
			res = deploy.Result{
				Project: t.Project, Branch: t.Branch, Env: t.Env, Policy: t.Policy.Name,
				Reason: deploy.Failed, Message: ferr.Error(), Time: time.Now().UTC(),
			}
			if prev, ok := p.recorder.Result(t.Project, t.Env); ok {
				res.From, res.To = prev.To, prev.To
			}
		} else {
			res = p.reconciler.Reconcile(ctx, t)
		}
		p.record(res)
	}
}

// record keeps a result and logs transitions once, at the level they
// deserve, so an alert on WARN/ERROR fires once per incident: entering
// Failed (Gerrit unreachable, a fetch or a ref update failing) is an
// ERROR, entering Diverged a WARN, leaving either an INFO; staying in one
// (whatever its message says this poll) is DEBUG. Other changes are INFO;
// advances are logged by deploy.
func (p *Poller) record(res deploy.Result) {
	prev, had := p.recorder.Result(res.Project, res.Env)
	changed := p.recorder.Record(res)
	log := p.logger.With("project", res.Project, "env", res.Env, "reason", res.Reason, "message", res.Message)
	bad := func(r deploy.Reason) bool { return r == deploy.Failed || r == deploy.Diverged }
	switch {
	case had && prev.Reason == res.Reason && bad(res.Reason):
		log.Debug("still " + string(res.Reason))
	case res.Reason == deploy.Failed && res.To != res.From:
		log.Error("environment failing after its deploy branch moved", "from", res.From, "to", res.To)
	case res.Reason == deploy.Failed:
		log.Error("environment failing; deploy branch held where it is")
	case res.Reason == deploy.Diverged:
		log.Warn("environment diverged; deploy branch held until an operator decides")
	case had && bad(prev.Reason):
		log.Info("environment recovered", "was", prev.Reason)
	case changed && res.Reason != deploy.Advanced && res.Reason != deploy.Initialized:
		log.Info("decision")
	}
}

// adopt applies the waiting operator requests (gerritgate adopt, hold,
// release, override and rewind) for project, after a successful fetch so
// a named commit can be in the mirror and checked against the upstream
// branch as Gerrit has it, and removes them from adoptions.
func (p *Poller) adopt(ctx context.Context, pc *gate.Config, project string, adoptions map[string]deploy.Adoption, ids []string) {
	for _, id := range ids {
		a, waiting := adoptions[id]
		if !waiting || a.Project != project {
			continue
		}
		delete(adoptions, id)
		t, err := FindTarget(pc, a.Project, a.Env)
		var res deploy.Result
		if err != nil {
			res = deploy.Result{Project: a.Project, Env: a.Env, Reason: deploy.Failed, Message: a.Verb() + ": " + err.Error(), Time: time.Now().UTC()}
		} else {
			res = p.reconciler.Operate(ctx, t, a)
		}
		p.finishAdoption(id, res)
		if res.Reason == deploy.Adopted || res.Reason == deploy.Held || res.Reason == deploy.Overridden || res.Reason == deploy.Rewound {
			p.record(res)
		}
	}
}

// postpone leaves the operator requests for project that name a commit
// (adopt, override, rewind) waiting after its fetch failed, and removes
// them from adoptions: "on the upstream branch" and "descends from" would
// be checked against a mirror that may be stale. The next poll whose
// fetch succeeds applies them. A hold or release names no commit: it is
// applied at once (nothing advances while the fetch fails anyway).
func (p *Poller) postpone(project string, ferr error, adoptions map[string]deploy.Adoption, ids []string) {
	for _, id := range ids {
		a, waiting := adoptions[id]
		if !waiting || a.Project != project || a.Action == deploy.ActionHold || a.Action == deploy.ActionRelease {
			continue
		}
		delete(adoptions, id)
		why := fmt.Sprintf("waiting for a successful fetch of %s (the last one failed: %v)", project, ferr)
		if deploy.AdoptionWaiting(p.dataDir, id) == "" {
			p.logger.Warn("operator request "+why, "id", id, "action", a.Verb(), "env", a.Env)
		}
		if err := deploy.PostponeAdoption(p.dataDir, id, why); err != nil {
			p.logger.Error("cannot note why an operator request waits", "id", id, "err", err)
		}
	}
}

func (p *Poller) finishAdoption(id string, res deploy.Result) {
	if err := deploy.FinishAdoption(p.dataDir, id, res); err != nil {
		p.logger.Error("cannot answer an adoption request", "id", id, "err", err)
	}
}

// Explain decides afresh on the pending commits of one environment under
// the policy in force, not while a poll walks the same repositories;
// gated is false when the policy has no such environment.
func (p *Poller) Explain(ctx context.Context, project, env string) (res deploy.Result, gated bool, err error) {
	pc := p.policy.Load()
	if pc == nil {
		return deploy.Result{}, false, errNoPolicy
	}
	t, err := FindTarget(pc, project, env)
	if err != nil {
		return deploy.Result{}, false, err
	}
	p.work.Lock()
	defer p.work.Unlock()
	res, err = p.reconciler.Explain(ctx, t, 0)
	return res, true, err
}
