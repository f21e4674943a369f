package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

func TestMain(m *testing.M) {
	serveCGIIfAsked() // startReference runs this test binary as the reference server
	os.Exit(m.Run())
}

// The quick run goes through every figure against the built binary and
// writes the table between the markers of a docs file, leaving the rest of
// the file as it was. Not timed: it checks the command runs, produces every
// row and well-formed markdown.
func TestQuickRunWritesEveryFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gerritgate and runs every figure")
	}
	docs := filepath.Join(t.TempDir(), "performance.md")
	before := "# Performance\n\nProse before.\n\n" + beginMarker + "\nan older table\n" + endMarker + "\n\nProse after.\n"
	if err := os.WriteFile(docs, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-quick", "-cache", t.TempDir(), "-docs", docs}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var stdout, progress bytes.Buffer
	if err := run(ctx, o, &stdout, &progress); err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	b, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.HasPrefix(got, "# Performance\n\nProse before.\n\n"+beginMarker+"\n") || !strings.HasSuffix(got, endMarker+"\n\nProse after.\n") {
		t.Errorf("the docs outside the markers changed:\n%s", got)
	}
	if strings.Contains(got, "an older table") {
		t.Errorf("the older table is still there:\n%s", got)
	}
	section := got[strings.Index(got, beginMarker) : strings.Index(got, endMarker)+len(endMarker)+1]
	if section != stdout.String() {
		t.Errorf("the docs' section differs from what was printed:\ndocs:\n%s\nprinted:\n%s", section, stdout.String())
	}
	for _, want := range []string{"load average", "git 2.", "go1.", "cores", "GiB RAM", "MiB packed"} {
		if !strings.Contains(section, want) {
			t.Errorf("the machine's description lacks %q:\n%s", want, section)
		}
	}
	rows := tableRows(t, section)
	figures := []string{"`info/refs`, 64 clients, v0", "`info/refs` with the default", "shallow clone", "10 approved commits merged at once", "mirror: initial fetch", "mirror: no-op fetch", "steady poll, 5 projects"}
	if len(rows) != len(figures) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(figures), section)
	}
	for i, f := range figures {
		if !strings.HasPrefix(rows[i][0], f) {
			t.Errorf("row %d is %q, want the figure %q", i+1, rows[i][0], f)
		}
		for j, c := range rows[i] {
			if c == "" || strings.Contains(c, "NaN") {
				t.Errorf("row %d (%s), column %d is %q", i+1, f, j+1, c)
			}
		}
	}
}

// tableRows returns the cells of the markdown table's body rows, and fails
// the test unless the table has its header, its separator and the same
// number of cells on every line.
func tableRows(t *testing.T, section string) [][]string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "|") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || lines[0] != "| figure | gerritgate | reference | ratio | goal |" || lines[1] != "|---|---|---|---|---|" {
		t.Fatalf("no table header and separator:\n%s", section)
	}
	var rows [][]string
	for _, l := range lines[2:] {
		if !strings.HasSuffix(l, " |") {
			t.Errorf("row does not end with |: %q", l)
		}
		cells := splitCells(l)
		if len(cells) != 5 {
			t.Errorf("row has %d cells, want 5: %q", len(cells), l)
			continue
		}
		rows = append(rows, cells)
	}
	return rows
}

// splitCells splits a markdown table line on the pipes that are not
// escaped.
func splitCells(line string) []string {
	var cells []string
	var cur strings.Builder
	for i := 1; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return cells
}

