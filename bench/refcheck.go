package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// refCheckRun is what clients checking refs without pause got from one
// server in one round.
type refCheckRun struct {
	ok, busy, other, errs int
	p99                   time.Duration
	elapsed               time.Duration
	cpu                   time.Duration // the server's, over the run
}

func (r refCheckRun) answered() int { return r.ok + r.busy + r.other }

func (r refCheckRun) perSecond() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r refCheckRun) cpuPerRequest() time.Duration {
	if r.answered() == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.answered())
}

func (r refCheckRun) busyShare() float64 {
	if r.answered()+r.errs == 0 {
		return 0
	}
	return float64(r.busy) / float64(r.answered()+r.errs)
}

// refChecks has clients check the refs of project on s (GET info/refs,
// protocol v0, as Flux does) over kept-alive connections for d.
func refChecks(ctx context.Context, s *server, tr *http.Transport, project string, clients int, d time.Duration) (refCheckRun, error) {
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	url := s.url + "/" + project + ".git/info/refs?service=git-upload-pack"
	var (
		mu  sync.Mutex
		run refCheckRun
		lat []time.Duration
	)
	cpu0, err := s.cpu()
	if err != nil {
		return run, err
	}
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			var ok, busy, other, errs int
			for time.Now().Before(stop) && ctx.Err() == nil {
				t := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					errs++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t))
				switch resp.StatusCode {
				case http.StatusOK:
					ok++
				case http.StatusServiceUnavailable:
					busy++
				default:
					other++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			run.ok, run.busy, run.other, run.errs = run.ok+ok, run.busy+busy, run.other+other, run.errs+errs
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	settle()
	cpu1, err := s.cpu()
	if err != nil {
		return run, err
	}
	run.cpu = cpu1 - cpu0
	if len(lat) == 0 {
		return run, fmt.Errorf("%s: no ref check answered in %s (%d errors)", s.name, d, run.errs)
	}
	slices.Sort(lat)
	run.p99 = lat[len(lat)*99/100]
	return run, ctx.Err()
}

// settle gives a server time to reap the git children of requests just
// answered, so their CPU is in its cutime.
func settle() { time.Sleep(300 * time.Millisecond) }
