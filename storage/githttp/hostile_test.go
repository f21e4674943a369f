package githttp_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/storagetest"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// Malformed git requests get a 4xx with a plain-text reason (which C git
// shows as "remote: ..."), never a 200 with an empty body.
func TestMalformedRequests(t *testing.T) {
	_, url, sha := served(t)
	const upload = "/platform/fleet.git/git-upload-pack"
	const ct = "application/x-git-upload-pack-request"
	tests := []struct {
		what, method, path, ctype, body string
		want                            int
		wantText                        string
	}{
		{"unknown service", "GET", "/platform/fleet.git/info/refs?service=git-frobnicate", "", "", 400, "unknown service"},
		{"wrong content type", "POST", upload, "application/json", pkt("want "+sha+"\n") + "0000", 415, "content type"},
		{"empty body", "POST", upload, ct, "", 400, "empty request"},
		{"not pkt-lines", "POST", upload, ct, "hello, git", 400, "malformed upload-pack request"},
		{"truncated pkt-line", "POST", upload, ct, "0032want " + sha[:10], 400, "malformed upload-pack request"},
		{"framed garbage", "POST", upload, ct, pkt("frobnicate\n") + "0000", 400, "upload-pack refused"},
		// upload-pack's own error, which C git shows as "remote error".
		{"want of an unknown object", "POST", upload, ct, pkt("want "+strings.Repeat("1", 40)+"\n") + "0000" + pkt("done\n"), 200, "ERR upload-pack: not our ref"},
		{"wrong method", "PUT", upload, ct, "", 405, "method not allowed"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader(tt.body))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(text), tt.wantText) {
			t.Errorf("%s: %d %q, want %d with %q", tt.what, resp.StatusCode, text, tt.want, tt.wantText)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 && !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: content type %q, want text/plain", tt.what, ct)
		}
	}
}

// A client that declares a body and stalls holds no clone slot: with one
// slot, a clone succeeds meanwhile, and the staller gets 408 once the body
// timeout has passed.
func TestStalledBodyHoldsNoSlot(t *testing.T) {
	s := storagetest.Serve(t, "platform/fleet")
	l := uploadpack.NewLimiter(1, 1, 1)
	srv := httptest.NewServer(githttp.New(s.Store, githttp.WithLimiter(l), githttp.WithBodyTimeout(500*time.Millisecond)))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /platform/fleet.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: 100000\r\n\r\n0032want ")

	dst := t.TempDir() + "/c"
	if out, err := gitRun(t, "", nil, "clone", "-q", "--depth", "1", "-b", "deploy/prod", srv.URL+"/platform/fleet.git", dst); err != nil {
		t.Fatalf("clone while a body stalls: %v\n%s", err, out)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to the stalled request: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body: %d, want 408", resp.StatusCode)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("answered after %v, before the body timeout", d)
	}
}

// Decompressed bodies are bounded one by one (413) and together (503 once
// the budget is spent); all the memory is given back.
func TestGzipBombsBounded(t *testing.T) {
	s := storagetest.Serve(t, "platform/fleet")
	budget := githttp.NewBudget(1<<20, 0)
	srv := httptest.NewServer(githttp.New(s.Store, githttp.WithBudget(budget), githttp.WithMaxRequestBody(256<<10)))
	defer srv.Close()
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte("0"), 64<<20)) // 64 MiB of "0000" flushes, 65 KB gzipped
	zw.Close()

	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", srv.URL+"/platform/fleet.git/git-upload-pack", bytes.NewReader(bomb.Bytes()))
			req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// The server answers 413 and closes while the client is
				// still sending: under load the client may see the cut
				// before the answer. Still a refusal; anything else is not.
				if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
					mu.Lock()
					codes[-1]++
					mu.Unlock()
					return
				}
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[413]+codes[503]+codes[-1] != 32 || codes[413] == 0 {
		t.Errorf("statuses %v (-1: cut while sending), want only 413, 503 or a cut, and some 413", codes)
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes still reserved after every request ended", n)
	}
}

