package githttp_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/storage/githttp"
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
	cpu0 := cpuTime()
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
	slices.Sort(lat)
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
}

// cpuTime is the CPU this process and its waited-for children used.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}
