package gerrit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gerritgate/gerritgate/internal/redact"
)

// ErrNotFound is matched (errors.Is) by an *Error for a 404 answer.
var ErrNotFound = errors.New("not found")

// ErrUnauthorized is matched (errors.Is) by an *Error for a 401 or 403
// answer: missing or wrong credentials, or a missing permission.
var ErrUnauthorized = errors.New("unauthorized")

// Error is a failed call: Gerrit answered with an error status, or with a
// body that is not the JSON the call expects.
type Error struct {
	Op         string // the call, e.g. "query changes"
	URL        string // path and query of the request; never credentials or host
	StatusCode int    // the HTTP status, 0 if the request never got an answer
	Body       string // Gerrit's plain-text error message, bounded and redacted (see fail)
	Err        error  // the underlying cause, if any, its text redacted
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gerrit: %s %s", e.Op, e.URL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) and errors.Is(err, ErrUnauthorized)
// follow the status code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	}
	return false
}

// magic is the line Gerrit puts before every JSON body against XSSI.
const magic = ")]}'"

const (
	defaultPageSize = 100
	defaultMaxBody  = 32 << 20
	// maxErrorBody bounds the text of Gerrit's that an error repeats.
	maxErrorBody = 200
	// maxErrorRead bounds what is read of a non-2xx answer's body.
	maxErrorRead = 8 << 10
)

// Client talks to one Gerrit server. It is safe for concurrent use.
type Client struct {
	base     string // scheme://host[/path], no trailing slash
	user     string
	password string
	hc       *http.Client
	pageSize int
	maxBody  int64
	logger   *slog.Logger
	observe  func(op, outcome string)
	secrets  *redact.Secrets // scrubbed from every error
	others   *others         // see ChangesForCommits
	batch    atomic.Int64    // commit: terms a query holds (see commitBatch)
}

// Option configures a Client.
type Option func(*Client)

// WithBasicAuth makes every call authenticated (under /a/) with Gerrit's
// HTTP credentials.
func WithBasicAuth(user, password string) Option {
	return func(c *Client) { c.user, c.password = user, password }
}

// WithHTTPClient sets the HTTP client (default: one with a 60s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithPageSize sets how many changes one query page asks for (default 100).
func WithPageSize(n int) Option { return func(c *Client) { c.pageSize = n } }

// WithMaxResponse bounds the size of one response body (default 32 MiB).
func WithMaxResponse(n int64) Option { return func(c *Client) { c.maxBody = n } }

// WithLogger sets the logger for request lines (at debug level).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.logger = l } }

// WithObserver has observe called once per REST call with the call's op
// (a fixed name such as "query changes") and its outcome: "ok",
// "not_found", "unauthorized" (401, 403), "conflict" (409),
// "client_error" (other 4xx), "server_error" (5xx), "bad_answer" (a 2xx
// that is not the JSON expected) or "network" (no answer). Both sets are
// bounded, so they suit metric labels.
func WithObserver(observe func(op, outcome string)) Option {
	return func(c *Client) { c.observe = observe }
}

// New returns a client for the Gerrit at baseURL (e.g. https://review.example.org
// or https://example.org/r). Credentials go in WithBasicAuth, never in the URL.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Error repeats the URL, which may hold a password.
		return nil, errors.New("gerrit: base URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("gerrit: base URL %s: want http(s)://host[/path]", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("gerrit: base URL %s: put credentials in WithBasicAuth, not the URL", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("gerrit: base URL %s: no query or fragment allowed", u.Redacted())
	}
	c := &Client{
		base:     strings.TrimRight(u.String(), "/"),
		hc:       &http.Client{Timeout: 60 * time.Second},
		pageSize: defaultPageSize,
		maxBody:  defaultMaxBody,
		logger:   slog.New(slog.DiscardHandler),
		others:   newOthers(time.Now),
	}
	c.batch.Store(commitBatch)
	for _, o := range opts {
		o(c)
	}
	if c.pageSize < 1 {
		return nil, fmt.Errorf("gerrit: page size %d: must be at least 1", c.pageSize)
	}
	if c.maxBody < 1 {
		return nil, fmt.Errorf("gerrit: max response %d: must be at least 1", c.maxBody)
	}
	if c.hc == nil {
		return nil, errors.New("gerrit: nil HTTP client")
	}
	c.secrets = redact.NewSecrets(c.user, c.password)
	return c, nil
}

