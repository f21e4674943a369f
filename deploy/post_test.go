package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// fakeReviews keeps the messages of changes like Gerrit does.
type fakeReviews struct {
	mu   sync.Mutex
	self gate.Account
	msgs map[int][]gate.Message
	// failPosts fails the next posts; lostAnswer makes a failing post
	// store the message anyway (Gerrit wrote it, the answer was lost).
	failPosts  int
	lostAnswer bool
	block      chan struct{}  // when set, PostMessage waits for it
	delay      time.Duration  // how long PostMessage takes
	calls      map[string]int // REST calls by method, when not nil
}

// count counts a call; under mu.
func (f *fakeReviews) count(method string) {
	if f.calls != nil {
		f.calls[method]++
	}
}

func (f *fakeReviews) Self(ctx context.Context) (gate.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("Self")
	return f.self, nil
}

func (f *fakeReviews) Messages(ctx context.Context, project string, number int) ([]gate.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("Messages")
	return append([]gate.Message(nil), f.msgs[number]...), nil
}

func (f *fakeReviews) PostMessage(ctx context.Context, project string, number int, revision, message, tag string) error {
	if f.block != nil {
		<-f.block
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("PostMessage")
	fail := f.failPosts > 0
	if fail {
		f.failPosts--
		if !f.lostAnswer {
			return errors.New("503 Service Unavailable")
		}
	}
	f.msgs[number] = append(f.msgs[number], gate.Message{Author: f.self, Tag: tag, Message: "Patch Set 1:\n\n" + message})
	if fail {
		return errors.New("connection reset")
	}
	return nil
}

// posted counts, per change, the deploy messages of the gate itself.
func (f *fakeReviews) posted() map[int]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]int{}
	for n, ms := range f.msgs {
		for _, m := range ms {
			if m.Tag == DeployTag && m.Author.ID == f.self.ID {
				out[n]++
			}
		}
	}
	return out
}

type outcomes struct {
	mu  sync.Mutex
	got map[string]int
}

func (o *outcomes) observe(s string) { o.mu.Lock(); o.got[s]++; o.mu.Unlock() }

func (o *outcomes) count(s string) int { o.mu.Lock(); defer o.mu.Unlock(); return o.got[s] }

func (o *outcomes) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.got
	o.got = map[string]int{}
	return g
}

