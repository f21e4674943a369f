package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// row is one figure of the table.
type row struct {
	figure, gate, reference, ratio, goal string
}

// The markers around the section the command writes in the docs.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

func median(v []float64) float64 {
	// A NaN is a round that measured nothing (see ratio): it has no place
	// in the order, and would put the median anywhere.
	s := slices.DeleteFunc(slices.Clone(v), math.IsNaN)
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func each[T any](v []T, f func(T) float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = f(x)
	}
	return out
}

// ratio is a/b, NaN when b is 0 (printed n/a).
// ratio is a / b, NaN when either is zero: a CPU time of zero is below the
// /proc clock's resolution (10 ms), not a measurement, and a ratio of it
// (0x, or infinity) would be a rounding fault.
func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return math.NaN()
	}
	return a / b
}

func times(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	if v >= 10 {
		return fmt.Sprintf("%.0fx", v)
	}
	return fmt.Sprintf("%.2fx", v)
}

// num prints a count with thousands separators.
func num(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ms prints a duration given in nanoseconds, in ms below 10 s.
func ms(ns float64) string {
	if math.IsNaN(ns) {
		return "n/a"
	}
	d := time.Duration(ns)
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", ns/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.3f ms", ns/1e6)
	}
}

// cell keeps a cell on its row of the markdown table.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// renderTable is the docs section: the machine, how to rerun, the table.
func renderTable(m machine, o options, r *synthRepo, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", beginMarker)
	mode := ""
	if o.quick {
		mode = " -quick"
	}
	if o.mirror {
		mode += " -mirror-only"
	}
	fmt.Fprintf(&b, "Written by `go run ./bench%s` on %s: %s, %d cores, %.1f GiB RAM, load average %s at the start and %s at the end, git %s, %s. ",
		mode, m.Date.Format("2006-01-02 15:04 UTC"), m.CPU, m.Cores, m.MemGiB, m.LoadStart, m.LoadEnd, m.Git, m.Go)
	fmt.Fprintf(&b, "Synthetic repository: %s files, %s commits, %.0f MiB packed (generator version %d); %d rounds a figure (the mirror's at most 3), gerritgate and the reference alternating which goes first; each cell is the median of the rounds, each ratio the median of the rounds' ratios. The reference is C git's `git http-backend` behind net/http/cgi serving gerritgate's served repository, or C git itself.\n\n",
		num(float64(r.Files)), num(float64(r.Count)), r.packedMiB(), generatorVersion, o.rounds)
	b.WriteString("| figure | gerritgate | reference | ratio | goal |\n|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(x.figure), cell(x.gate), cell(x.reference), cell(x.ratio), cell(x.goal))
	}
	fmt.Fprintf(&b, "%s\n", endMarker)
	return b.String()
}

// writeSection replaces the marked section of path with section, or
// appends it under a heading when the file has none; the file is replaced
// whole (written beside it, then renamed), never left half-written.
func writeSection(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out []byte
	begin, end := bytes.Index(old, []byte(beginMarker)), bytes.Index(old, []byte(endMarker))
	switch {
	case begin < 0 && end < 0:
		out = append(bytes.TrimRight(old, "\n"), "\n\n## Side by side (bench/)\n\n"...)
		out = append(out, section...)
	case begin >= 0 && end > begin:
		out = append(out, old[:begin]...)
		out = append(out, section...)
		rest := old[end+len(endMarker):]
		out = append(out, bytes.TrimPrefix(rest, []byte("\n"))...)
	default:
		return fmt.Errorf("%s: %s and %s are not a pair in that order", path, beginMarker, endMarker)
	}
	tmp := path + ".bench-tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