// request is one REST call. path is already escaped (segments escaped with
// url.PathEscape) and starts with "/", without the /a prefix.
type request struct {
	op     string
	method string
	path   string
	query  string // encoded
	body   any    // JSON-encoded when not nil
}

func (r request) pathAndQuery(authed bool) string {
	p := r.path
	if authed {
		p = "/a" + p
	}
	if r.query != "" {
		p += "?" + r.query
	}
	return p
}

// call performs r and decodes the JSON answer into out (which may be nil to
// discard it), and reports the outcome to the observer.
func (c *Client) call(ctx context.Context, r request, out any) error {
	err := c.do(ctx, r, out)
	if c.observe != nil {
		c.observe(r.op, outcome(err))
	}
	return err
}

// outcome names how a call went, for WithObserver.
func outcome(err error) string {
	var e *Error
	switch {
	case err == nil:
		return "ok"
	case !errors.As(err, &e) || e.StatusCode == 0:
		return "network"
	case e.StatusCode >= 200 && e.StatusCode <= 299:
		return "bad_answer"
	case e.StatusCode == http.StatusNotFound:
		return "not_found"
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return "unauthorized"
	case e.StatusCode == http.StatusConflict:
		return "conflict"
	case e.StatusCode >= 400 && e.StatusCode <= 499:
		return "client_error"
	default:
		return "server_error"
	}
}

func (c *Client) do(ctx context.Context, r request, out any) error {
	authed := c.user != ""
	pq := r.pathAndQuery(authed)
	// Whatever Gerrit (or a proxy before it) answers is shown in logs, on
	// the status page and in the API: bounded, and stripped of anything
	// that looks like a credential, ours first (an upstream that echoes
	// request headers would show our Basic credential).
	fail := func(status int, body string, err error) error {
		return &Error{Op: r.op, URL: pq, StatusCode: status,
			Body: redact.Text(body, maxErrorBody, c.secrets), Err: redact.Err(err, maxErrorBody, c.secrets)}
	}

	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fail(0, "", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+pq, body)
	if err != nil {
		return fail(0, "", errors.New("cannot build request"))
	}
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	}
	if authed {
		req.SetBasicAuth(c.user, c.password)
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.logger.DebugContext(ctx, "gerrit request failed", "op", r.op, "path", pq, "duration", time.Since(start))
		// *url.Error repeats the full URL; ours has no credentials in it,
		// but keep only the cause so the message has one URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(0, "", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Only the start of an error body is shown: read no more (a
		// proxy's error page, or a hostile upstream's endless one).
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorRead))
		c.logger.DebugContext(ctx, "gerrit request", "op", r.op, "path", pq, "status", resp.StatusCode, "bytes", len(data), "duration", time.Since(start))
		return fail(resp.StatusCode, string(data), nil)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	c.logger.DebugContext(ctx, "gerrit request", "op", r.op, "path", pq, "status", resp.StatusCode, "bytes", len(data), "duration", time.Since(start))
	if err != nil {
		return fail(resp.StatusCode, "", fmt.Errorf("reading response: %w", err))
	}
	if int64(len(data)) > c.maxBody {
		return fail(resp.StatusCode, "", fmt.Errorf("response larger than %d bytes", c.maxBody))
	}
	if out == nil {
		return nil
	}
	payload, ok := stripMagic(data)
	if !ok {
		return fail(resp.StatusCode, "", fmt.Errorf("answer is not Gerrit JSON (no %s prefix): %q", magic, bounded(string(data), 64)))
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fail(resp.StatusCode, "", fmt.Errorf("decoding answer: %w", err))
	}
	return nil
}

// stripMagic removes Gerrit's )]}' line. A JSON body without it is not from
// Gerrit (or not from its REST API), so it is refused.
func stripMagic(b []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(magic))
	if !ok {
		return nil, false
	}
	return rest, true
}

// ListProjects returns the names of the projects the account can see whose
// names start with prefix (all with ""), sorted.
func (c *Client) ListProjects(ctx context.Context, prefix string) ([]string, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("p", prefix)
	}
	var m map[string]json.RawMessage
	if err := c.call(ctx, request{op: "list projects", method: http.MethodGet, path: "/projects/", query: q.Encode()}, &m); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// Version returns the server's version, e.g. "3.13.1".
func (c *Client) Version(ctx context.Context) (string, error) {
	var v string
	err := c.call(ctx, request{op: "get version", method: http.MethodGet, path: "/config/server/version"}, &v)
	return v, err
}
