package githttp_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/packcache"
	"github.com/gerritgate/gerritgate/storage/storagetest"
)

// cached serves platform/fleet with a pack cache told of every change,
// recording each upload-pack request's outcome and answer.
type cached struct {
	s     storagetest.Served
	cache *packcache.Cache
	url   string

	mu       sync.Mutex
	outcomes []string
	answers  map[string][][]byte // by request body
}

func newCached(t *testing.T) *cached {
	t.Helper()
	c := &cached{s: storagetest.Serve(t, "platform/fleet"), answers: map[string][][]byte{}}
	var err error
	c.cache, err = packcache.Open(filepath.Join(t.TempDir(), "packs"), 64<<20, packcache.WithObserver(func(o string) {
		c.mu.Lock()
		c.outcomes = append(c.outcomes, o)
		c.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	c.s.Store.NotifyRefs(c.cache.Invalidate)
	h := githttp.New(c.s.Store, githttp.WithPackCache(c.cache))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		c.mu.Lock()
		c.answers[string(body)] = append(c.answers[string(body)], rec.Body.Bytes())
		c.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL + "/platform/fleet"
	return c
}

func (c *cached) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.outcomes
	c.outcomes = nil
	return o
}

// TestPackCacheServesClients: C git (protocol v0 and v2) and Flux clone
// at depth 1 twice each; the second clone's pack comes from the cache,
// byte for byte the answer computed for the first, and both clones are
// of the deployed commit.
func TestPackCacheServesClients(t *testing.T) {
	c := newCached(t)
	clone := map[string]func() (string, error){
		"C git v0": func() (string, error) { return cgitClone(t, c.url, "0") },
		"C git v2": func() (string, error) { return cgitClone(t, c.url, "2") },
		"Flux": func() (string, error) {
			got, _, err := flux(t, c.url, "")
			return got, err
		},
	}
	for _, name := range []string{"C git v0", "C git v2", "Flux"} {
		for i, want := range []string{packcache.Miss, packcache.Hit} {
			got, err := clone[name]()
			if err != nil || got != c.s.Gated {
				t.Fatalf("%s, clone %d: %s, %v; want %s", name, i+1, got, err, c.s.Gated)
			}
			// Other requests (v0's first round, v2's ls-refs) are left to git.
			if o := slices.DeleteFunc(c.seen(), func(o string) bool { return o == packcache.Bypass }); !slices.Equal(o, []string{want}) {
				t.Errorf("%s, clone %d: pack outcomes %v, want [%s]", name, i+1, o, want)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	repeated := 0
	for req, answers := range c.answers {
		if len(answers) != 2 || !strings.Contains(req, "0009done\n") {
			continue
		}
		repeated++
		if !bytes.Equal(answers[0], answers[1]) || !bytes.Contains(answers[0], []byte("PACK")) {
			t.Errorf("request %.60q: the cached answer (%d bytes) differs from the computed one (%d bytes)", req, len(answers[1]), len(answers[0]))
		}
	}
	if repeated != 3 {
		t.Errorf("%d clone requests were asked twice, want 3 (one per client)", repeated)
	}
}

func cgitClone(t *testing.T, url, proto string) (string, error) {
	dst := filepath.Join(t.TempDir(), "c")
	if out, err := gitRun(t, "", nil, "-c", "protocol.version="+proto, "clone", "-q", "--depth", "1", "-b", "deploy/prod", url, dst); err != nil {
		return out, err
	}
	out, err := gitRun(t, dst, nil, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

// TestPreparedClonesAreHits: after an advance and Prepare (what the
// service does when storage reports the change), the first Flux clone
// and the first C git v2 depth-1 clone of the new tip are answered from
// the cache: the requests prepared are the ones these clients send.
func TestPreparedClonesAreHits(t *testing.T) {
	c := newCached(t)
	up, err := c.s.Store.Upstream("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := c.s.Store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	h := plumbing.NewHash(c.s.Ungated)
	if err := storage.CopyObjects(context.Background(), repo, up, h); err != nil {
		t.Fatal(err)
	}
	if err := repo.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/prod", Old: plumbing.NewHash(c.s.Gated), New: h}); err != nil {
		t.Fatal(err)
	}
	if err := c.cache.Prepare(context.Background(), repo.Dir()); err != nil {
		t.Fatal(err)
	}
	if got, cloned, err := flux(t, c.url, c.s.Gated); err != nil || !cloned || got != c.s.Ungated {
		t.Fatalf("Flux after the advance: %s (cloned %v), %v; want %s", got, cloned, err, c.s.Ungated)
	}
	if o := c.seen(); !slices.Equal(o, []string{packcache.Hit}) {
		t.Errorf("Flux's first clone after the advance: outcomes %v, want [hit]", o)
	}
	if got, err := cgitClone(t, c.url, "2"); err != nil || got != c.s.Ungated {
		t.Fatalf("C git v2 after the advance: %s, %v", got, err)
	}
	if o := slices.DeleteFunc(c.seen(), func(o string) bool { return o == packcache.Bypass }); !slices.Equal(o, []string{packcache.Hit}) {
		t.Errorf("C git v2's first clone after the advance: pack outcomes %v, want [hit]", o)
	}
}

// TestHostileRequestsBypassTheCache: a request with many wants (1,000 in
// 50 KB, or 3,000 in 150 KB) or one that negotiates is left to git:
// nothing is kept for it, whatever git answers.
func TestHostileRequestsBypassTheCache(t *testing.T) {
	c := newCached(t)
	wants := func(n int) string {
		var b strings.Builder
		b.WriteString(pkt("want " + c.s.Gated + " side-band-64k\n"))
		for range n - 1 {
			b.WriteString(pkt("want " + c.s.Gated + "\n"))
		}
		return b.String() + "0000" + pkt("done\n")
	}
	for name, body := range map[string]string{
		"1,000 wants": wants(1000),
		"3,000 wants": wants(3000),
		"haves":       pkt("want "+c.s.Gated+" side-band-64k\n") + "0000" + pkt("have "+c.s.Gated+"\n") + pkt("done\n"),
	} {
		resp, err := http.Post(c.url+"/git-upload-pack", "application/x-git-upload-pack-request", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if o := c.seen(); !slices.Equal(o, []string{packcache.Bypass}) {
			t.Errorf("%s: outcomes %v, want [bypass]", name, o)
		}
		if n := c.cache.Used(); n != 0 {
			t.Errorf("%s: the cache keeps %d bytes, want none", name, n)
		}
	}
}