// A request on a git URL that declares a body and never sends it is cut
// off within the body timeout, whatever its route, and holds no clone
// slot meanwhile: net/http would otherwise read the unread body after the
// answer with no deadline at all, and an info/refs answer larger than
// net/http's buffer waits for that read with the slot taken.
func TestUnsentBodyCutOff(t *testing.T) {
	s := storagetest.Serve(t, "platform/fleet")
	repo, err := s.Store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	// An advertisement of a few KB, more than net/http buffers.
	var pad []storage.RefUpdate
	for i := range 100 {
		pad = append(pad, storage.RefUpdate{Name: fmt.Sprintf("refs/heads/deploy/pad-%03d", i), New: plumbing.NewHash(s.Gated)})
	}
	if err := repo.UpdateRefs(pad...); err != nil {
		t.Fatal(err)
	}
	l := uploadpack.NewLimiter(4, 4, 4)
	const bodyTime = 500 * time.Millisecond
	srv := httptest.NewServer(githttp.New(s.Store, githttp.WithLimiter(l), githttp.WithBodyTimeout(bodyTime)))
	defer srv.Close()
	const upload = "POST /platform/fleet.git/git-upload-pack HTTP/1.1\r\n"
	const refs = "GET /platform/fleet.git/info/refs?service=git-upload-pack HTTP/1.1\r\n"
	tests := []struct{ what, head string }{
		{"upload-pack, Content-Length", upload + "Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n"},
		{"upload-pack, chunked", upload + "Content-Type: application/x-git-upload-pack-request\r\nTransfer-Encoding: chunked\r\n"},
		{"upload-pack, wrong content type", upload + "Content-Type: text/plain\r\nContent-Length: 1000\r\n"},
		{"info/refs with a body", refs + "Content-Length: 1000\r\n"},
		{"info/refs with a chunked body", refs + "Transfer-Encoding: chunked\r\n"},
		{"wrong method", "PUT /platform/fleet.git/git-upload-pack HTTP/1.1\r\nContent-Length: 1000\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			fmt.Fprintf(c, "%sHost: x\r\n\r\n", tt.head)
			time.Sleep(bodyTime / 2)
			if n := l.InUse(); n != 0 {
				t.Errorf("%d clone slots taken while the body is awaited", n)
			}
			// Read until the server closes; a generous bound, as the
			// machine may be loaded.
			c.SetReadDeadline(time.Now().Add(bodyTime + 10*time.Second))
			_, err = io.Copy(io.Discard, c)
			if err != nil {
				t.Errorf("connection still open %v after the headers (body timeout %v): %v", time.Since(start).Round(time.Millisecond), bodyTime, err)
			}
			if n := l.InUse(); n != 0 {
				t.Errorf("%d clone slots taken after the headers and the body timeout", n)
			}
		})
	}
}

// anonymousAuth lets every request in without credentials, as an access
// file's anonymous projects do.
type anonymousAuth struct{}

func (anonymousAuth) Authorize(*http.Request, string) (string, error) {
	return githttp.Anonymous, nil
}

func (anonymousAuth) Environments(string, string) storage.Grant { return storage.Grant{All: true} }

// Clients without credentials are not one reader: with one slot per
// reader and one per address, an anonymous clone from 127.0.0.2 leaves
// room for one from 127.0.0.1, and a second from 127.0.0.2 is refused.
func TestAnonymousPeersBoundedPerAddress(t *testing.T) {
	s := storagetest.Serve(t, "platform/fleet")
	// A git that takes two seconds to start, so a slot stays taken while
	// the others ask.
	slowGit := filepath.Join(t.TempDir(), "git")
	if err := os.WriteFile(slowGit, []byte("#!/bin/sh\nsleep 2\nexec git \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		what string
		auth githttp.Authorizer
	}{
		{"anonymous project", anonymousAuth{}},
		{"no authorizer", nil},
	} {
		t.Run(tt.what, func(t *testing.T) {
			l := uploadpack.NewLimiter(8, 1, 1)
			opts := []githttp.Option{githttp.WithLimiter(l), githttp.WithGit(slowGit)}
			if tt.auth != nil {
				opts = append(opts, githttp.WithAuthorizer(tt.auth))
			}
			srv := httptest.NewServer(githttp.New(s.Store, opts...))
			defer srv.Close()
			refs := srv.URL + "/platform/fleet.git/info/refs?service=git-upload-pack"
			first := make(chan int, 1)
			go func() { first <- getFrom(t, "127.0.0.2", refs) }()
			deadline := time.Now().Add(10 * time.Second)
			for l.InUse() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := getFrom(t, "127.0.0.2", refs); got != http.StatusServiceUnavailable {
				t.Errorf("second anonymous from 127.0.0.2: %d, want 503 (its address's share)", got)
			}
			if got := getFrom(t, "127.0.0.1", refs); got != http.StatusOK {
				t.Errorf("anonymous from 127.0.0.1 while one from 127.0.0.2 clones: %d, want 200", got)
			}
			if got := <-first; got != http.StatusOK {
				t.Errorf("anonymous from 127.0.0.2: %d, want 200", got)
			}
		})
	}
}

// getFrom GETs url from the source address src and returns the status
// (0 and a test error if the request failed).
func getFrom(t *testing.T, src, url string) int {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c := http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET from %s: %v", src, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