func TestWriteSection(t *testing.T) {
	section := beginMarker + "\nnew\n" + endMarker + "\n"
	tests := []struct {
		name, before, want, err string
	}{
		{name: "replaces the marked section", before: "a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n", want: "a\n" + section + "b\n"},
		{name: "appends under a heading without markers", before: "a\n\n", want: "a\n\n## Side by side (bench/)\n\n" + section},
		{name: "refuses markers out of order", before: endMarker + "\n" + beginMarker + "\n", err: "not a pair"},
		{name: "refuses a lone begin marker", before: "a\n" + beginMarker + "\n", err: "not a pair"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "p.md")
		os.WriteFile(path, []byte(tt.before), 0o644)
		err := writeSection(path, section)
		got, _ := os.ReadFile(path)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.err)
		case tt.err != "" && string(got) != tt.before:
			t.Errorf("%s: the file changed on error:\n%s", tt.name, got)
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err == "" && string(got) != tt.want:
			t.Errorf("%s: got\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

func TestMetricsSum(t *testing.T) {
	m := metrics{
		`gerritgate_gerrit_requests_total{op="query changes",outcome="ok"}`:   3,
		`gerritgate_gerrit_requests_total{op="post review",outcome="ok"}`:     5,
		`gerritgate_gerrit_requests_total{op="get change",outcome="network"}`: 1,
		`gerritgate_poll_duration_seconds_sum`:                                2.5,
	}
	tests := []struct {
		name          string
		with, without []string
		want          float64
		ok            bool
	}{
		{name: "gerritgate_gerrit_requests_total", want: 9, ok: true},
		{name: "gerritgate_gerrit_requests_total", without: []string{`op="post review"`}, want: 4, ok: true},
		{name: "gerritgate_gerrit_requests_total", with: []string{`outcome="ok"`}, want: 8, ok: true},
		{name: "gerritgate_poll_duration_seconds_sum", want: 2.5, ok: true},
		{name: "gerritgate_poll_duration_seconds", want: 0, ok: false}, // a prefix is not the metric
		{name: "gerritgate_pack_cache_hits_total", want: 0, ok: false},
	}
	for _, tt := range tests {
		got, ok := m.sum(tt.name, tt.with, tt.without)
		if got != tt.want || ok != tt.ok {
			t.Errorf("sum(%s, with %v, without %v) = %v, %v; want %v, %v", tt.name, tt.with, tt.without, got, ok, tt.want, tt.ok)
		}
	}
}

// The synthetic repository is the same commit whoever builds it, and a
// complete one in the cache is used again rather than built.
func TestSynthesizeIsDeterministicAndCached(t *testing.T) {
	ctx := context.Background()
	a, err := synthesize(ctx, t.TempDir(), 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	b, err := synthesize(ctx, cache, 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	if a.Tip != b.Tip || len(a.Tip) != 40 {
		t.Errorf("two builds gave tips %q and %q, want the same commit", a.Tip, b.Tip)
	}
	count, files := gitOut(t, b.Dir, "rev-list", "--count", "main"), gitOut(t, b.Dir, "ls-tree", "-r", "--name-only", "main")
	if count != "30" || len(strings.Split(files, "\n")) != 100 {
		t.Errorf("main has %s commits and %d files, want 30 and 100", count, len(strings.Split(files, "\n")))
	}
	if !strings.Contains(files, "clusters/prod-eu/apps/app-0004/deployment.yaml") {
		t.Errorf("no GitOps layout in:\n%s", files)
	}
	// A cached build is taken as it is: mark it and see the mark survive.
	os.WriteFile(filepath.Join(b.Dir, "bench-complete"), []byte("cafe\n"), 0o644)
	c, err := synthesize(ctx, cache, 100, 30)
	if err != nil || c.Tip != "cafe" {
		t.Errorf("second synthesize in the same cache: tip %q, %v; want the cached one (cafe)", c.Tip, err)
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := execGit(dir, args...)
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(out)
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args               []string
		files, rounds, prj int
		figures, docs      string
		err                bool
	}{
		{args: nil, files: 20000, rounds: 5, prj: 1000, figures: "fleet,poll", docs: "docs/performance.md"},
		{args: []string{"-quick"}, files: 400, rounds: 2, prj: 5, figures: "fleet,poll", docs: "docs/performance.md"},
		{args: []string{"-quick", "-projects", "50"}, files: 400, rounds: 2, prj: 50, figures: "fleet,poll", docs: "docs/performance.md"},
		{args: []string{"-rounds", "0"}, err: true},
		{args: []string{"extra"}, err: true},
		{args: []string{"-figures", "poll"}, files: 20000, rounds: 5, prj: 1000, figures: "poll"},
		{args: []string{"-figures", "poll,fleet"}, files: 20000, rounds: 5, prj: 1000, figures: "fleet,poll", docs: "docs/performance.md"},
		{args: []string{"-figures", "poll", "-docs", ""}, files: 20000, rounds: 5, prj: 1000, figures: "poll"},
		// A part of the table never replaces the whole one in the docs.
		{args: []string{"-figures", "poll", "-docs", "docs/performance.md"}, err: true},
		{args: []string{"-figures", "clones"}, err: true},
		{args: []string{"-figures", ""}, err: true},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, &bytes.Buffer{})
		if (err != nil) != tt.err {
			t.Errorf("parseFlags(%q): error %v, want error %v", tt.args, err, tt.err)
			continue
		}
		if !tt.err && (o.files != tt.files || o.rounds != tt.rounds || o.projects != tt.prj) {
			t.Errorf("parseFlags(%q): files %d, rounds %d, projects %d; want %d, %d, %d", tt.args, o.files, o.rounds, o.projects, tt.files, tt.rounds, tt.prj)
		}
		if tt.err {
			continue
		}
		var figures []string
		for f := range o.figures {
			figures = append(figures, f)
		}
		slices.Sort(figures)
		if got := strings.Join(figures, ","); got != tt.figures || o.docs != tt.docs {
			t.Errorf("parseFlags(%q): figures %q, docs %q; want %q, %q", tt.args, got, o.docs, tt.figures, tt.docs)
		}
	}
}

// procCPU agrees with getrusage on this process's own CPU (to a few
// clock ticks), however loaded the machine is.
func TestProcCPUAndRSS(t *testing.T) {
	pid := os.Getpid()
	before, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	r0 := selfCPU()
	for selfCPU()-r0 < 200*time.Millisecond {
	}
	after, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 150*time.Millisecond || d > 10*time.Second {
		t.Errorf("200ms of spinning counted %s of CPU in /proc", d)
	}
	rss, err := procRSS(pid)
	if err != nil || rss < 1<<20 {
		t.Errorf("RSS %d, %v; want at least 1 MiB", rss, err)
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func execGit(dir string, args ...string) (string, error) {
	out, err := gitexec.Command(context.Background(), dir, args...).Output()
	return string(out), err
}

// A round whose CPU time is below the clock's resolution (0) measures no
// ratio, and such rounds do not move the median of the others: before,
// a first clone of 0 ms over a repeat of 10 ms read as "0.00x".
func TestRatioAndMedianSkipUnmeasured(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		v    []float64
		want float64 // NaN: n/a
	}{
		{"all measured", []float64{ratio(30, 10), ratio(20, 10), ratio(10, 10)}, 2},
		{"one round below resolution", []float64{ratio(0, 10), ratio(20, 10), ratio(40, 10)}, 3},
		{"repeat below resolution", []float64{ratio(10, 0), ratio(20, 10)}, 2},
		{"nothing measured", []float64{ratio(0, 10), ratio(10, 0)}, nan},
		{"empty", nil, nan},
	}
	for _, tt := range tests {
		got := median(tt.v)
		if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tt.want) {
			t.Errorf("%s: median = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := times(median([]float64{ratio(0, 10)})); got != "n/a" {
		t.Errorf("a ratio of a time below resolution prints %q, want n/a", got)
	}
}

// -mirror-only measures the mirror's two figures, prints them and leaves
// the docs alone.
func TestMirrorOnly(t *testing.T) {
	docs := filepath.Join(t.TempDir(), "performance.md")
	before := beginMarker + "\nan older table\n" + endMarker + "\n"
	if err := os.WriteFile(docs, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-quick", "-mirror-only", "-cache", t.TempDir(), "-docs", docs}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, progress bytes.Buffer
	if err := run(ctx, o, &stdout, &progress); err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if b, _ := os.ReadFile(docs); string(b) != before {
		t.Errorf("the docs changed:\n%s", b)
	}
	if strings.Contains(progress.String(), "building gerritgate") {
		t.Errorf("built the gate for the mirror's figures:\n%s", progress.String())
	}
	rows := tableRows(t, stdout.String())
	figures := []string{"mirror: initial fetch", "mirror: no-op fetch"}
	if len(rows) != len(figures) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(figures), stdout.String())
	}
	for i, f := range figures {
		if !strings.HasPrefix(rows[i][0], f) || strings.Contains(rows[i][3], "NaN") {
			t.Errorf("row %d is %q, want the figure %q measured", i+1, rows[i], f)
		}
	}
	if !strings.Contains(stdout.String(), "go run ./bench -quick -mirror-only") {
		t.Errorf("the table does not say it was -mirror-only:\n%s", stdout.String())
	}
}
