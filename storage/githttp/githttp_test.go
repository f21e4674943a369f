package githttp_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/storagetest"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

func gitRun(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	return storagetest.Git(t, dir, env, args...)
}

// served serves platform/fleet at deploy/prod and returns the store, the
// server URL and the deployed SHA.
func served(t *testing.T) (*storage.Store, string, string) {
	t.Helper()
	s := storagetest.Serve(t, "platform/fleet")
	srv := httptest.NewServer(githttp.New(s.Store))
	t.Cleanup(srv.Close)
	return s.Store, srv.URL, s.Gated
}

func TestCloneAndFetchWithCGit(t *testing.T) {
	_, url, sha := served(t)
	for _, proto := range []string{"0", "1", "2"} {
		for _, suffix := range []string{".git", ""} {
			dst := filepath.Join(t.TempDir(), "c")
			out, err := gitRun(t, "", nil, "-c", "protocol.version="+proto, "clone", "-q", "--depth", "1", "-b", "deploy/prod", url+"/platform/fleet"+suffix, dst)
			if err != nil {
				t.Fatalf("protocol %s clone%s: %v\n%s", proto, suffix, err, out)
			}
			got, _ := gitRun(t, dst, nil, "rev-parse", "HEAD")
			if strings.TrimSpace(got) != sha {
				t.Errorf("protocol %s: cloned %q, want %s", proto, got, sha)
			}
			if out, err := gitRun(t, dst, nil, "-c", "protocol.version="+proto, "fetch", "-q", "--unshallow"); err != nil {
				t.Errorf("protocol %s: fetch --unshallow: %v\n%s", proto, err, out)
			}
		}
	}
}

func TestPushRefused(t *testing.T) {
	_, url, _ := served(t)
	dst := filepath.Join(t.TempDir(), "c")
	if out, err := gitRun(t, "", nil, "clone", "-q", "-b", "deploy/prod", url+"/platform/fleet.git", dst); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	gitRun(t, dst, nil, "commit", "-q", "--allow-empty", "-m", "evil")
	out, err := gitRun(t, dst, nil, "push", "origin", "HEAD:refs/heads/deploy/prod")
	if err == nil {
		t.Fatalf("push succeeded:\n%s", out)
	}
	if !strings.Contains(out, "403") {
		t.Errorf("push output does not show a 403:\n%s", out)
	}
}

func TestRoutes(t *testing.T) {
	_, url, _ := served(t)
	tests := []struct {
		method, path, ctype string
		want                int
	}{
		{"GET", "/platform/fleet.git/info/refs?service=git-upload-pack", "", 200},
		{"GET", "/platform/fleet/info/refs?service=git-upload-pack", "", 200},
		{"GET", "/platform/fleet.git/info/refs?service=git-receive-pack", "", 403},
		{"POST", "/platform/fleet.git/git-receive-pack", "application/x-git-receive-pack-request", 403},
		{"GET", "/platform/fleet.git/info/refs", "", 403}, // dumb protocol
		{"GET", "/platform/fleet.git/HEAD", "", 404},
		{"GET", "/platform/fleet.git/objects/info/packs", "", 404},
		{"GET", "/platform/fleet.git/config", "", 404},
		{"GET", "/platform/missing.git/info/refs?service=git-upload-pack", "", 404},
		{"GET", "/../upstream/platform/fleet.git/info/refs?service=git-upload-pack", "", 404},
		{"GET", "/%2e%2e/upstream/platform/fleet.git/info/refs?service=git-upload-pack", "", 404},
		{"GET", "/platform/%2e%2e/platform/fleet.git/info/refs?service=git-upload-pack", "", 404},
		{"GET", "//etc/info/refs?service=git-upload-pack", "", 404},
		{"POST", "/platform/fleet.git/git-upload-pack", "text/plain", 415},
		{"GET", "/platform/fleet.git/git-upload-pack", "", 405},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader(""))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
		if resp.StatusCode == 200 {
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-advertisement" {
				t.Errorf("%s: content type %q", tt.path, ct)
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
				t.Errorf("%s: cache control %q", tt.path, cc)
			}
		}
	}
}

// A gzipped request body (C git gzips bodies over 1 KiB) is understood.
func TestGzipRequest(t *testing.T) {
	_, url, sha := served(t)
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	io.WriteString(zw, pkt("want "+sha+" side-band-64k\n")+"0000"+pkt("done\n"))
	zw.Close()
	req, _ := http.NewRequest("POST", url+"/platform/fleet.git/git-upload-pack", &body)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(out, []byte("PACK")) {
		t.Errorf("status %d, body %q...", resp.StatusCode, out[:min(len(out), 80)])
	}
}

func pkt(s string) string { return strings.ToLower(hex4(len(s)+4)) + s }

func hex4(n int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[n>>12&15], digits[n>>8&15], digits[n>>4&15], digits[n&15]})
}

// A request over the upload-pack bound gets 503 with Retry-After, at once.
func TestLimiter(t *testing.T) {
	s := storagetest.Serve(t, "platform/fleet")
	l := uploadpack.NewLimiter(1, 1, 1)
	srv := httptest.NewServer(githttp.New(s.Store, githttp.WithLimiter(l)))
	defer srv.Close()
	url := srv.URL + "/platform/fleet.git/info/refs?service=git-upload-pack"
	release, _ := l.TryAcquire(uploadpack.Peer{Reader: "other"})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the bound: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	release()
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with a free slot: %d", resp.StatusCode)
	}
}
