package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// nudgeService is a service with only what nudges need; nudged holds a
// poll asked for (relisted too when it was to list projects again).
func nudgeService(secret []byte) (s *service, nudged chan struct{}) {
	s, nudged, _ = relistService(secret)
	return s, nudged
}

func relistService(secret []byte) (s *service, nudged, relisted chan struct{}) {
	nudged, relisted = make(chan struct{}, 1), make(chan struct{}, 1)
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	poke := func() { signal(nudged) }
	relist := func() { signal(relisted); poke() }
	return &service{cfg: &Config{}, metrics: newMetrics(), webhook: newWebhook(secret, 0), poke: poke, relist: relist}, nudged, relisted
}

// A nudge whose body is a project-created event (Gerrit's webhooks
// plugin) asks for a poll that lists the projects again, signed or not;
// any other body, or one that is not JSON, only for a poll.
func TestNudgeProjectCreatedRelists(t *testing.T) {
	const secret = "hook-s3cret"
	created := `{"projectName":"team/new","projectHead":"refs/heads/main","type":"project-created","eventCreatedOn":1}`
	tests := []struct {
		what, body string
		signed     bool
		relist     bool
	}{
		{"project-created", created, false, true},
		{"project-created, signed", created, true, true},
		{"change-merged", `{"type":"change-merged","change":{"project":"team/new"}}`, false, false},
		{"not JSON", `type=project-created`, false, false},
		{"empty", ``, true, false},
	}
	for _, tt := range tests {
		s, nudged, relisted := relistService([]byte(secret))
		r := httptest.NewRequest("POST", "/api/v1/hooks/gerrit", strings.NewReader(tt.body))
		if tt.signed {
			r.Header.Set("X-Signature", sign(secret, tt.body))
		} else {
			r.Header.Set("Authorization", "Bearer "+secret)
		}
		w := httptest.NewRecorder()
		s.handler().ServeHTTP(w, r)
		if w.Code != http.StatusAccepted || len(nudged) != 1 {
			t.Errorf("%s: %d, poll asked for %v; want 202 and a poll", tt.what, w.Code, len(nudged) == 1)
		}
		if got := len(relisted) == 1; got != tt.relist {
			t.Errorf("%s: projects listed again = %v, want %v", tt.what, got, tt.relist)
		}
	}
}

func TestNudgeAuth(t *testing.T) {
	const secret, body = "hook-s3cret", `{"type":"change-merged"}`
	tests := []struct {
		what, path string
		header     map[string]string
		want       int
	}{
		{"secret in the path", "/api/v1/hooks/gerrit/" + secret, nil, 202},
		{"wrong secret in the path", "/api/v1/hooks/gerrit/hook-s3cre", nil, 401},
		{"bearer", "/api/v1/hooks/gerrit", map[string]string{"Authorization": "Bearer " + secret}, 202},
		{"wrong bearer", "/api/v1/hooks/gerrit", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"basic is not accepted", "/api/v1/hooks/gerrit", map[string]string{"Authorization": "Basic Z2F0ZTpob29rLXMzY3JldA=="}, 401},
		{"hmac in X-Signature", "/api/v1/hooks/gerrit", map[string]string{"X-Signature": sign(secret, body)}, 202},
		{"hmac in X-Hub-Signature-256", "/api/v1/hooks/gerrit", map[string]string{"X-Hub-Signature-256": sign(secret, body)}, 202},
		{"hmac of another body", "/api/v1/hooks/gerrit", map[string]string{"X-Signature": sign(secret, body+" ")}, 401},
		{"hmac with another key", "/api/v1/hooks/gerrit", map[string]string{"X-Signature": sign("other", body)}, 401},
		{"hmac not hex", "/api/v1/hooks/gerrit", map[string]string{"X-Signature": "sha256=zz"}, 401},
		{"no credentials", "/api/v1/hooks/gerrit", nil, 401},
	}
	for _, tt := range tests {
		s, nudged := nudgeService([]byte(secret))
		h := s.handler()
		r := httptest.NewRequest("POST", tt.path, strings.NewReader(body))
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s: %d %q, want %d", tt.what, w.Code, w.Body, tt.want)
		}
		if poked := len(nudged) == 1; poked != (tt.want == 202) {
			t.Errorf("%s: poll asked for = %v", tt.what, poked)
		}
	}

	// Without a secret configured, nothing nudges.
	s, nudged := nudgeService(nil)
	for _, r := range []*http.Request{
		httptest.NewRequest("POST", "/api/v1/hooks/gerrit", strings.NewReader(body)),
		httptest.NewRequest("POST", "/api/v1/hooks/gerrit/x", strings.NewReader(body)),
	} {
		r.Header.Set("Authorization", "Bearer ")
		w := httptest.NewRecorder()
		s.handler().ServeHTTP(w, r)
		if w.Code != http.StatusForbidden || len(nudged) != 0 {
			t.Errorf("no secret configured: %s %s = %d", r.Method, r.URL.Path, w.Code)
		}
	}
}

