// Package githttp is the read-only smart HTTP front end: it serves the gated
// repositories with C git's `git upload-pack --stateless-rpc`, and ref
// checks from an Advertiser (storage/refadv) when it has one. Only the
// upload-pack routes exist; there is no dumb protocol (which would hand out
// files of the repository) and no write path to forget to close.
package githttp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// Resolver maps a project name and the environments a reader is granted
// to the directory of the served repository to run upload-pack on.
// *storage.Store satisfies it; it must refuse unsafe names, fail for
// unknown ones (answered 404), and return storage.ErrGrant for a grant it
// cannot serve (answered 403 with why).
type Resolver interface {
	ReaderPath(project string, g storage.Grant) (string, error)
}

// Authorizer decides whether a request may read a project, and which of
// its environments. Authorize returns the reader's name for the log
// (Anonymous for a request it lets in without credentials),
// ErrUnauthenticated when credentials are missing or wrong, and
// ErrForbidden when the reader may not see the project; Environments
// returns what the reader Authorize named is granted.
type Authorizer interface {
	Authorize(r *http.Request, project string) (reader string, err error)
	Environments(reader, project string) storage.Grant
}

// Anonymous is the reader an Authorizer names for a request without
// credentials. Such requests (and all of them without an Authorizer) are
// not one reader: the clone and buffer bounds count them per source
// address only.
const Anonymous = "anonymous"

// Errors an Authorizer returns.
var (
	ErrUnauthenticated = errors.New("authentication required")
	ErrForbidden       = errors.New("forbidden")
)

// Handler serves git-upload-pack over smart HTTP.
type Handler struct {
	resolver  Resolver
	auth      Authorizer
	logger    *slog.Logger
	gitPath   string
	maxBody   int64
	timeout   time.Duration
	realm     string
	onRequest func(project, outcome string)
	limit     *uploadpack.Limiter
	budget    *Budget
	bodyTime  time.Duration
	adv       Advertiser
}

// Option configures a Handler.
type Option func(*Handler)

// WithLogger sets the logger for request lines.
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.logger = l } }

// WithAuthorizer makes every request pass a.
func WithAuthorizer(a Authorizer) Option { return func(h *Handler) { h.auth = a } }

// WithGit sets the git binary (default "git" from PATH).
func WithGit(path string) Option { return func(h *Handler) { h.gitPath = path } }

// WithMaxRequestBody bounds an upload-pack request after decompression
// (default 4 MiB): a client's wants and haves, never pack data.
func WithMaxRequestBody(n int64) Option { return func(h *Handler) { h.maxBody = n } }

// WithBudget bounds the request bodies buffered at once across requests;
// a request that finds no room gets 503 with Retry-After.
func WithBudget(b *Budget) Option { return func(h *Handler) { h.budget = b } }

// WithBodyTimeout bounds reading a request's body, on every git route
// (default 30s): a client that declares a body and stalls gets 408 and
// holds nothing; a body a route does not read closes the connection.
func WithBodyTimeout(d time.Duration) Option { return func(h *Handler) { h.bodyTime = d } }

// WithTimeout bounds one upload-pack run (default 10 minutes).
func WithTimeout(d time.Duration) Option { return func(h *Handler) { h.timeout = d } }

// WithObserver is called once per git request with the project and the
// outcome ("ok", "denied", "not_found", "error", ...), e.g. for metrics.
func WithObserver(f func(project, outcome string)) Option {
	return func(h *Handler) { h.onRequest = f }
}

// WithLimiter bounds concurrent upload-packs; a request over the bound
// gets 503 with Retry-After.
func WithLimiter(l *uploadpack.Limiter) Option { return func(h *Handler) { h.limit = l } }

