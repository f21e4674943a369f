package deploy

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// Notify outcomes, for metrics.
const (
	NotifySent    = "sent"    // the receiver answered 2xx
	NotifyRetried = "retried" // an attempt failed and is tried again
	NotifyFailed  = "failed"  // every attempt failed; Flux notices at its next poll
	NotifyDropped = "dropped" // the queue was full: not sent
)

// Notification is what a Receiver is sent after deploy/<Environment>
// moved: the body generic-hmac receivers check the signature of.
type Notification struct {
	Project     string `json:"project"`
	Branch      string `json:"branch"`
	Environment string `json:"environment"`
	Reason      Reason `json:"reason"`
	From        string `json:"from"`
	To          string `json:"to"`
}

type notification struct {
	receivers []gate.Receiver
	body      Notification
}

// Notifier wakes Flux Receivers after each movement of deploy/<env>,
// in the background: a failure is logged and counted, never fatal, and
// never delays a reconcile.
type Notifier struct {
	client  *http.Client
	logger  *slog.Logger
	observe func(outcome string)
	tries   int
	backoff time.Duration
	queue   chan notification
}

// NotifierOption configures a Notifier.
type NotifierOption func(*Notifier)

// WithNotifyLogger sets the Notifier's logger.
func WithNotifyLogger(l *slog.Logger) NotifierOption { return func(n *Notifier) { n.logger = l } }

// WithNotifyObserver sees the outcome of each call (Notify*).
func WithNotifyObserver(f func(outcome string)) NotifierOption {
	return func(n *Notifier) { n.observe = f }
}

// WithNotifyRetry sets how many times a receiver is called (default 3),
// the wait after the first failure (default 1s, doubled each time) and
// the timeout of one call (default 10s).
func WithNotifyRetry(tries int, backoff, timeout time.Duration) NotifierOption {
	return func(n *Notifier) { n.tries, n.backoff, n.client.Timeout = max(tries, 1), backoff, timeout }
}

// NewNotifier returns a Notifier.
func NewNotifier(opts ...NotifierOption) *Notifier {
	n := &Notifier{
		client: &http.Client{
			Timeout: 10 * time.Second,
			// A receiver that redirects is misconfigured; following it
			// would send the signed body somewhere unnamed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logger: slog.New(slog.DiscardHandler), observe: func(string) {},
		tries: 3, backoff: time.Second,
		queue: make(chan notification, 256),
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

// Enqueue queues the notification of t's receivers about res when res
// moved the deploy ref; it never waits.
func (n *Notifier) Enqueue(t Target, res Result) {
	if len(t.Notify) == 0 || !moved(res) {
		return
	}
	nt := notification{receivers: t.Notify, body: Notification{
		Project: t.Project, Branch: t.Branch, Environment: t.Env, Reason: res.Reason, From: res.From, To: res.To,
	}}
	select {
	case n.queue <- nt:
	default:
		n.observe(NotifyDropped)
		n.logger.Warn("Flux not notified: too many notifications waiting", "project", t.Project, "env", t.Env)
	}
}

// moved reports whether res moved the deploy ref: a reconcile that failed
// after advancing through earlier windows did too.
func moved(res Result) bool {
	r := res.Reason
	return r == Advanced || r == Initialized || r == Adopted || res.To != res.From
}

// Run sends queued notifications, in order, until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case nt := <-n.queue:
			body, err := json.Marshal(nt.body)
			if err != nil {
				continue
			}
			for _, r := range nt.receivers {
				err := retry(ctx, n.tries, n.backoff, func() { n.observe(NotifyRetried) }, func() error { return n.call(ctx, r, body) })
				if err != nil {
					n.observe(NotifyFailed)
					n.logger.Warn("Flux receiver not notified; Flux notices at its next poll",
						"project", nt.body.Project, "env", nt.body.Environment, "receiver", redacted(r.URL), "err", err)
					continue
				}
				n.observe(NotifySent)
			}
		}
	}
}

// call posts body to one receiver, signed for generic-hmac.
func (n *Notifier) call(ctx context.Context, r gate.Receiver, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bad receiver URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gerritgate")
	if r.Type == gate.ReceiverGenericHMAC {
		token, err := readToken(r.TokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("X-Signature", signature(token, body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		// url.Error holds the URL, whose path is the receiver's secret.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// signature is the X-Signature of a generic-hmac Receiver:
// sha256=<hex HMAC-SHA256 of body keyed by the token>.
func signature(token, body []byte) string {
	m := hmac.New(sha256.New, token)
	m.Write(body)
	return fmt.Sprintf("sha256=%x", m.Sum(nil))
}

// readToken reads a receiver's token file: the token of its Secret, one
// trailing newline allowed.
func readToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("receiver token: %w", err)
	}
	tok := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if tok == "" {
		return nil, fmt.Errorf("receiver token file %s is empty", path)
	}
	return []byte(tok), nil
}

// redacted is a receiver URL fit for logs: scheme and host, not the path
// (a Receiver's webhook path is derived from its token).
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
