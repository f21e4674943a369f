// Package githttp is the read-only smart HTTP front end: it serves the gated
// repositories with C git's `git upload-pack --stateless-rpc`. Only the
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
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Resolver maps a project name to the directory of its served repository.
// *storage.Store satisfies it; it must refuse unsafe names and return an
// error wrapping ErrNotFound (any error is answered 404) for unknown ones.
type Resolver interface {
	ServedPath(project string) (string, error)
}

// Authorizer decides whether a request may read a project. It returns the
// reader's name for the log, ErrUnauthenticated when credentials are missing
// or wrong, and ErrForbidden when the reader may not see the project.
type Authorizer interface {
	Authorize(r *http.Request, project string) (reader string, err error)
}

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
	limit     *Limiter
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
// (default 64 MiB): a client's wants and haves, never pack data.
func WithMaxRequestBody(n int64) Option { return func(h *Handler) { h.maxBody = n } }

// WithTimeout bounds one upload-pack run (default 10 minutes).
func WithTimeout(d time.Duration) Option { return func(h *Handler) { h.timeout = d } }

// WithObserver is called once per git request with the project and the
// outcome ("ok", "denied", "not_found", "error", ...), e.g. for metrics.
func WithObserver(f func(project, outcome string)) Option {
	return func(h *Handler) { h.onRequest = f }
}

// WithLimiter bounds concurrent upload-packs; a request over the bound
// gets 503 with Retry-After.
func WithLimiter(l *Limiter) Option { return func(h *Handler) { h.limit = l } }

// New returns a Handler serving the repositories r resolves.
func New(r Resolver, opts ...Option) *Handler {
	h := &Handler{
		resolver: r,
		logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		gitPath:  "git",
		maxBody:  64 << 20,
		timeout:  10 * time.Minute,
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

	fail := func(code int, o, msg string) {
		outcome = o
		noCache(w)
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
	dir, err := h.resolver.ServedPath(project)
	if err != nil {
		fail(http.StatusNotFound, "not_found", "repository not found")
		return
	}
	release, ok := h.limit.TryAcquire(Peer{Reader: reader, Addr: PeerAddr(r.RemoteAddr)})
	if !ok {
		w.Header().Set("Retry-After", "5")
		fail(http.StatusServiceUnavailable, "busy", "too many clones in progress; retry shortly")
		return
	}
	defer release()
	protocol := r.Header.Get("Git-Protocol")
	if !validProtocol(protocol) {
		protocol = ""
	}

	switch {
	case route == "info/refs" && r.Method == http.MethodGet:
		if service != "git-upload-pack" {
			fail(http.StatusForbidden, "dumb_refused", "only the smart HTTP protocol is served")
			return
		}
		var out bytes.Buffer
		if err := h.run(r.Context(), dir, protocol, true, nil, &out); err != nil {
			log.Warn("upload-pack --advertise-refs failed", "err", err)
			fail(http.StatusInternalServerError, "error", "internal error")
			return
		}
		noCache(w)
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		if !strings.Contains(protocol, "version=2") {
			w.Write(pktLine("# service=git-upload-pack\n"))
			w.Write([]byte("0000"))
		}
		w.Write(out.Bytes())
	case route == "git-upload-pack" && r.Method == http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-request" {
			fail(http.StatusUnsupportedMediaType, "bad_request", "unexpected content type")
			return
		}
		body := io.Reader(http.MaxBytesReader(w, r.Body, h.maxBody))
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(body)
			if err != nil {
				fail(http.StatusBadRequest, "bad_request", "bad gzip body")
				return
			}
			defer zr.Close()
			body = zr
		}
		// Read the whole request first: it is small (wants and haves),
		// bounded, and a client that stalls must not hold a git process.
		req, err := io.ReadAll(io.LimitReader(body, h.maxBody+1))
		if err != nil || int64(len(req)) > h.maxBody {
			fail(http.StatusRequestEntityTooLarge, "bad_request", "request body too large or unreadable")
			return
		}
		noCache(w)
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		if err := h.run(r.Context(), dir, protocol, false, bytes.NewReader(req), w); err != nil {
			outcome = "error"
			log.Warn("upload-pack failed", "err", err)
		}
	default:
		fail(http.StatusMethodNotAllowed, "bad_request", "method not allowed")
	}
}

func (h *Handler) run(ctx context.Context, dir, protocol string, advertise bool, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	args := append(UploadPackConfig(), "upload-pack", "--strict", "--stateless-rpc")
	if advertise {
		args = append(args, "--advertise-refs")
	}
	args = append(args, dir)
	cmd := exec.CommandContext(ctx, h.gitPath, args...)
	cmd.Env = Env(protocol)
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4096}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// UploadPackConfig is the git -c settings every upload-pack runs with: no
// object that no advertised ref reaches (protocol v0/v1), no partial-clone
// filters, no bundle URIs, no hooks. Protocol v2 ignores the SHA1InWant
// settings, which is why served repositories hold gated objects only.
func UploadPackConfig() []string {
	return []string{
		"-c", "uploadpack.allowAnySHA1InWant=false",
		"-c", "uploadpack.allowReachableSHA1InWant=false",
		"-c", "uploadpack.allowTipSHA1InWant=false",
		"-c", "uploadpack.allowFilter=false",
		"-c", "uploadpack.allowRefInWant=false",
		"-c", "core.hooksPath=/dev/null",
		"-c", "transfer.bundleURI=false",
		// gerritgate's own bookkeeping refs (baselines) are not for clients.
		"-c", "uploadpack.hideRefs=refs/gerritgate/",
	}
}

// Env is the environment of an upload-pack process: nothing inherited but
// PATH, no system or user config, and the client's protocol request.
func Env(protocol string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=/nonexistent",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_NO_REPLACE_OBJECTS=1",
		"LANG=C",
	}
	if protocol != "" {
		env = append(env, "GIT_PROTOCOL="+protocol)
	}
	return env
}

var protocolRE = regexp.MustCompile(`^[A-Za-z0-9=:._-]{1,256}$`)

func validProtocol(p string) bool { return p != "" && protocolRE.MatchString(p) }

func pktLine(s string) []byte { return []byte(fmt.Sprintf("%04x%s", len(s)+4, s)) }

func noCache(w http.ResponseWriter) {
	w.Header().Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) > room {
			l.buf.Write(p[:room])
		} else {
			l.buf.Write(p)
		}
	}
	return len(p), nil
}
