package main

import (
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/audit"
)

// The timeline prints whatever ids a report holds, short or empty,
// without panicking: they come from records in someone's repository.
func TestPrintTimelineShortIDs(t *testing.T) {
	tests := []struct {
		entry audit.Entry
		want  string
	}{
		{audit.Entry{Kind: audit.Advance, From: "abc", To: "x"}, "abc -> x"},
		{audit.Entry{Kind: audit.Baseline, To: ""}, "(nothing) -> "},
		{audit.Entry{Kind: audit.Advance, From: strings.Repeat("a", 40), To: strings.Repeat("b", 40), SignedBy: "ABCD"}, "aaaaaaaaaaaa -> bbbbbbbbbbbb"},
	}
	for _, tt := range tests {
		var b strings.Builder
		printTimeline(&b, &audit.Report{Environments: []audit.Environment{{Name: "prod", Timeline: []audit.Entry{tt.entry}}}})
		if !strings.Contains(b.String(), tt.want) {
			t.Errorf("timeline of %+v:\n%s\nwant it to show %q", tt.entry, b.String(), tt.want)
		}
	}
}
