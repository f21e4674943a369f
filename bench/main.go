// Command bench measures gerritgate side by side with C git, the figures
// of issue 14, and writes them as a table into docs/performance.md.
//
//	go run ./bench                 # the full run: 20k files, 10k commits, 1,000 projects
//	go run ./bench -quick          # a small run (under a minute), to see it works
//	go run ./bench -mirror-only    # the mirror's two figures, printed only
//	go run ./bench -figures poll   # the steady poll only, printed (not written into the docs)
//
// It builds the synthetic repository (a GitOps layout) with git
// fast-import, cached under -cache and built again only when the
// generator's version or size changes; serves it through a simulated
// Gerrit to the built gerritgate binary; serves gerritgate's served
// repository also with C git's http-backend (net/http/cgi, a process of its
// own); and runs each figure in rounds, alternating which of the two goes
// first, taking the ratio in each round and reporting medians. Figures are
// reported, never asserted: it exits non-zero only when it cannot measure.
// A figure whose metric the gate does not have reads n/a.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	cache    string // where the synthetic repositories are kept
	docs     string // the file the table goes into; "" prints it only
	quick    bool
	files    int
	commits  int
	rounds   int
	projects int // for the steady poll
	burst    int // approved commits merged at once
	clients  int // ref checks at once
	checkFor time.Duration
	keep     bool            // keep the work directory, for a post-mortem
	mirror   bool            // the mirror's figures only
	figures  map[string]bool // which groups of figures run (figureGroups)
}

// figureGroups are the groups of figures -figures can choose: those of the
// synthetic repository (ref checks, shallow clones, the burst, the mirror)
// and the steady poll of many projects.
var figureGroups = []string{"fleet", "poll"}

func main() {
	serveCGIIfAsked()
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := filepath.Join(os.TempDir(), "gerritgate-bench")
	if d, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(d, "gerritgate", "bench")
	}
	fs.StringVar(&o.cache, "cache", cache, "directory keeping the synthetic repositories between runs")
	fs.StringVar(&o.docs, "docs", "docs/performance.md", "file whose <!-- bench:begin --> ... <!-- bench:end --> section gets the table (appended when absent); empty: print only")
	fs.BoolVar(&o.quick, "quick", false, "a small run: 400 files, 200 commits, 5 projects, 10 merged at once, 2 rounds (sizes set by flags win)")
	fs.IntVar(&o.files, "files", 20000, "files in the synthetic repository")
	fs.IntVar(&o.commits, "commits", 10000, "commits in the synthetic repository")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds of each figure (the mirror's: at most 3)")
	fs.IntVar(&o.projects, "projects", 1000, "projects in the steady poll (each with 3 environments)")
	fs.IntVar(&o.burst, "burst", 200, "approved commits merged at once")
	fs.IntVar(&o.clients, "clients", 64, "ref-checking clients at once")
	fs.DurationVar(&o.checkFor, "check-for", 3*time.Second, "how long each server is checked in each round of the ref-check figures")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, data) and print where it is")
	fs.BoolVar(&o.mirror, "mirror-only", false, "measure the mirror's figures only (no gerritgate built) and print them; the docs are left as they are")
	figures := fs.String("figures", strings.Join(figureGroups, ","), "the figures to run, comma-separated: fleet (ref checks, clones, burst, mirror), poll (the steady poll); with only some, the table is printed and -docs must be empty")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	fail := func(err error) (options, error) {
		fmt.Fprintln(stderr, "bench:", err)
		return o, err
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	o.figures = map[string]bool{}
	for _, f := range strings.Split(*figures, ",") {
		if !slices.Contains(figureGroups, f) {
			return fail(fmt.Errorf("-figures: unknown figure %q (known: %s)", f, strings.Join(figureGroups, ", ")))
		}
		o.figures[f] = true
	}
	if len(o.figures) < len(figureGroups) {
		// A part of the table would replace the whole one in the docs.
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "docs" })
		if set && o.docs != "" {
			return fail(fmt.Errorf("-figures %s writes only part of the table: it cannot go into %s (use -docs '')", *figures, o.docs))
		}
		o.docs = ""
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]func(){
			"files": func() { o.files = 400 }, "commits": func() { o.commits = 200 },
			"rounds": func() { o.rounds = 2 }, "projects": func() { o.projects = 5 },
			"burst": func() { o.burst = 10 }, "check-for": func() { o.checkFor = 500 * time.Millisecond },
		}
		for name, f := range quick {
			if !set[name] {
				f()
			}
		}
	}
	for name, v := range map[string]int{"rounds": o.rounds, "projects": o.projects, "burst": o.burst, "clients": o.clients} {
		if v < 1 {
			return fail(fmt.Errorf("-%s must be at least 1, got %d", name, v))
		}
	}
	return o, nil
}

// run measures every figure and writes the table.
func run(ctx context.Context, o options, stdout, progress io.Writer) error {
	m := describeMachine()
	work, err := os.MkdirTemp("", "gerritgate-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(progress, "work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	b := &bench{o: o, work: work, log: progress}
	if o.mirror {
		return b.mirrorOnly(ctx, m, stdout)
	}
	b.logf("building gerritgate")
	if b.bin, err = buildGate(ctx, work); err != nil {
		return err
	}
	b.logf("synthetic repository: %d files, %d commits (cache %s)", o.files, o.commits, o.cache)
	if b.synth, err = synthesize(ctx, o.cache, o.files, o.commits); err != nil {
		return err
	}
	if o.figures["fleet"] {
		if err := b.fleetFigures(ctx); err != nil {
			return err
		}
	}
	if o.figures["poll"] {
		if err := b.pollFigure(ctx); err != nil {
			return err
		}
	}
	m.LoadEnd = loadAverage()
	table := renderTable(m, o, b.synth, b.rows)
	fmt.Fprint(stdout, table)
	if o.docs == "" {
		return nil
	}
	return writeSection(o.docs, table)
}

// bench holds one run's state.
type bench struct {
	o     options
	work  string
	log   io.Writer
	bin   string
	synth *synthRepo
	rows  []row
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