// New returns a Handler serving the repositories r resolves.
func New(r Resolver, opts ...Option) *Handler {
	h := &Handler{
		resolver: r,
		logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		gitPath:  "git",
		maxBody:  4 << 20,
		timeout:  10 * time.Minute,
		bodyTime: 30 * time.Second,
		realm:    "gerritgate",
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

var gitPath = regexp.MustCompile(`^/(.+?)(?:\.git)?/(info/refs|git-upload-pack|git-receive-pack)$`)

// IsGitPath reports whether an URL path is one of the git routes, so a
// parent mux can send everything else elsewhere.
func IsGitPath(p string) bool { return gitPath.MatchString(p) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m := gitPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	project, route := m[1], m[2]
	service := r.URL.Query().Get("service")
	log := h.logger.With("project", project, "transport", "http", "remote", r.RemoteAddr)
	outcome := "ok"
	reader := ""
	defer func() {
		log.Info("git request", "reader", reader, "route", route, "outcome", outcome, "duration", time.Since(start).Round(time.Millisecond))
		if h.onRequest != nil {
			h.onRequest(project, outcome)
		}
	}()

	// A declared body must arrive within the body timeout, whatever the
	// route: net/http reads what a handler left unread after the answer,
	// with no deadline of its own. Only a POST to git-upload-pack reads
	// its body; an answer that leaves it unread closes the connection
	// without reading more.
	rc := http.NewResponseController(w)
	bodyRead := r.Body == http.NoBody
	if !bodyRead && h.bodyTime > 0 {
		rc.SetReadDeadline(time.Now().Add(h.bodyTime))
	}
	fail := func(code int, o, msg string) {
		outcome = o
		noCache(w)
		if !bodyRead {
			w.Header().Set("Connection", "close")
			rc.SetReadDeadline(time.Unix(1, 0))
		}
		http.Error(w, msg, code)
	}

	if h.auth != nil {
		var err error
		reader, err = h.auth.Authorize(r, project)
		switch {
		case errors.Is(err, ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", h.realm))
			fail(http.StatusUnauthorized, "unauthenticated", "authentication required")
			return
		case err != nil:
			// 404, not 403: a reader learns nothing about projects it
			// may not see.
			fail(http.StatusNotFound, "denied", "repository not found")
			return
		}
	}

	if route == "git-receive-pack" || service == "git-receive-pack" {
		fail(http.StatusForbidden, "push_refused", "gerritgate is read-only: push to Gerrit instead")
		return
	}
	grant := storage.Grant{All: true} // no access file: everything is public
	if h.auth != nil {
		grant = h.auth.Environments(reader, project)
	}
	dir, err := h.resolver.ReaderPath(project, grant)
	if errors.Is(err, storage.ErrGrant) {
		log.Warn("reader's environments cannot be served", "err", err)
		fail(http.StatusForbidden, "denied", "the environments you are granted of this repository cannot be served together: ask for one environment, or all of them")
		return
	}
	var nameErr *storage.NameError
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.As(err, &nameErr) {
		// An environment's repository that cannot be brought in step:
		// refused, and said in the log.
		log.Warn("repository cannot be served", "err", err)
		h.busy(w)
		fail(http.StatusServiceUnavailable, "error", "repository temporarily unavailable; retry shortly")
		return
	}
	if err != nil {
		fail(http.StatusNotFound, "not_found", "repository not found")
		return
	}
	peer := uploadpack.Peer{Reader: reader, Addr: uploadpack.PeerAddr(r.RemoteAddr)}
	if reader == Anonymous {
		peer.Reader = ""
	}
	slot := func() (release func(), ok bool) {
		if release, ok = h.limit.TryAcquire(peer); !ok {
			h.busy(w)
			fail(http.StatusServiceUnavailable, "busy", "too many clones in progress; retry shortly")
		}
		return release, ok
	}
	protocol := uploadpack.Protocol(r.Header.Get("Git-Protocol"))

	switch {
	case route == "info/refs" && r.Method == http.MethodGet:
		switch service {
		case "":
			fail(http.StatusForbidden, "dumb_refused", "only the smart HTTP protocol is served")
			return
		case "git-upload-pack":
		default:
			fail(http.StatusBadRequest, "bad_request", "unknown service: only git-upload-pack is served")
			return
		}
		if !bodyRead {
			// No git client sends one; refused before a slot is taken.
			fail(http.StatusBadRequest, "bad_request", "unexpected request body")
			return
		}
		if h.advertised(w, r, dir, protocol, log) {
			return
		}
		release, ok := slot()
		if !ok {
			return
		}
		defer release()
		var out bytes.Buffer
		if err := h.run(r.Context(), dir, protocol, uploadpack.Advertise, nil, &out); err != nil {
			log.Warn("upload-pack --advertise-refs failed", "err", err)
			fail(http.StatusInternalServerError, "error", "internal error")
			return
		}
		h.writeAdvertisement(w, protocol, out.Bytes())
	case route == "git-upload-pack" && r.Method == http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-request" {
			fail(http.StatusUnsupportedMediaType, "bad_request", "unexpected content type: want application/x-git-upload-pack-request")
			return
		}
		// The whole request is read, bounded and checked before a clone
		// slot is taken: a client that declares a body and stalls, or
		// sends garbage, holds no slot and no git process.
		req, code, msg := h.decodeBody(w, r, peer)
		defer req.free()
		if bodyRead = code == 0; bodyRead {
			// What follows is upload-pack's time, bounded on its own.
			rc.SetReadDeadline(time.Time{})
		}
		if code != 0 {
			o := "bad_request"
			if code == http.StatusServiceUnavailable {
				h.busy(w)
				o = "busy"
			}
			fail(code, o, msg)
			return
		}
		if h.listedRefs(w, r, dir, protocol, req, log) {
			return
		}
		release, ok := slot()
		if !ok {
			return
		}
		defer release()
		out := &responseWriter{w: w, rc: rc}
		if err := h.run(r.Context(), dir, protocol, uploadpack.Request, req.reader(), out); err != nil {
			log.Warn("upload-pack failed", "err", err)
			if !out.started {
				// Nothing sent yet: the client gets a status, not an
				// empty 200.
				fail(http.StatusBadRequest, "bad_request", "upload-pack refused the request")
				return
			}
			outcome = "error"
		}
	default:
		w.Header().Set("Allow", map[string]string{"info/refs": "GET", "git-upload-pack": "POST"}[route])
		fail(http.StatusMethodNotAllowed, "bad_request", "method not allowed")
	}
}

func (h *Handler) busy(w http.ResponseWriter) { w.Header().Set("Retry-After", "5") }

// decodeBody reads an upload-pack request body (within the read deadline
// ServeHTTP set), decompressing it if need be, and checks its pkt-line
// framing. On failure it returns the status and message to answer with.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, peer uploadpack.Peer) (*body, int, string) {
	in := io.Reader(http.MaxBytesReader(w, r.Body, h.maxBody))
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return &body{}, http.StatusBadRequest, "bad gzip body"
		}
		defer zr.Close()
		in = zr
	}
	req, err := readBody(in, h.maxBody, h.budget, peer)
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, errBusy):
		return req, http.StatusServiceUnavailable, "too many requests being read; retry shortly"
	case errors.Is(err, errTooLarge) || errors.As(err, &maxErr):
		return req, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", h.maxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return req, http.StatusRequestTimeout, "request body not received in time"
	case err != nil:
		return req, http.StatusBadRequest, "request body unreadable"
	}
	if err := uploadpack.CheckRequest(req.reader()); err != nil {
		return req, http.StatusBadRequest, "malformed upload-pack request: " + err.Error()
	}
	return req, 0, ""
}

