package storagetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// SyntheticRepo makes a bare repository whose one commit (at
// refs/heads/deploy/prod) holds files files of 4 KiB of pseudo-random
// text, and returns it and the commit; for benchmarks.
func SyntheticRepo(b testing.TB, files int) (string, string) {
	dir := filepath.Join(b.TempDir(), "p.git")
	if out, err := Git(b, "", nil, "init", "-q", "--bare", dir); err != nil {
		b.Fatalf("git init: %v\n%s", err, out)
	}
	var in bytes.Buffer
	in.WriteString("commit refs/heads/deploy/prod\ncommitter t <t@example.com> 1700000000 +0000\ndata 4\nbig\n")
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 \n"
	data := make([]byte, 4096)
	for i := range files {
		for j := range data {
			data[j] = alphabet[rng.IntN(len(alphabet))]
		}
		fmt.Fprintf(&in, "M 644 inline apps/app%03d/file%05d.yaml\ndata %d\n%s\n", i%100, i, len(data), data)
	}
	cmd := exec.Command("git", "--git-dir", dir, "fast-import", "--quiet")
	cmd.Env = gitexec.Env()
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, out)
	}
	tip, err := Git(b, dir, nil, "--git-dir", dir, "rev-parse", "refs/heads/deploy/prod")
	if err != nil {
		b.Fatal(err)
	}
	return dir, strings.TrimSpace(tip)
}

// CPUTime is the CPU this process and its waited-for children used, for
// benchmarks' CPU per operation.
func CPUTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// ReportLatencies reports a benchmark's CPU per operation since cpu0 (a
// CPUTime reading) and the median and 99th percentile of lat, which it
// sorts.
func ReportLatencies(b *testing.B, cpu0 time.Duration, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(CPUTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
}