func TestPosterPostsOncePerChangeAndEnvironment(t *testing.T) {
	store, r, f, d, target := setup(t)
	ctx := context.Background()
	base := r.emptyRoot()
	r.setBranch(base)
	a := r.commit("a", base)
	b := r.commit("b", a)
	c := r.commit("c", b)
	f.numbers = map[string]int{a.String(): 101, b.String(): 102, c.String(): 103}
	for _, h := range []plumbing.Hash{a, b, c} {
		f.approved[h.String()] = true
	}
	gateAcct := gate.Account{ID: 9, Username: "gate"}
	rv := &fakeReviews{self: gateAcct, msgs: map[int][]gate.Message{
		// A user's look-alike message, with the tag and the text, does
		// not stop the gate's own.
		102: {{Author: gate.Account{ID: 5, Username: "mallory"}, Tag: DeployTag, Message: "Deployed to prod (deploy/prod of platform/fleet) at 2020-01-01"}},
	}}
	out := &outcomes{got: map[string]int{}}
	p := NewPoster(store, rv, WithPostObserver(out.observe), WithPostRetry(3, time.Millisecond))
	served, _ := store.Served("platform/fleet")
	ref := func(name string) plumbing.Hash {
		h, err := served.Ref(name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	if res := d.Reconcile(ctx, target); res.Reason != Initialized {
		t.Fatalf("baseline: %s %s", res.Reason, res.Message)
	}
	baseline := ref(audit.Ref("prod"))
	r.setBranch(b)
	if res := d.Reconcile(ctx, target); res.Reason != Advanced {
		t.Fatalf("advance to b: %s %s", res.Reason, res.Message)
	}

	steps := []struct {
		what    string
		prepare func()
		wantErr bool
		want    map[int]int
		outcome map[string]int
	}{
		{"a and b entered: one message each, despite mallory's", nil, false, map[int]int{101: 1, 102: 1}, map[string]int{PostPosted: 2}},
		{"nothing new", nil, false, map[int]int{101: 1, 102: 1}, map[string]int{}},
		{"crash after posting, before the ref moved: nothing twice", func() {
			if err := served.UpdateRefs(storage.RefUpdate{Name: target.PostedRef(), Old: ref(target.PostedRef()), New: baseline}); err != nil {
				t.Fatal(err)
			}
		}, false, map[int]int{101: 1, 102: 1}, map[string]int{PostPresent: 2}},
		{"posted ref deleted by hand: nothing twice", func() {
			if _, err := served.RunGit(served.GitCommand(ctx, "update-ref", "-d", target.PostedRef())); err != nil {
				t.Fatal(err)
			}
		}, false, map[int]int{101: 1, 102: 1}, map[string]int{PostPresent: 2}},
		{"c entered; Gerrit fails twice, then answers", func() {
			r.setBranch(c)
			if res := d.Reconcile(ctx, target); res.Reason != Advanced {
				t.Fatalf("advance to c: %s %s", res.Reason, res.Message)
			}
			rv.failPosts = 2
		}, false, map[int]int{101: 1, 102: 1, 103: 1}, map[string]int{PostRetried: 2, PostPosted: 1}},
		{"d entered; Gerrit stores the message but the answer is lost: not posted twice", func() {
			d2 := r.commit("d", c)
			f.numbers[d2.String()], f.approved[d2.String()] = 104, true
			r.setBranch(d2)
			if res := d.Reconcile(ctx, target); res.Reason != Advanced {
				t.Fatalf("advance to d: %s %s", res.Reason, res.Message)
			}
			rv.failPosts, rv.lostAnswer = 1, true
		}, false, map[int]int{101: 1, 102: 1, 103: 1, 104: 1}, map[string]int{PostRetried: 1, PostPresent: 1}},
		{"e entered; Gerrit keeps failing: an error, the posted ref stays, the advance stands", func() {
			head, _ := r.up.Ref("refs/heads/main")
			e := r.commit("e", head)
			f.numbers[e.String()], f.approved[e.String()] = 105, true
			r.setBranch(e)
			if res := d.Reconcile(ctx, target); res.Reason != Advanced {
				t.Fatalf("advance to e: %s %s", res.Reason, res.Message)
			}
			rv.failPosts, rv.lostAnswer = 100, false
		}, true, map[int]int{101: 1, 102: 1, 103: 1, 104: 1}, map[string]int{PostRetried: 2, PostFailed: 1}},
		{"Gerrit back: e gets its message", func() { rv.failPosts = 0 }, false,
			map[int]int{101: 1, 102: 1, 103: 1, 104: 1, 105: 1}, map[string]int{PostPosted: 1}},
	}
	for _, st := range steps {
		if st.prepare != nil {
			st.prepare()
		}
		err := p.Post(ctx, target)
		if (err != nil) != st.wantErr {
			t.Errorf("%s: error %v, want error %v", st.what, err, st.wantErr)
		}
		if got := rv.posted(); !maps.Equal(got, st.want) {
			t.Errorf("%s: gate messages per change %v, want %v", st.what, got, st.want)
		}
		if got := out.take(); !maps.Equal(got, st.outcome) {
			t.Errorf("%s: outcomes %v, want %v", st.what, got, st.outcome)
		}
		if !st.wantErr && ref(target.PostedRef()) != ref(audit.Ref("prod")) {
			t.Errorf("%s: %s is not at the audit tip", st.what, target.PostedRef())
		}
	}
	for n, ms := range rv.msgs {
		for _, m := range ms {
			if m.Author.ID == gateAcct.ID && !strings.Contains(m.Message, "Deployed to prod (deploy/prod of platform/fleet) at ") {
				t.Errorf("change %d: message %q", n, m.Message)
			}
		}
	}
}

// Each message costs one REST call, the post, while the Poster knows that
// nothing was posted past PostedRef (it moved it there itself); it reads
// the change first (and asks once who the gate is) only when it does not:
// its first post after a start, and after a post that failed.
func TestPosterReadsOnlyWhenUnsure(t *testing.T) {
	store, r, f, d, target := setup(t)
	ctx := context.Background()
	base := r.emptyRoot()
	initialize(t, d, r, &target, base)
	f.numbers = map[string]int{}
	rv := &fakeReviews{self: gate.Account{ID: 9, Username: "gate"}, msgs: map[int][]gate.Message{}, calls: map[string]int{}}
	p := NewPoster(store, rv, WithPostRetry(3, time.Millisecond))
	head, n := base, 100
	// advance merges k approved changes, each reconciled on its own
	// (one audit record each) when apart, else together.
	advance := func(k int, apart bool) {
		for range k {
			n++
			head = r.commit(fmt.Sprint(n), head)
			f.numbers[head.String()], f.approved[head.String()] = n, true
			if apart {
				r.setBranch(head)
				if res := d.Reconcile(ctx, target); res.Reason != Advanced {
					t.Fatalf("advance to %d: %s %s", n, res.Reason, res.Message)
				}
			}
		}
		r.setBranch(head)
		if res := d.Reconcile(ctx, target); !apart && res.Reason != Advanced {
			t.Fatalf("advance to %d: %s %s", n, res.Reason, res.Message)
		}
	}
	steps := []struct {
		what    string
		prepare func()
		want    map[string]int
	}{
		{"first post of this Poster, 2 changes: it reads before posting", func() { advance(2, false) },
			map[string]int{"Self": 1, "Messages": 2, "PostMessage": 2}},
		{"3 changes in one record: only the posts", func() { advance(3, false) },
			map[string]int{"PostMessage": 3}},
		{"3 records of one change each: only the posts", func() { advance(3, true) },
			map[string]int{"PostMessage": 3}},
		{"a post fails, its answer lost: that change is read before the next attempt, the next record is not",
			func() { advance(2, false); advance(1, true); rv.failPosts, rv.lostAnswer = 1, true },
			map[string]int{"PostMessage": 3, "Messages": 1}},
		{"a restart (a new Poster): it reads again, and asks who it is once", func() {
			p = NewPoster(store, rv, WithPostRetry(3, time.Millisecond))
			advance(2, false)
		}, map[string]int{"Self": 1, "Messages": 2, "PostMessage": 2}},
		{"PostedRef moved back by hand: it reads every change of every record after it", func() {
			served, _ := store.Served("platform/fleet")
			if _, err := served.RunGit(served.GitCommand(ctx, "update-ref", "-d", target.PostedRef())); err != nil {
				t.Fatal(err)
			}
		}, map[string]int{"Messages": 13}},
	}
	for _, st := range steps {
		st.prepare()
		rv.mu.Lock()
		rv.calls = map[string]int{}
		rv.mu.Unlock()
		if err := p.Post(ctx, target); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		rv.mu.Lock()
		got := rv.calls
		rv.mu.Unlock()
		if !maps.Equal(got, st.want) {
			t.Errorf("%s: REST calls %v, want %v", st.what, got, st.want)
		}
	}
	for c, k := range rv.posted() {
		if k != 1 {
			t.Errorf("change %d got %d deploy messages, want 1", c, k)
		}
	}
	if got := len(rv.posted()); got != n-100 {
		t.Errorf("%d changes got a message, want %d", got, n-100)
	}
}

// A reconcile hands posting to the Poster's goroutine and does not wait
// for Gerrit to answer.
func TestReconcileDoesNotWaitForPosting(t *testing.T) {
	store, r, f, _, target := setup(t)
	base := r.emptyRoot()
	a := r.commit("a", base)
	r.setBranch(a)
	f.approved[a.String()] = true
	rv := &fakeReviews{self: gate.Account{ID: 9}, msgs: map[int][]gate.Message{}, block: make(chan struct{})}
	p := NewPoster(store, rv)
	d := New(store, f, WithPoster(p))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	reconciled := make(chan Result)
	go func() { reconciled <- d.Reconcile(ctx, target) }()
	select {
	case res := <-reconciled:
		if res.Reason != Initialized {
			t.Fatalf("reconcile: %s %s", res.Reason, res.Message)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reconcile waits for Gerrit to take the deploy message")
	}
	close(rv.block)
	for deadline := time.Now().Add(10 * time.Second); len(rv.posted()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the message was never posted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The Poster reads the served repository in its own goroutine while
// reconciles write into the same one (objects, new packs, refs). Run with
// -race: go-git's storage is not safe for that by itself.
func TestPostWhileAdvancing(t *testing.T) {
	store, r, f, d, target := setup(t)
	ctx := context.Background()
	base := r.emptyRoot()
	r.setBranch(base)
	if res := d.Reconcile(ctx, target); res.Reason != Initialized {
		t.Fatalf("baseline: %s %s", res.Reason, res.Message)
	}
	// Posting is slow, so the Poster reads records while the next
	// advances copy objects and move refs.
	rv := &fakeReviews{self: gate.Account{ID: 9, Username: "gate"}, msgs: map[int][]gate.Message{}, delay: 50 * time.Millisecond}
	p := NewPoster(store, rv, WithPostRetry(1, time.Millisecond))
	f.numbers = map[string]int{}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := p.Post(ctx, target); err != nil {
				t.Errorf("post while advancing: %v", err)
				return
			}
		}
	})
	const advances = 15
	prev := base
	for i := range advances {
		c := r.commit(fmt.Sprintf("c%d", i), prev)
		f.approved[c.String()] = true
		f.numbers[c.String()] = 100 + i
		r.setBranch(c)
		if res := d.Reconcile(ctx, target); res.Reason != Advanced {
			t.Errorf("advance %d: %s %s", i, res.Reason, res.Message)
		}
		prev = c
	}
	close(stop)
	wg.Wait()
	if err := p.Post(ctx, target); err != nil {
		t.Fatalf("post after the advances: %v", err)
	}
	got := rv.posted()
	for i := range advances {
		if got[100+i] != 1 {
			t.Errorf("change %d got %d deploy messages, want 1", 100+i, got[100+i])
		}
	}
}
