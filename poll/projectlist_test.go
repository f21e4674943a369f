package poll

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
)

// countingLister is a Gerrit project list that counts the calls.
type countingLister struct {
	list  []string
	err   error
	calls int
}

func (l *countingLister) ListProjects(ctx context.Context, prefix string) ([]string, error) {
	l.calls++
	return l.list, l.err
}

// With gerrit.projectListInterval, a poll uses the projects Gerrit listed
// for a pattern until the interval has passed or Relist is called (a
// project-created event): a steady poll with a glob makes no REST call,
// and a new project is polled after the interval or at once after the
// event. A failing listing is retried every poll; a project Gerrit no
// longer lists is polled (its fetch failing) until the next listing.
func TestProjectListInterval(t *testing.T) {
	f := &fakes{board: map[string]deploy.Result{}}
	gerrit := &countingLister{list: []string{"apps/web"}}
	pc, err := gate.ParsePolicy("policy.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Schedule: "@every 1h", FetchTimeout: time.Second, DataDir: t.TempDir(), Policy: pc,
		Fetcher: f, Reconciler: f, Recorder: f, Lister: gerrit, Logger: slog.New(slog.DiscardHandler), ListEvery: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var now time.Time
	p.lists.now = func() time.Time { return now }
	steps := []struct {
		what    string
		at      time.Duration // after start
		prepare func()
		calls   int      // listings in the poll
		polled  []string // projects reconciled
		failed  string   // a project recorded Failed after the poll
	}{
		{"first poll: listed", 0, nil, 1, []string{"platform/fleet", "apps/web"}, ""},
		{"a minute later, apps/new created without an event: not listed, not polled", time.Minute,
			func() { gerrit.list = []string{"apps/web", "apps/new"} }, 0, []string{"platform/fleet", "apps/web"}, ""},
		{"the interval passed: listed, apps/new polled", 5 * time.Minute, nil, 1, []string{"platform/fleet", "apps/web", "apps/new"}, ""},
		{"steady", 6 * time.Minute, nil, 0, []string{"platform/fleet", "apps/web", "apps/new"}, ""},
		{"apps/evt created and its event seen: listed at once", 6*time.Minute + time.Second,
			func() { gerrit.list = append(gerrit.list, "apps/evt"); p.Relist() }, 1, []string{"platform/fleet", "apps/web", "apps/new", "apps/evt"}, ""},
		{"steady after the event", 7 * time.Minute, nil, 0, []string{"platform/fleet", "apps/web", "apps/new", "apps/evt"}, ""},
		{"apps/web deleted in Gerrit: still polled (its fetch fails) until the next listing", 8 * time.Minute, func() {
			gerrit.list = []string{"apps/new", "apps/evt"}
			f.fetchErr = map[string]error{"apps/web": errors.New("fetch: repository not found")}
		}, 0, []string{"platform/fleet", "apps/new", "apps/evt"}, "apps/web"},
		{"the listing fails after the interval: the last list is used", 12 * time.Minute, func() { gerrit.err = errors.New("503") }, 1,
			[]string{"platform/fleet", "apps/new", "apps/evt"}, ""},
		{"and is tried again at the next poll", 12*time.Minute + time.Second, nil, 1, []string{"platform/fleet", "apps/new", "apps/evt"}, ""},
		{"Gerrit answers again: apps/web dropped", 12*time.Minute + 2*time.Second, func() { gerrit.err = nil }, 1,
			[]string{"platform/fleet", "apps/new", "apps/evt"}, ""},
		{"steady after the outage", 13 * time.Minute, nil, 0, []string{"platform/fleet", "apps/new", "apps/evt"}, ""},
	}
	for _, st := range steps {
		now = start.Add(st.at)
		if st.prepare != nil {
			st.prepare()
		}
		gerrit.calls, f.reconciled = 0, nil
		p.Poll(context.Background())
		if gerrit.calls != st.calls {
			t.Errorf("%s: %d project listings, want %d", st.what, gerrit.calls, st.calls)
		}
		var polled []string
		for _, r := range f.reconciled {
			polled = append(polled, r[:len(r)-len(" prod")])
		}
		if !slices.Equal(polled, st.polled) {
			t.Errorf("%s: reconciled %q, want %q", st.what, polled, st.polled)
		}
		if got := f.board[st.failed+" prod"]; st.failed != "" && got.Reason != deploy.Failed {
			t.Errorf("%s: %s recorded %s, want Failed", st.what, st.failed, got.Reason)
		}
	}
	if _, kept := f.board["apps/web prod"]; kept {
		t.Errorf("apps/web, no longer listed, is still on the board")
	}
	if got := f.board["apps/new prod"]; got.Reason != deploy.UpToDate {
		t.Errorf("apps/new: %s, want UpToDate", got.Reason)
	}
}
