package mirror

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gerritgate/gerritgate/internal/redact"
	"github.com/gerritgate/gerritgate/storage"
)

// ErrAuth is Gerrit refusing the mirror's credentials (or asking for some
// when none are configured).
var ErrAuth = errors.New("gerrit refused the credentials (HTTP 401)")

// gitConfig is the configuration every C git fetch runs with, given by
// environment (GIT_CONFIG_COUNT) on top of gitexec's clean one (no system
// or user configuration, no prompt): only the URL's own transport, no
// redirect (so nothing is sent to a host other than the one configured,
// and a Gerrit URL that redirects fails rather than being followed
// silently), and no repacking behind go-git's back (a background gc
// deletes packs go-git may be reading). fetch.unpackLimit=1 keeps each
// fetch one pack, as go-git wrote them, rather than loose objects.
func gitConfig(scheme string) []string {
	return []string{
		"protocol.allow", "never",
		"protocol." + scheme + ".allow", "always",
		"http.followRedirects", "false",
		"gc.auto", "0",
		"maintenance.auto", "false",
		"fetch.unpackLimit", "1",
	}
}

// httpConfig is what an HTTP(S) fetch adds to gitConfig: the credentials
// as a preset Basic header, the proxy that proxy (the service passes
// http.ProxyFromEnvironment) chooses for base (go-git's HTTP client
// follows HTTPS_PROXY, NO_PROXY as net/http reads them; git's own reading
// differs in details), and the CA file or directory Go would read.
//
// The header travels in the environment of git and its helpers
// (GIT_CONFIG_VALUE_n), never on a command line (any local user reads
// /proc/<pid>/cmdline; environ only the same user and root) nor in a file.
// A header rather than a credential helper: no further process (a helper
// would be a shell snippet or this binary run again), the first request
// already authenticated (no 401 round trip), and with redirects off it
// goes only to the configured host. The password needs no escaping: it is
// base64 in the header.
func httpConfig(base *url.URL, username, password string, proxy func(*http.Request) (*url.URL, error)) ([]string, error) {
	var kv []string
	if username != "" {
		kv = append(kv, "http.extraHeader", "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(username+":"+password)))
	}
	via, err := proxy(&http.Request{URL: base})
	if err != nil {
		return nil, fmt.Errorf("proxy for %s: %w", base.Redacted(), err)
	}
	if via != nil {
		kv = append(kv, "http.proxy", via.String())
	}
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		kv = append(kv, "http.sslCAInfo", f)
	}
	if d := os.Getenv("SSL_CERT_DIR"); d != "" {
		kv = append(kv, "http.sslCAPath", d)
	}
	return kv, nil
}

// configEnv turns key, value pairs into GIT_CONFIG_COUNT/KEY/VALUE
// environment entries.
func configEnv(kv []string) []string {
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		n := strconv.Itoa(i / 2)
		env = append(env, "GIT_CONFIG_KEY_"+n+"="+kv[i], "GIT_CONFIG_VALUE_"+n+"="+kv[i+1])
	}
	return env
}

// fetchGit fetches with C git (over HTTP(S) with curl, over SSH with
// OpenSSH), killed with its children when ctx ends. It writes what go-git
// wrote before: branches and tags forced and pruned, no FETCH_HEAD, HEAD
// untouched, one pack; a failure leaves refs as they were (git moves them
// only once the pack is in place) and is a FetchError.
func (m *Mirror) fetchGit(ctx context.Context, repo *storage.Repo, project string) error {
	cmd := repo.GitCommand(ctx, "fetch", "--quiet", "--prune", "--no-tags",
		"--no-write-fetch-head", "--no-show-forced-updates", "--force", "--",
		m.URL(project), "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
	cmd.Env = append(cmd.Env, m.gitEnv...)
	// git runs git-remote-http, or ssh, as a child: on timeout kill the
	// whole process group, or the child would hold the output pipe open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out := &tail{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	err := repo.FetchGit(cmd)
	if ctx.Err() != nil {
		return &FetchError{Project: project, URL: m.URL(project), Err: ctx.Err()}
	}
	if err != nil {
		said := string(out.b)
		if m.base.Scheme != "ssh" && (strings.Contains(said, "terminal prompts disabled") || strings.Contains(said, "Authentication failed")) {
			// curl got a 401 despite the header, and git could not ask
			// anyone for other credentials.
			return &FetchError{Project: project, URL: m.URL(project), Err: fmt.Errorf("%w for user %q", ErrAuth, m.username)}
		}
		return &FetchError{Project: project, URL: m.URL(project), Err: fmt.Errorf("git fetch: %v: %s", err, redact.Tail(said, maxErrorText, m.secrets))}
	}
	return nil
}

// tail keeps the last max bytes written to it: git's last lines say what
// failed, and a server's endless "remote:" lines must not grow memory.
// os/exec writes to it from one goroutine (Stdout and Stderr are the same
// pointer).
type tail struct {
	b   []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.b = append(t.b[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.b) + len(p) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	t.b = append(t.b, p...)
	return n, nil
}
