package githttp_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/packcache"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/storagetest"
)

// BenchmarkInfoRefs: clients check refs (GET info/refs in protocol v0, as
// Flux does; a v2 ls-refs POST, as C git does) over kept-alive loopback
// connections, answered from memory (refadv) or by C git upload-pack (as
// before; no clone limit, so nothing is refused).
// ns/op is wall time per request with all clients together (1e9/ns/op is
// requests a second); p50-ms and p99-ms are per request; cpu-ms/op is the
// process's CPU and its git children's per request, the benchmark's own
// HTTP clients included.
//
//	go test ./storage/githttp -run '^$' -bench InfoRefs -benchtime 3s
func BenchmarkInfoRefs(b *testing.B) {
	s := storagetest.Serve(b, "platform/fleet")
	c := refadv.New()
	s.Store.NotifyRefs(c.Invalidate)
	handlers := map[string]http.Handler{
		"memory": githttp.New(s.Store, githttp.WithAdvertiser(c)),
		"git":    githttp.New(s.Store),
	}
	for _, name := range []string{"memory", "git"} {
		for _, check := range []string{"v0", "ls-refs"} {
			for _, clients := range []int{1, 64} {
				b.Run(name+"/"+check+"/clients="+strconv.Itoa(clients), func(b *testing.B) {
					benchRefChecks(b, handlers[name], check, clients)
				})
			}
		}
	}
}

func benchRefChecks(b *testing.B, h http.Handler, check string, clients int) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	request := func() *http.Request {
		if check == "v0" {
			req, _ := http.NewRequest("GET", srv.URL+"/platform/fleet.git/info/refs?service=git-upload-pack", nil)
			return req
		}
		req, _ := http.NewRequest("POST", srv.URL+"/platform/fleet.git/git-upload-pack", bytes.NewReader(lsRefsRequest))
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		req.Header.Set("Git-Protocol", "version=2")
		return req
	}
	get := func() time.Duration {
		start := time.Now()
		resp, err := client.Do(request())
		if err != nil {
			b.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	get() // the snapshot, and a connection
	var mu sync.Mutex
	var lat []time.Duration
	cpu0 := storagetest.CPUTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan struct{}, clients)
	go func() {
		for range b.N {
			next <- struct{}{}
		}
		close(next)
	}()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for range next {
				mine = append(mine, get())
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	storagetest.ReportLatencies(b, cpu0, lat)
}

// oneRepo resolves every project to one directory.
type oneRepo string

func (d oneRepo) ReaderPath(string, storage.Grant) (string, error) { return string(d), nil }

// BenchmarkShallowClone: Flux's depth-1 clone (its exact request, over
// HTTP, the answer read and discarded in-process) of an unchanged tip of
// a repository of 4,000 files of 4 KiB (GERRITGATE_BENCH_FILES to change
// it), answered by git each time ("git"), computed into an empty pack
// cache ("cache-first": each op starts from an empty cache) or served from
// it ("cache-repeat"). cpu-ms/op is this process's CPU and its git
// children's per clone: the server's, since the client only reads.
//
//	go test ./storage/githttp -run '^$' -bench ShallowClone -benchtime 5x
func BenchmarkShallowClone(b *testing.B) {
	files := 4000
	if n, err := strconv.Atoi(os.Getenv("GERRITGATE_BENCH_FILES")); err == nil && n > 0 {
		files = n
	}
	dir, tip := storagetest.SyntheticRepo(b, files)
	req := []byte(fmt.Sprintf("0082want %s multi_ack_detailed side-band-64k ofs-delta agent=go-git/5.x shallow no-progress\n000ddeepen 1\n00000009done\n", tip))
	for _, mode := range []string{"git", "cache-first", "cache-repeat"} {
		b.Run(mode, func(b *testing.B) {
			newCache := func() *packcache.Cache {
				c, err := packcache.Open(filepath.Join(b.TempDir(), "packs"), 1<<30)
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			h := githttp.New(oneRepo(dir))
			if mode == "cache-repeat" {
				h = githttp.New(oneRepo(dir), githttp.WithPackCache(newCache()))
				benchClone(b, h, req) // computes the answer the others get
			}
			var size int64
			cpu0 := storagetest.CPUTime()
			b.ResetTimer()
			for range b.N {
				if mode == "cache-first" {
					b.StopTimer()
					h = githttp.New(oneRepo(dir), githttp.WithPackCache(newCache()))
					b.StartTimer()
				}
				size = benchClone(b, h, req)
			}
			b.StopTimer()
			b.ReportMetric(float64(storagetest.CPUTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
}

func benchClone(b *testing.B, h http.Handler, req []byte) int64 {
	r := httptest.NewRequest("POST", "/p.git/git-upload-pack", bytes.NewReader(req))
	r.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	w := &countingWriter{header: http.Header{}}
	h.ServeHTTP(w, r)
	if w.code != 0 && w.code != 200 || w.n < 1000 {
		b.Fatalf("clone: status %d, %d bytes", w.code, w.n)
	}
	return w.n
}

// countingWriter is an http.ResponseWriter that counts and drops the body.
type countingWriter struct {
	header http.Header
	code   int
	n      int64
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(c int)   { w.code = c }
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
