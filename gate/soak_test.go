package gate

import (
	"testing"
	"time"
)

func TestSoaked(t *testing.T) {
	at := func(hms string) time.Time { return utc("2026-12-02T" + hms + "Z") }
	// staging's history, newest first: c3 entered at 10:00, c2 at 09:40,
	// c1 at 09:00.
	history := []Contained{{"c3", at("10:00:00")}, {"c2", at("09:40:00")}, {"c1", at("09:00:00")}}
	tests := []struct {
		what    string
		history []Contained
		soak    time.Duration
		now     string
		target  string
		waiting string
		ready   string
	}{
		{"newest soaked", history, 30 * time.Minute, "10:30:00", "c3", "", ""},
		{"one still soaking", history, 30 * time.Minute, "10:15:00", "c2", "c3", "10:30:00"},
		{"soaked exactly now", history, 30 * time.Minute, "10:10:00", "c2", "c3", "10:30:00"},
		{"a second short", history, 30 * time.Minute, "10:09:59", "c1", "c2", "10:10:00"},
		{"soak not reached", history, 2 * time.Hour, "10:15:00", "", "c1", "11:00:00"},
		{"after without soak", history, 0, "10:00:00", "c3", "", ""},
		{"nothing yet", nil, 30 * time.Minute, "10:00:00", "", "", ""},
		{"unknown time never soaks", []Contained{{"c3", time.Time{}}, {"c2", at("09:00:00")}}, 30 * time.Minute, "12:00:00", "c2", "", ""},
		{"a time in the future never soaks", []Contained{{"c3", at("13:00:00")}, {"c2", at("09:00:00")}}, 0, "12:00:00", "c2", "", ""},
	}
	for _, tt := range tests {
		now := at(tt.now)
		got := Soaked(tt.history, tt.soak, now)
		var ready time.Time
		if tt.ready != "" {
			ready = at(tt.ready)
		}
		if got.Target != tt.target || got.Waiting != tt.waiting || !got.Ready.Equal(ready) {
			t.Errorf("%s: soak %s at %s = %+v, want target %q waiting %q ready %s", tt.what, tt.soak, tt.now, got, tt.target, tt.waiting, ready)
		}
	}
}
