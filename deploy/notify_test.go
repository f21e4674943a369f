package deploy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// receiver is a Flux generic-hmac Receiver: it checks X-Signature over
// the raw body with its token, as notification-controller does.
type receiver struct {
	token []byte
	mu    sync.Mutex
	calls []Notification
	fail  int // answer 500 to the next calls
	bad   int // calls whose signature did not verify
	got   chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	m := hmac.New(sha256.New, r.token)
	m.Write(body)
	if r.token != nil && req.Header.Get("X-Signature") != fmt.Sprintf("sha256=%x", m.Sum(nil)) {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil || req.Method != http.MethodPost {
		r.bad++
		return
	}
	r.calls = append(r.calls, n)
	r.got <- struct{}{}
}

func TestNotifierCallsEachReceiverOncePerAdvance(t *testing.T) {
	store, r, f, _, target := setup(t)
	token := []byte("s3cret-token")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, append(token, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	hmacRecv := &receiver{token: token, got: make(chan struct{}, 10), fail: 1}
	plainRecv := &receiver{got: make(chan struct{}, 10)}
	hs, ps := httptest.NewServer(hmacRecv), httptest.NewServer(plainRecv)
	defer hs.Close()
	defer ps.Close()
	target.Notify = []gate.Receiver{
		{URL: hs.URL + "/hook/abc", Type: gate.ReceiverGenericHMAC, TokenFile: tokenFile},
		{URL: ps.URL + "/hook/def", Type: gate.ReceiverGeneric},
	}
	out := &outcomes{got: map[string]int{}}
	n := NewNotifier(WithNotifyObserver(out.observe), WithNotifyRetry(3, time.Millisecond, 5*time.Second))
	d := New(store, f, WithNotifier(n))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	wait := func(rc *receiver, what string) {
		t.Helper()
		select {
		case <-rc.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: receiver not called", what)
		}
	}
	base := r.emptyRoot()
	r.setBranch(base)
	a := r.commit("a", base)
	f.approved[a.String()] = true
	if res := d.Reconcile(ctx, target); res.Reason != Initialized {
		t.Fatalf("baseline: %s %s", res.Reason, res.Message)
	}
	wait(hmacRecv, "baseline")
	wait(plainRecv, "baseline")
	if res := d.Reconcile(ctx, target); res.Reason != UpToDate {
		t.Fatalf("up to date: %s", res.Reason)
	}
	r.setBranch(a)
	if res := d.Reconcile(ctx, target); res.Reason != Advanced {
		t.Fatalf("advance: %s %s", res.Reason, res.Message)
	}
	wait(hmacRecv, "advance")
	wait(plainRecv, "advance")
	for deadline := time.Now().Add(10 * time.Second); out.count(NotifySent) < 4 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for _, rc := range []*receiver{hmacRecv, plainRecv} {
		rc.mu.Lock()
		if len(rc.calls) != 2 || rc.bad != 0 {
			t.Errorf("receiver: %d good calls and %d bad ones, want 2 and 0 (one per movement)", len(rc.calls), rc.bad)
		} else if c := rc.calls[1]; c.Reason != Advanced || c.From != base.String() || c.To != a.String() || c.Environment != "prod" || c.Project != "platform/fleet" {
			t.Errorf("second call %+v, want the advance from %s to %s", c, base, a)
		}
		rc.mu.Unlock()
	}
	if got := out.take(); got[NotifySent] != 4 || got[NotifyRetried] != 1 || got[NotifyFailed] != 0 {
		t.Errorf("outcomes %v, want 4 sent after 1 retry", got)
	}
}

func TestNotifierFailureIsCountedNotFatal(t *testing.T) {
	rc := &receiver{token: []byte("right"), got: make(chan struct{}, 10)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("wrong"), 0o600)
	out := &outcomes{got: map[string]int{}}
	var log syncBuffer
	n := NewNotifier(WithNotifyObserver(out.observe), WithNotifyRetry(2, time.Millisecond, time.Second),
		WithNotifyLogger(slog.New(slog.NewTextHandler(&log, nil))))
	n.Enqueue(Target{Project: "p", Env: "prod", Notify: []gate.Receiver{
		{URL: srv.URL + "/hook/secret-path", Type: gate.ReceiverGenericHMAC, TokenFile: tokenFile},
		{URL: srv.URL + "/hook/y", Type: gate.ReceiverGenericHMAC, TokenFile: filepath.Join(t.TempDir(), "missing")},
	}}, Result{Reason: Advanced, To: "x"})
	n.Enqueue(Target{Project: "p", Env: "prod", Notify: []gate.Receiver{{URL: srv.URL, Type: gate.ReceiverGeneric}}}, Result{Reason: NotApproved})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for out.count(NotifyFailed) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := out.take(); got[NotifyFailed] != 2 || got[NotifyRetried] != 2 || got[NotifySent] != 0 {
		t.Errorf("outcomes %v, want 2 failed after 1 retry each, none sent (a wrong token is refused, a missing one is not sent)", got)
	}
	if l := log.String(); strings.Contains(l, "secret-path") || !strings.Contains(l, "Flux receiver not notified") {
		t.Errorf("the log shows a receiver's path, or not the failure:\n%s", l)
	}
	if rc.bad != 2 {
		t.Errorf("receiver saw %d badly signed calls, want 2 (the wrong token, tried twice)", rc.bad)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