// responseWriter sends upload-pack's output as it comes. The headers go
// with the first byte, so a run that fails before any can still answer
// with an error status. A write that fails ends the run: the server's
// connections bound how long a write may wait for a client that stops
// reading (gerritgate's listener does, see http.stallTimeout).
type responseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (o *responseWriter) Write(p []byte) (int, error) {
	if !o.started {
		o.started = true
		noCache(o.w)
		o.w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	}
	n, err := o.w.Write(p)
	if err == nil {
		if ferr := o.rc.Flush(); !errors.Is(ferr, http.ErrNotSupported) {
			err = ferr
		}
	}
	return n, err
}

func (h *Handler) run(ctx context.Context, dir, protocol string, mode uploadpack.Mode, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	cmd := uploadpack.Command(ctx, h.gitPath, dir, protocol, mode)
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	var stderr uploadpack.Stderr
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stderr.Wrap(err)
	}
	return nil
}

// writeAdvertisement answers GET info/refs with upload-pack's
// advertisement adv, after the "# service" header protocol v0 and v1 have.
func (h *Handler) writeAdvertisement(w http.ResponseWriter, protocol string, adv []byte) {
	noCache(w)
	w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
	if !strings.Contains(protocol, "version=2") {
		w.Write(pktLine("# service=git-upload-pack\n"))
		w.Write([]byte("0000"))
	}
	w.Write(adv)
}

func pktLine(s string) []byte { return []byte(fmt.Sprintf("%04x%s", len(s)+4, s)) }

func noCache(w http.ResponseWriter) {
	w.Header().Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
}
