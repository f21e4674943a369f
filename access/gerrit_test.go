package access

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeACL is Gerrit's answers as a test sets them: READ grants per
// project, account and ref, group members, a failure, and a gate that
// holds every call until the test opens it.
type fakeACL struct {
	mu      sync.Mutex
	grants  map[string]bool // project + " " + account + " " + ref
	members map[string][]string
	err     error
	calls   atomic.Int64
	hold    chan struct{} // non-nil: each call waits for it (or its ctx)
}

func newFakeACL() *fakeACL {
	return &fakeACL{grants: map[string]bool{}, members: map[string][]string{}}
}

func (f *fakeACL) set(project, account, ref string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants[project+" "+account+" "+ref] = ok
}

func (f *fakeACL) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeACL) wait(ctx context.Context) error {
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold == nil {
		return nil
	}
	select {
	case <-hold:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeACL) CanRead(ctx context.Context, project, account, ref string) (bool, error) {
	f.calls.Add(1)
	if err := f.wait(ctx); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	return f.grants[project+" "+account+" "+ref], nil
}

func (f *fakeACL) GroupMembers(ctx context.Context, group string) ([]string, error) {
	f.calls.Add(1)
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	m, ok := f.members[group]
	if !ok {
		return nil, errors.New("no such group")
	}
	return m, nil
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gated says platform/fleet is gated on main and platform/multi on main
// and stable; nothing else is gated.
func gated(project string) []string {
	switch project {
	case "platform/fleet", "apps/web":
		return []string{"main"}
	case "platform/multi":
		return []string{"main", "stable"}
	}
	return nil
}

// A bound reader reads what Gerrit grants, narrowed by its projects if
// it lists any; group bindings need every member; without a checker or
// for an ungated project, nothing.
func TestGerritBindingCanRead(t *testing.T) {
	acl := newFakeACL()
	acl.set("platform/fleet", "flux", "refs/heads/main", true)
	acl.set("apps/web", "flux", "refs/heads/main", true)
	acl.set("platform/multi", "flux", "refs/heads/main", true) // not stable
	acl.set("platform/fleet", "alice", "refs/heads/main", true)
	acl.set("platform/fleet", "bob", "refs/heads/main", true)
	acl.set("apps/web", "alice", "refs/heads/main", true) // bob may not
	acl.members["ops"] = []string{"alice", "bob"}
	acl.members["empty"] = nil
	c := NewGerritChecker(acl, gated)
	in := `readers:
  - name: bound
    gerrit: {account: flux}
  - name: narrowed
    projects: ["platform/*"]
    gerrit: {account: flux}
  - name: team
    gerrit: {group: ops}
  - name: nobody
    gerrit: {group: empty}
  - name: gone
    gerrit: {account: flux}
    expires: 2020-01-01T00:00:00Z
anonymous: ["public/*"]
`
	l, err := Parse("access.yaml", []byte(in), WithGerrit(c))
	if err != nil {
		t.Fatal(err)
	}
	if w := l.Warnings(); len(w) != 0 {
		t.Errorf("warnings %v, want none: bound readers need no projects", w)
	}
	tests := []struct {
		reader, project string
		want            bool
	}{
		{"bound", "platform/fleet", true},
		{"bound", "apps/web", true},
		{"bound", "platform/multi", false}, // READ on main but not on stable
		{"bound", "other/x", false},        // not gated: nothing to check
		{"bound", "public/docs", true},     // anonymous
		{"narrowed", "platform/fleet", true},
		{"narrowed", "apps/web", false}, // Gerrit grants it, projects do not
		{"team", "platform/fleet", true},
		{"team", "apps/web", false}, // bob may not
		{"nobody", "platform/fleet", false},
		{"gone", "platform/fleet", false},
	}
	for _, tt := range tests {
		if got := l.CanRead(tt.reader, tt.project); got != tt.want {
			t.Errorf("CanRead(%q, %q) = %v, want %v", tt.reader, tt.project, got, tt.want)
		}
	}

	unchecked, err := Parse("access.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if unchecked.CanRead("bound", "platform/fleet") {
		t.Error("without a checker a bound reader reads a project Gerrit was never asked about")
	}
	if len(unchecked.Warnings()) == 0 {
		t.Error("without a checker, bound readers give no warning")
	}
}

// An answer holds for the lifetime: a revoked READ is seen once it has
// passed, not before, and a restored one likewise.
func TestGerritCheckLifetime(t *testing.T) {
	acl := newFakeACL()
	acl.set("platform/fleet", "flux", "refs/heads/main", true)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var outcomes []string
	c := NewGerritChecker(acl, gated, WithLifetime(time.Minute), WithCheckClock(clock.Now),
		WithCheckObserver(func(o string) { outcomes = append(outcomes, o) }))
	b := Binding{Account: "flux"}
	steps := []struct {
		advance time.Duration
		grant   *bool
		want    bool
		calls   int64 // Gerrit calls so far
	}{
		{0, nil, true, 1},
		{30 * time.Second, nil, true, 1},
		{0, ptr(false), true, 1}, // revoked, but the answer is 30s old
		{29 * time.Second, nil, true, 1},
		{time.Second, nil, false, 2}, // a minute old: asked again
		{0, ptr(true), false, 2},     // restored: the "no" holds its minute
		{time.Minute, nil, true, 3},
	}
	for i, s := range steps {
		clock.Add(s.advance)
		if s.grant != nil {
			acl.set("platform/fleet", "flux", "refs/heads/main", *s.grant)
		}
		if got := c.CanRead(b, "platform/fleet"); got != s.want {
			t.Errorf("step %d: CanRead = %v, want %v", i, got, s.want)
		}
		if got := acl.calls.Load(); got != s.calls {
			t.Errorf("step %d: %d Gerrit calls, want %d", i, got, s.calls)
		}
	}
	if want := "granted denied granted"; strings.Join(outcomes, " ") != want {
		t.Errorf("outcomes %q, want %q", strings.Join(outcomes, " "), want)
	}
}

// Past the lifetime an answer is not used when Gerrit cannot be asked:
// the reader is refused, Stale counts it, a failed ask is not repeated
// at once, and it reads again when Gerrit answers.
func TestGerritCheckStaleRefused(t *testing.T) {
	acl := newFakeACL()
	acl.set("platform/fleet", "flux", "refs/heads/main", true)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var logs strings.Builder
	logger := slogText(&logs)
	c := NewGerritChecker(acl, gated, WithLifetime(time.Minute), WithCheckClock(clock.Now), WithCheckLogger(logger))
	b := Binding{Account: "flux"}
	if !c.CanRead(b, "platform/fleet") {
		t.Fatal("granted READ refused")
	}
	acl.fail(errors.New("connection refused"))
	clock.Add(59 * time.Second)
	if !c.CanRead(b, "platform/fleet") || c.Stale() != 0 {
		t.Errorf("within the lifetime: CanRead false or Stale %d", c.Stale())
	}
	clock.Add(time.Second)
	if c.CanRead(b, "platform/fleet") {
		t.Error("past the lifetime with Gerrit down: still read")
	}
	if got := c.Stale(); got != 1 {
		t.Errorf("Stale = %d, want 1", got)
	}
	calls := acl.calls.Load()
	clock.Add(time.Second)
	if c.CanRead(b, "platform/fleet") || acl.calls.Load() != calls {
		t.Errorf("a second after a failed ask: read, or asked again (%d calls, want %d)", acl.calls.Load(), calls)
	}
	clock.Add(10 * time.Second)
	c.CanRead(b, "platform/fleet") // asks again, fails again
	if n := strings.Count(logs.String(), "cannot ask Gerrit"); n != 1 {
		t.Errorf("the failure is logged %d times, want once:\n%s", n, logs.String())
	}
	acl.fail(nil)
	clock.Add(10 * time.Second)
	if !c.CanRead(b, "platform/fleet") {
		t.Error("Gerrit answers again: still refused")
	}
	if c.Stale() != 0 {
		t.Errorf("Stale = %d after Gerrit answered, want 0", c.Stale())
	}
	if !strings.Contains(logs.String(), "Gerrit answers read checks again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

// Concurrent checks of one question share one call to Gerrit.
func TestGerritCheckCoalesces(t *testing.T) {
	acl := newFakeACL()
	acl.set("platform/fleet", "flux", "refs/heads/main", true)
	acl.hold = make(chan struct{})
	c := NewGerritChecker(acl, gated, WithTimeout(time.Minute))
	const n = 20
	var wg sync.WaitGroup
	var granted atomic.Int64
	for range n {
		wg.Go(func() {
			if c.CanRead(Binding{Account: "flux"}, "platform/fleet") {
				granted.Add(1)
			}
		})
	}
	// Let them all queue on the one call, then answer it.
	deadline := time.Now().Add(10 * time.Second)
	for acl.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(acl.hold)
	wg.Wait()
	if got := acl.calls.Load(); got != 1 {
		t.Errorf("%d concurrent checks made %d Gerrit calls, want 1", n, got)
	}
	if granted.Load() != n {
		t.Errorf("%d of %d checks granted, want all", granted.Load(), n)
	}
}

// A Gerrit that does not answer holds a check no longer than the
// timeout, and the reader is refused.
func TestGerritCheckTimeout(t *testing.T) {
	acl := newFakeACL()
	acl.set("platform/fleet", "flux", "refs/heads/main", true)
	acl.hold = make(chan struct{}) // never opened
	c := NewGerritChecker(acl, gated, WithTimeout(200*time.Millisecond))
	start := time.Now()
	if c.CanRead(Binding{Account: "flux"}, "platform/fleet") {
		t.Error("a Gerrit that never answered granted READ")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("check took %v with a 200ms timeout", d)
	}
}

func ptr[T any](v T) *T { return &v }

func slogText(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