func TestAddrRate(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")
	l := newAddrRate(3, time.Second)
	t0 := time.Unix(1000, 0)
	var got []bool
	for i := 0; i < 5; i++ {
		got = append(got, l.allow(a, t0))
	}
	if want := []bool{true, true, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("burst: %v, want %v", got, want)
	}
	if !l.allow(b, t0) {
		t.Error("another address is limited by the first one's nudges")
	}
	if l.allow(a, t0.Add(500*time.Millisecond)) {
		t.Error("allowed half an interval after the burst")
	}
	if !l.allow(a, t0.Add(1100*time.Millisecond)) || l.allow(a, t0.Add(1100*time.Millisecond)) {
		t.Error("one interval later: want exactly one more")
	}

	// A flood of addresses fills the table: new ones are refused until
	// old buckets have refilled, and then forgotten.
	l = newAddrRate(1, time.Second)
	for i := 0; i < maxAddrs; i++ {
		l.allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), t0)
	}
	if l.allow(a, t0) {
		t.Error("a new address was let in past the table's bound")
	}
	if !l.allow(a, t0.Add(2*time.Second)) {
		t.Error("refilled buckets were not forgotten")
	}
	if len(l.buckets) > maxAddrs {
		t.Errorf("%d buckets, bound %d", len(l.buckets), maxAddrs)
	}
}

// Signed nudges are read a few at a time: past that, 503 before reading.
func TestSignedNudgeReadsBounded(t *testing.T) {
	h := newWebhook([]byte("k"), 0)
	for i := 0; i < maxSignedReads; i++ {
		h.signed <- struct{}{}
	}
	r := httptest.NewRequest("POST", "/api/v1/hooks/gerrit", strings.NewReader("{}"))
	r.Header.Set("X-Signature", sign("k", "{}"))
	if got := h.authorize(httptest.NewRecorder(), r); got != http.StatusServiceUnavailable {
		t.Errorf("with every read slot taken: %d, want 503", got)
	}
	<-h.signed
	r = httptest.NewRequest("POST", "/api/v1/hooks/gerrit", strings.NewReader("{}"))
	r.Header.Set("X-Signature", sign("k", "{}"))
	if got := h.authorize(httptest.NewRecorder(), r); got != 0 {
		t.Errorf("with a slot free: %d, want 0", got)
	}
	big := httptest.NewRequest("POST", "/api/v1/hooks/gerrit", strings.NewReader(strings.Repeat("x", maxNudgeBody+1)))
	big.Header.Set("X-Signature", sign("k", strings.Repeat("x", maxNudgeBody+1)))
	if got := h.authorize(httptest.NewRecorder(), big); got != http.StatusBadRequest {
		t.Errorf("body over the bound: %d, want 400", got)
	}
}

// Slow nudges hold no connections: from one address one nudge is in
// progress at a time (the others are answered 429 at once and closed),
// and the one in progress is cut when its body has not arrived within
// the nudge read timeout, well before the general body timeout. Another
// address nudges meanwhile, and the first nudges again afterwards.
func TestSlowNudgesHoldNoConnections(t *testing.T) {
	const secret = "hook-s3cret"
	const readTimeout = time.Second
	s, nudged := nudgeService([]byte(secret))
	s.cfg.HTTP.bodyTimeout = 20 * time.Second
	s.webhook = newWebhook([]byte(secret), readTimeout)
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	path := "/api/v1/hooks/gerrit/" + secret

	start := time.Now()
	var stalled []net.Conn
	for range 5 {
		c := dialFrom(t, "127.0.0.2", addr)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gate\r\nContent-Length: 1000\r\n\r\n{", path)
		stalled = append(stalled, c)
	}
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Post(srv.URL+path, "application/json", strings.NewReader(`{"type":"ref-updated"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || len(nudged) != 1 {
		t.Errorf("a nudge from 127.0.0.1 while 127.0.0.2 stalls: %d, poll asked %v; want 202 and a poll", resp.StatusCode, len(nudged) == 1)
	}
	<-nudged

	codes := map[int]int{}
	for i, c := range stalled {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("stalled nudge %d: no answer: %v", i, err)
			continue
		}
		codes[resp.StatusCode]++
		// The answer ends the connection: the server reads no more of
		// a body it refused or gave up on.
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Errorf("stalled nudge %d (%d): connection still open after the answer: %v", i, resp.StatusCode, err)
		}
	}
	if d := time.Since(start); d > readTimeout+5*time.Second {
		t.Errorf("stalled nudges held for %v, want about the nudge read timeout %v", d, readTimeout)
	}
	if codes[http.StatusTooManyRequests] != 4 || codes[http.StatusBadRequest] != 1 {
		t.Errorf("answers to 5 stalled nudges from one address: %v, want 4 refused at once (429) and 1 cut (400)", codes)
	}
	if len(nudged) != 0 {
		t.Error("a stalled nudge asked for a poll")
	}

	// The address's nudge is over: a whole one goes through.
	c := dialFrom(t, "127.0.0.2", addr)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gate\r\nContent-Length: 2\r\n\r\n{}", path)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Errorf("a whole nudge from 127.0.0.2 afterwards: %v, %v; want 202", resp, err)
	}
}
