package gate

import (
	"testing"
	"time"
)

func mustWindows(t *testing.T, loc string, specs ...string) Schedule {
	t.Helper()
	var s Schedule
	for _, spec := range specs {
		w, err := ParseWindow(spec)
		if err != nil {
			t.Fatal(err)
		}
		s.Windows = append(s.Windows, w)
	}
	if loc != "" {
		l, err := time.LoadLocation(loc)
		if err != nil {
			t.Fatal(err)
		}
		s.Location = l
	}
	return s
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestHeldAt(t *testing.T) {
	office := mustWindows(t, "Europe/Berlin", "* 9-16 * * MON-THU")
	yearEnd := Freeze{From: utc("2026-12-20T00:00:00Z"), Until: utc("2027-01-04T00:00:00Z"), Reason: "year-end freeze"}
	officeFrozen := office
	officeFrozen.Freezes = []Freeze{yearEnd}
	onlyFrozen := Schedule{Freezes: []Freeze{yearEnd}}
	chained := Schedule{Freezes: []Freeze{
		{From: utc("2026-12-20T00:00:00Z"), Until: utc("2026-12-24T00:00:00Z"), Reason: "first"},
		{From: utc("2026-12-23T00:00:00Z"), Until: utc("2026-12-27T00:00:00Z"), Reason: "second"},
		{From: utc("2026-12-27T00:00:00Z"), Until: utc("2026-12-28T00:00:00Z"), Reason: "third"},
	}}
	// Berlin 2026: CET -> CEST at 2026-03-29 02:00 (01:00Z), CEST -> CET
	// at 2026-10-25 03:00 (01:00Z).
	halfPastTwo := mustWindows(t, "Europe/Berlin", "30 2 * * *")
	twoOClock := mustWindows(t, "Europe/Berlin", "* 2 * * *")
	daily := mustWindows(t, "Europe/Berlin", "* 9-16 * * *")
	two := mustWindows(t, "UTC", "0 6 * * *", "15 5 * * *")
	both := mustWindows(t, "UTC", "0 12 13 * FRI") // the 13th or a Friday, as cron(8)

	tests := []struct {
		what   string
		s      Schedule
		now    string
		reason HoldReason // "" for not held
		until  string
	}{
		{"no rules", Schedule{}, "2026-12-02T03:00:00Z", "", ""},
		// Wednesday 2 December 2026, CET (UTC+1).
		{"inside the window", office, "2026-12-02T10:00:00Z", "", ""},
		{"first minute of the window", office, "2026-12-02T08:00:00Z", "", ""},
		{"last second before the window", office, "2026-12-02T07:59:59.999Z", OutsideWindow, "2026-12-02T08:00:00Z"},
		{"last minute of the window", office, "2026-12-02T15:59:00Z", "", ""},
		{"end of the last minute", office, "2026-12-02T15:59:59.999Z", "", ""},
		{"first minute after the window", office, "2026-12-02T16:00:00Z", OutsideWindow, "2026-12-03T08:00:00Z"},
		{"thursday evening waits for monday", office, "2026-12-03T16:00:00Z", OutsideWindow, "2026-12-07T08:00:00Z"},
		{"friday waits for monday", office, "2026-12-04T10:00:00Z", OutsideWindow, "2026-12-07T08:00:00Z"},
		{"summer time shifts the window", office, "2026-07-01T07:00:00Z", "", ""},
		{"summer time, before", office, "2026-07-01T06:59:00Z", OutsideWindow, "2026-07-01T07:00:00Z"},
		// Freezes.
		{"frozen inside a window", officeFrozen, "2026-12-22T10:00:00Z", Frozen, "2027-01-04T08:00:00Z"}, // ends Monday 01:00 Berlin: waits for 09:00
		{"freeze ends inside a window", onlyFrozen, "2026-12-22T10:00:00Z", Frozen, "2027-01-04T00:00:00Z"},
		{"first instant of a freeze", onlyFrozen, "2026-12-20T00:00:00Z", Frozen, "2027-01-04T00:00:00Z"},
		{"just before a freeze", onlyFrozen, "2026-12-19T23:59:59.999Z", "", ""},
		{"last instant of a freeze", onlyFrozen, "2027-01-03T23:59:59.999Z", Frozen, "2027-01-04T00:00:00Z"},
		{"freeze over", onlyFrozen, "2027-01-04T00:00:00Z", "", ""},
		{"freeze over, window closed", officeFrozen, "2027-01-04T00:00:00Z", OutsideWindow, "2027-01-04T08:00:00Z"},
		{"outside the window before a freeze", officeFrozen, "2026-12-17T16:00:00Z", OutsideWindow, "2027-01-04T08:00:00Z"}, // next opening Monday 21st is frozen
		{"overlapping and touching freezes", chained, "2026-12-21T00:00:00Z", Frozen, "2026-12-28T00:00:00Z"},
		// DST.
		{"spring forward skips 02:30", halfPastTwo, "2026-03-28T23:00:00Z", OutsideWindow, "2026-03-30T00:30:00Z"},
		{"02:30 the day before", halfPastTwo, "2026-03-27T23:00:00Z", OutsideWindow, "2026-03-28T01:30:00Z"},
		{"window across spring forward", daily, "2026-03-28T16:00:00Z", OutsideWindow, "2026-03-29T07:00:00Z"},
		{"fall back: first 02:xx", twoOClock, "2026-10-25T00:30:00Z", "", ""},
		{"fall back: second 02:xx", twoOClock, "2026-10-25T01:30:00Z", "", ""},
		{"fall back: after both", twoOClock, "2026-10-25T02:00:00Z", OutsideWindow, "2026-10-26T01:00:00Z"},
		{"fall back: before both", twoOClock, "2026-10-24T23:00:00Z", OutsideWindow, "2026-10-25T00:00:00Z"},
		{"window across fall back", daily, "2026-10-24T15:00:00Z", OutsideWindow, "2026-10-25T08:00:00Z"},
		// Several windows, and cron(8)'s day rule.
		{"earliest of two windows", two, "2026-12-02T05:16:00Z", OutsideWindow, "2026-12-02T06:00:00Z"},
		{"the other window", two, "2026-12-02T04:00:00Z", OutsideWindow, "2026-12-02T05:15:00Z"},
		{"day of month or weekday: friday", both, "2026-12-02T13:00:00Z", OutsideWindow, "2026-12-04T12:00:00Z"},
		{"day of month or weekday: the 13th", both, "2026-12-11T13:00:00Z", OutsideWindow, "2026-12-13T12:00:00Z"},
	}
	for _, tt := range tests {
		h := tt.s.HeldAt(utc(tt.now))
		if h.Held != (tt.reason != "") || h.Reason != tt.reason {
			t.Errorf("%s: at %s held %v %q (%s), want %q", tt.what, tt.now, h.Held, h.Reason, h.Why, tt.reason)
			continue
		}
		var want time.Time
		if tt.until != "" {
			want = utc(tt.until)
		}
		if !h.Until.Equal(want) {
			t.Errorf("%s: at %s held until %s, want %s", tt.what, tt.now, h.Until.UTC(), want)
		}
		if h.Held && h.Why == "" {
			t.Errorf("%s: held without saying why", tt.what)
		}
	}
}

func TestHeldWhy(t *testing.T) {
	s := mustWindows(t, "Europe/Berlin", "* 9-16 * * MON-THU")
	s.Freezes = []Freeze{{From: utc("2026-12-20T00:00:00Z"), Until: utc("2027-01-04T00:00:00Z"), Reason: "year-end freeze"}}
	if got, want := s.HeldAt(utc("2026-12-22T10:00:00Z")).Why, `inside freeze "year-end freeze" (2026-12-20T00:00:00Z to 2027-01-04T00:00:00Z)`; got != want {
		t.Errorf("frozen: why %q, want %q", got, want)
	}
	if got, want := s.HeldAt(utc("2026-12-05T10:00:00Z")).Why, `outside the deploy windows ["* 9-16 * * MON-THU"] in Europe/Berlin`; got != want {
		t.Errorf("outside: why %q, want %q", got, want)
	}
}

// A window that opens rarely is still found, and within bounds.
func TestHeldUntilRareWindow(t *testing.T) {
	leap := mustWindows(t, "UTC", "0 0 29 2 *")
	h := leap.HeldAt(utc("2097-03-01T00:00:00Z")) // 2100 is not a leap year
	if want := utc("2104-02-29T00:00:00Z"); !h.Until.Equal(want) {
		t.Errorf("next February 29 after 2097: %s, want %s", h.Until, want)
	}
}

func BenchmarkHeldAt(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	w, _ := ParseWindow("59 23 * * SUN")
	s := Schedule{Windows: []Window{w}, Location: loc}
	now := utc("2026-12-07T00:00:00Z")
	for b.Loop() {
		s.HeldAt(now)
	}
}

// FuzzParseWindow: ParseWindow never panics (robfig/cron's parser does on
// some TZ= specs), and a window it accepts opens within the horizon.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"* 9-16 * * MON-THU", "0 0 29 2 *", "TZ=", "CRON_TZ=x", "@daily", "*/5 * 1,15 * 1-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		w, err := ParseWindow(spec)
		if err != nil {
			return
		}
		s := Schedule{Windows: []Window{w}, Location: time.UTC}
		now := utc("2026-12-02T10:00:00Z")
		if h := s.HeldAt(now); h.Held && h.Until.IsZero() {
			t.Fatalf("window %q is accepted but never opens after %s", spec, now)
		}
	})
}
