package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// webhook authenticates nudges (POST /api/v1/hooks/gerrit) with a shared
// secret and rate-limits them per source address. A nudge can only make
// the gate poll sooner, but unbounded nudges make it poll Gerrit without
// end, so they need the secret too. One source address has one nudge in
// progress at a time, and its body must arrive within readTimeout, so
// slow nudges cannot hold connections.
type webhook struct {
	secret      []byte // empty: nudges are refused
	limit       *addrRate
	signed      chan struct{} // bodies being read for their HMAC
	readTimeout time.Duration

	mu     sync.Mutex
	active map[netip.Addr]bool // addresses with a nudge in progress
}

// nudgeReadTimeout bounds reading a nudge's body: Gerrit sends a few KB
// at once.
const nudgeReadTimeout = 5 * time.Second

// newWebhook returns a webhook for secret whose nudges must arrive whole
// within readTimeout (at most nudgeReadTimeout; 0: nudgeReadTimeout).
func newWebhook(secret []byte, readTimeout time.Duration) *webhook {
	if readTimeout <= 0 || readTimeout > nudgeReadTimeout {
		readTimeout = nudgeReadTimeout
	}
	return &webhook{
		secret: secret, limit: newAddrRate(10, 200*time.Millisecond), signed: make(chan struct{}, maxSignedReads),
		readTimeout: readTimeout, active: map[netip.Addr]bool{},
	}
}

// begin marks a nudge from a in progress, unless one already is; end
// (called once) ends it.
func (h *webhook) begin(a netip.Addr) (end func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active[a] {
		return nil, false
	}
	h.active[a] = true
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.active, a)
	}, true
}

// maxNudgeBody bounds what is read of a nudge's body (for its HMAC), and
// maxSignedReads how many are read at once, so nudges hold at most 1 MiB:
// Gerrit's events are a few KB.
const (
	maxNudgeBody   = 256 << 10
	maxSignedReads = 4
)

// authorized reports whether a nudge carries the secret, in one of the
// forms senders can produce:
//   - in the path, /api/v1/hooks/gerrit/<secret>: Gerrit's webhooks plugin
//     can set only a URL;
//   - Authorization: Bearer <secret>;
//   - X-Signature or X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
//     body keyed by the secret>, as Flux and GitHub-style relays sign.
//
// It returns 0 when the nudge may go on, else the status to answer with.
// Only a signed nudge's body is read (bounded, a few at a time).
func (h *webhook) authorize(w http.ResponseWriter, r *http.Request) int {
	if len(h.secret) == 0 {
		return http.StatusForbidden
	}
	verdict := func(ok bool) int {
		if ok {
			return 0
		}
		return http.StatusUnauthorized
	}
	equal := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), h.secret) == 1 }
	if p := r.PathValue("secret"); p != "" {
		return verdict(equal(p))
	}
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return verdict(equal(strings.TrimSpace(token)))
	}
	for _, name := range []string{"X-Signature", "X-Hub-Signature-256"} {
		if sig, ok := strings.CutPrefix(r.Header.Get(name), "sha256="); ok {
			select {
			case h.signed <- struct{}{}:
				defer func() { <-h.signed }()
			default:
				return http.StatusServiceUnavailable
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNudgeBody))
			if err != nil {
				return http.StatusBadRequest
			}
			r.Body = io.NopCloser(bytes.NewReader(body)) // for readEvent
			got, err := hex.DecodeString(sig)
			mac := hmac.New(sha256.New, h.secret)
			mac.Write(body)
			return verdict(err == nil && hmac.Equal(got, mac.Sum(nil)))
		}
	}
	return http.StatusUnauthorized
}

// readEvent reads a nudge's body to its end (within maxNudgeBody) and
// reports whether it is a project-created event, as Gerrit's webhooks
// plugin sends it: a hint like the nudge itself, that the projects behind
// the policy's globs are worth listing again. Bodies are parsed a few at a
// time (the slots of signed reads); past that, one is only drained.
func (h *webhook) readEvent(w http.ResponseWriter, r *http.Request) (created bool, err error) {
	body := http.MaxBytesReader(w, r.Body, maxNudgeBody)
	select {
	case h.signed <- struct{}{}:
		defer func() { <-h.signed }()
	default:
		_, err := io.Copy(io.Discard, body)
		return false, err
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return false, err
	}
	var ev struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(b, &ev) == nil && ev.Type == "project-created", nil
}

// nudgeHandler answers POST /api/v1/hooks/gerrit[/<secret>], where
// Gerrit's webhooks plugin (or anything watching stream-events) reports
// that something changed: poke asks for a poll at once instead of at the
// next tick; relist does too, and has the poll list Gerrit's projects
// again (the body says project-created). The body is not trusted or read
// for facts beyond that type: every decision still comes from Gerrit's
// REST API and git, so a nudge can only make the gate look sooner. Each source address gets a few nudges a
// second at most, whether they carry the secret or not, and one at a
// time: the body is read (to its end, within readTimeout) while the
// address's nudge is in progress, and a refused nudge's body is not read
// at all, its connection closed with the answer.
func nudgeHandler(h *webhook, poke, relist func()) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		refuse := func(code int, msg string) {
			w.Header().Set("Connection", "close")
			rc.SetReadDeadline(time.Unix(1, 0))
			http.Error(w, msg, code)
		}
		addr := uploadpack.PeerAddr(r.RemoteAddr)
		if !h.limit.allow(addr, time.Now()) {
			w.Header().Set("Retry-After", "1")
			refuse(http.StatusTooManyRequests, "too many nudges from this address")
			return
		}
		end, ok := h.begin(addr)
		if !ok {
			w.Header().Set("Retry-After", "1")
			refuse(http.StatusTooManyRequests, "a nudge from this address is in progress")
			return
		}
		defer end()
		rc.SetReadDeadline(time.Now().Add(h.readTimeout))
		switch h.authorize(w, r) {
		case 0:
		case http.StatusForbidden:
			refuse(http.StatusForbidden, "nudges are off: set http.webhookSecretFile")
			return
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "1")
			refuse(http.StatusServiceUnavailable, "too many signed nudges being read")
			return
		case http.StatusBadRequest:
			refuse(http.StatusBadRequest, "nudge body too large, unreadable or not sent in time")
			return
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="gerritgate webhook"`)
			refuse(http.StatusUnauthorized, "webhook secret required")
			return
		}
		// The whole body is read here, within the deadline, not by
		// net/http after.
		created, err := h.readEvent(w, r)
		if err != nil {
			refuse(http.StatusBadRequest, "nudge body too large, unreadable or not sent in time")
			return
		}
		if created {
			relist()
		} else {
			poke()
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// addrRate is a token bucket per source address: burst requests at once,
// then one every interval. It remembers at most maxAddrs addresses; when
// full, it forgets those whose bucket has refilled, and refuses new ones
// if that is not enough (a flood of addresses loses its nudges, not the
// process its memory).
type addrRate struct {
	burst    float64
	interval time.Duration

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxAddrs = 4096

func newAddrRate(burst int, interval time.Duration) *addrRate {
	return &addrRate{burst: float64(burst), interval: interval, buckets: map[netip.Addr]*bucket{}}
}

func (l *addrRate) allow(a netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[a]
	if !ok {
		if len(l.buckets) >= maxAddrs {
			l.forgetFull(now)
		}
		if len(l.buckets) >= maxAddrs {
			return false
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[a] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.interval))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *addrRate) forgetFull(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.last))/float64(l.interval) >= l.burst {
			delete(l.buckets, a)
		}
	}
}
