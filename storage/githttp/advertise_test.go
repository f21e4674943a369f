package githttp_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	fluxgit "github.com/fluxcd/pkg/git"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/storagetest"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// fromMemory serves platform/fleet with ref checks answered by a
// refadv.Cache the store tells of ref changes, and with it the handler
// without one (C git for everything), both behind their own limiter.
func fromMemory(t *testing.T, l *uploadpack.Limiter) (s storagetest.Served, memory, git string) {
	t.Helper()
	s = storagetest.Serve(t, "platform/fleet")
	c := refadv.New()
	s.Store.NotifyRefs(c.Invalidate)
	m := httptest.NewServer(githttp.New(s.Store, githttp.WithAdvertiser(c), githttp.WithLimiter(l)))
	t.Cleanup(m.Close)
	g := httptest.NewServer(githttp.New(s.Store))
	t.Cleanup(g.Close)
	return s, m.URL, g.URL
}

type answer struct {
	status int
	ctype  string
	body   []byte
}

func ask(t *testing.T, method, url, protocol string, body []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if protocol != "" {
		req.Header.Set("Git-Protocol", protocol)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

var lsRefsRequest = []byte(pkt("command=ls-refs\n") + pkt("agent=git/2.39.5\n") + pkt("object-format=sha1\n") + "0001" +
	pkt("peel\n") + pkt("symrefs\n") + pkt("unborn\n") + pkt("ref-prefix HEAD\n") + pkt("ref-prefix refs/heads/\n") + pkt("ref-prefix refs/tags/\n") + "0000")

// TestRefChecksNeedNoCloneSlot: with every clone slot taken, ref checks
// (info/refs in each protocol, v2 ls-refs) are still answered, with the
// very bytes and headers C git's answer has; a fetch still waits for a
// slot.
func TestRefChecksNeedNoCloneSlot(t *testing.T) {
	l := uploadpack.NewLimiter(1, 1, 1)
	s, memory, git := fromMemory(t, l)
	release, _ := l.TryAcquire(uploadpack.Peer{Reader: "someone cloning"})
	defer release()
	const infoRefs = "/platform/fleet.git/info/refs?service=git-upload-pack"
	const uploadPack = "/platform/fleet.git/git-upload-pack"
	tests := []struct {
		name, method, path, protocol string
		body                         []byte
	}{
		{"info/refs v0", "GET", infoRefs, "", nil},
		{"info/refs v1", "GET", infoRefs, "version=1", nil},
		{"info/refs v2", "GET", infoRefs, "version=2", nil},
		{"ls-refs", "POST", uploadPack, "version=2", lsRefsRequest},
	}
	for _, tt := range tests {
		got := ask(t, tt.method, memory+tt.path, tt.protocol, tt.body)
		want := ask(t, tt.method, git+tt.path, tt.protocol, tt.body)
		if got.status != 200 {
			t.Errorf("%s with no clone slot free: %d %s", tt.name, got.status, got.body)
			continue
		}
		if got.ctype != want.ctype || !bytes.Equal(got.body, want.body) {
			t.Errorf("%s: %s %q, want C git's %s %q", tt.name, got.ctype, got.body, want.ctype, want.body)
		}
	}
	fetch := []byte(pkt("command=fetch\n") + "0001" + pkt("want "+s.Gated+"\n") + pkt("done\n") + "0000")
	if got := ask(t, "POST", memory+uploadPack, "version=2", fetch); got.status != http.StatusServiceUnavailable {
		t.Errorf("v2 fetch with no clone slot free: %d, want 503", got.status)
	}
	// A request the cache does not model goes to git, and so to the limiter.
	odd := []byte(pkt("command=ls-refs\n") + pkt("server-option=x\n") + "0000")
	if got := ask(t, "POST", memory+uploadPack, "version=2", odd); got.status != http.StatusServiceUnavailable {
		t.Errorf("ls-refs with a server option, no clone slot free: %d, want 503 (C git answers it)", got.status)
	}
}

// TestClientsOfMemoryAdvertisement: C git (protocols 0, 1, 2) and Flux's
// gogit clone, fetch and list refs through the advertisement from memory,
// and see an advance as soon as UpdateRefs has returned.
func TestClientsOfMemoryAdvertisement(t *testing.T) {
	s, url, _ := fromMemory(t, uploadpack.NewLimiter(8, 8, 8))
	url += "/platform/fleet.git"
	var clones []string
	for _, proto := range []string{"0", "1", "2"} {
		dst := filepath.Join(t.TempDir(), "c"+proto)
		if out, err := gitRun(t, "", nil, "-c", "protocol.version="+proto, "clone", "-q", "--depth", "1", "-b", "deploy/prod", url, dst); err != nil {
			t.Fatalf("protocol %s clone: %v\n%s", proto, err, out)
		}
		if got, _ := gitRun(t, dst, nil, "rev-parse", "HEAD"); strings.TrimSpace(got) != s.Gated {
			t.Errorf("protocol %s: cloned %q, want %s", proto, got, s.Gated)
		}
		clones = append(clones, dst)
	}
	if got, _, err := flux(t, url, ""); err != nil || got != s.Gated {
		t.Errorf("Flux clone: %s, %v; want %s", got, err, s.Gated)
	}

	repo, err := s.Store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	up, err := s.Store.Upstream("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	next := plumbing.NewHash(s.Ungated)
	if err := storage.CopyObjects(context.Background(), repo, up, next); err != nil {
		t.Fatal(err)
	}
	if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: plumbing.NewHash(s.Gated), New: next}); err != nil {
		t.Fatal(err)
	}
	for i, proto := range []string{"0", "1", "2"} {
		out, err := gitRun(t, "", nil, "-c", "protocol.version="+proto, "ls-remote", url, "refs/heads/deploy/prod")
		if err != nil || !strings.HasPrefix(out, s.Ungated) {
			t.Errorf("protocol %s ls-remote after the advance: %v %q, want %s", proto, err, out, s.Ungated)
		}
		if out, err := gitRun(t, clones[i], nil, "-c", "protocol.version="+proto, "pull", "-q", "--ff-only"); err != nil {
			t.Errorf("protocol %s pull after the advance: %v\n%s", proto, err, out)
		}
		if got, _ := gitRun(t, clones[i], nil, "rev-parse", "HEAD"); strings.TrimSpace(got) != s.Ungated {
			t.Errorf("protocol %s: pulled %q, want %s", proto, got, s.Ungated)
		}
	}
	if got, cloned, err := flux(t, url, s.Gated); err != nil || got != s.Ungated || !cloned {
		t.Errorf("Flux, having seen %s, after the advance: %s (cloned %v), %v; want a clone of %s", s.Gated[:8], got, cloned, err, s.Ungated)
	}
	if got, cloned, err := flux(t, url, s.Ungated); err != nil || got != s.Ungated || cloned {
		t.Errorf("Flux, up to date: %s (cloned %v), %v; want no clone, %s", got, cloned, err, s.Ungated)
	}
}

// flux clones deploy/prod as source-controller does.
func flux(t *testing.T, url, lastObserved string) (string, bool, error) {
	t.Helper()
	return storagetest.FluxClone(t, url, &fluxgit.AuthOptions{Transport: fluxgit.HTTP}, "deploy/prod", lastObserved)
}
