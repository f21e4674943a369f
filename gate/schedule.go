package gate

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is when an environment may advance: inside one of its Windows
// (none: at any time) and outside every Freeze.
type Schedule struct {
	Windows []Window
	// Location is the timezone the Windows are read in; nil when there
	// are no windows.
	Location *time.Location
	Freezes  []Freeze
}

// Window is one cron spec (minute hour day-of-month month day-of-week):
// the minutes, on the wall clock of Schedule.Location, in which advancing
// is allowed. In a DST gap the skipped minutes do not exist; in a repeated
// hour both occurrences match.
type Window struct {
	Spec string
	s    *cron.SpecSchedule
}

// Freeze is a period [From, Until) in which the environment does not
// advance.
type Freeze struct {
	From   time.Time
	Until  time.Time
	Reason string
}

// HoldReason says why an environment is held, one word programs match.
type HoldReason string

// Hold reasons.
const (
	Frozen        HoldReason = "Frozen"
	OutsideWindow HoldReason = "OutsideWindow"
)

// Hold is what a Schedule says at one instant.
type Hold struct {
	Held   bool
	Reason HoldReason // "" when not held
	// Why is Reason for people: the freeze's reason, or the windows.
	Why string
	// Until is the first minute at which the environment may advance
	// again, freezes and windows combined; zero when not held, or when no
	// window opens within the search horizon (held with no known end).
	Until time.Time
}

// cronParser reads the 5-field standard spec, with names (MON, JAN).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// starBit is robfig/cron's mark of a field written as * (or ?): it decides
// how day-of-month and day-of-week combine, as in cron(8).
const starBit = 1 << 63

// horizon bounds the search for the next open minute: long enough for a
// February 29 window across a non-leap century year.
const horizon = 9 * 366 * 24 * time.Hour

// ParseWindow parses a 5-field cron spec. A spec that can never match (the
// 31st of February) is an error: the environment would never advance.
func ParseWindow(spec string) (Window, error) {
	if strings.HasPrefix(strings.TrimSpace(spec), "@") || strings.Contains(spec, "TZ=") {
		return Window{}, fmt.Errorf("window %q: write five fields (minute hour day-of-month month day-of-week), set the zone with timezone", spec)
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: %v", spec, err)
	}
	ss := s.(*cron.SpecSchedule) // the standard fields always give one
	if !possibleDay(ss) {
		return Window{}, fmt.Errorf("window %q: no month of the spec has its day of the month: the window never opens", spec)
	}
	return Window{Spec: spec, s: ss}, nil
}

// possibleDay reports whether some selected month has a selected day.
// Only a restricted day-of-month with an unrestricted day-of-week can miss
// (cron(8): when both are restricted, either matches).
func possibleDay(s *cron.SpecSchedule) bool {
	if s.Dom&starBit != 0 || s.Dow&starBit == 0 {
		return true
	}
	days := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if s.Month&(1<<m) == 0 {
			continue
		}
		for d := 1; d <= days[m]; d++ {
			if s.Dom&(1<<d) != 0 {
				return true
			}
		}
	}
	return false
}

func (w Window) dayMatches(t time.Time) bool {
	dom := w.s.Dom&(1<<uint(t.Day())) != 0
	dow := w.s.Dow&(1<<uint(t.Weekday())) != 0
	if w.s.Dom&starBit != 0 || w.s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// matches reports whether local time t (already in the zone) is a minute
// of the window.
func (w Window) matches(t time.Time) bool {
	return w.s.Month&(1<<uint(t.Month())) != 0 && w.dayMatches(t) &&
		w.s.Hour&(1<<uint(t.Hour())) != 0 && w.s.Minute&(1<<uint(t.Minute())) != 0
}

// next returns the first minute at or after t (a minute boundary) that
// the window matches in loc, or zero when there is none before limit. It
// skips a non-matching month, day or hour at once, so it costs at most a
// few thousand steps. Every step moves forward in absolute time, so a
// DST transition (a skipped or repeated local hour) cannot loop it.
func (w Window) next(t time.Time, loc *time.Location, limit time.Time) time.Time {
	for !t.After(limit) {
		lt := t.In(loc)
		var n time.Time
		switch {
		case w.s.Month&(1<<uint(lt.Month())) == 0:
			n = time.Date(lt.Year(), lt.Month()+1, 1, 0, 0, 0, 0, loc)
		case !w.dayMatches(lt):
			n = time.Date(lt.Year(), lt.Month(), lt.Day()+1, 0, 0, 0, 0, loc)
		case w.s.Hour&(1<<uint(lt.Hour())) == 0:
			n = t.Add(time.Duration(60-lt.Minute()) * time.Minute)
		case w.s.Minute&(1<<uint(lt.Minute())) == 0:
			n = t.Add(time.Minute)
		default:
			return t
		}
		// time.Date in a DST gap may land before t: never step backwards.
		if !n.After(t) {
			n = t.Add(time.Minute)
		}
		t = n
	}
	return time.Time{}
}

// open reports whether minute t is inside a window (always, without
// windows).
func (s Schedule) open(t time.Time) bool {
	if len(s.Windows) == 0 {
		return true
	}
	lt := t.In(s.Location)
	for _, w := range s.Windows {
		if w.matches(lt) {
			return true
		}
	}
	return false
}

// nextOpen is the first minute at or after t inside a window; zero when
// none opens before limit.
func (s Schedule) nextOpen(t, limit time.Time) time.Time {
	if len(s.Windows) == 0 {
		return t
	}
	var best time.Time
	for _, w := range s.Windows {
		if n := w.next(t, s.Location, limit); !n.IsZero() && (best.IsZero() || n.Before(best)) {
			best = n
		}
	}
	return best
}

// frozen returns the freeze in force at t, the one ending last when
// several overlap.
func (s Schedule) frozen(t time.Time) (Freeze, bool) {
	var in Freeze
	found := false
	for _, f := range s.Freezes {
		if !t.Before(f.From) && t.Before(f.Until) && (!found || f.Until.After(in.Until)) {
			in, found = f, true
		}
	}
	return in, found
}

// HeldAt says whether the schedule holds the environment at now, why, and
// until when. It is pure: now comes from the caller.
func (s Schedule) HeldAt(now time.Time) Hold {
	minute := now.Truncate(time.Minute)
	var h Hold
	if f, ok := s.frozen(now); ok {
		h = Hold{Held: true, Reason: Frozen, Why: fmt.Sprintf("inside freeze %q (%s to %s)", f.Reason, f.From.Format(time.RFC3339), f.Until.Format(time.RFC3339))}
	} else if !s.open(minute) {
		h = Hold{Held: true, Reason: OutsideWindow, Why: "outside the deploy windows " + s.describeWindows()}
	} else {
		return Hold{}
	}
	h.Until = s.release(now)
	return h
}

// release is the first instant at or after now that is outside every
// freeze and inside a window: freezes that chain or overlap are left one
// after another, and a freeze that ends outside a window waits for the
// next window. Zero when that is beyond the horizon.
func (s Schedule) release(now time.Time) time.Time {
	limit := now.Add(horizon)
	t := now
	for !t.After(limit) {
		if f, ok := s.frozen(t); ok {
			t = f.Until
			continue
		}
		if s.open(t.Truncate(time.Minute)) {
			return t
		}
		// A minute boundary after t: the window opens at its start.
		n := s.nextOpen(t.Truncate(time.Minute).Add(time.Minute), limit)
		if n.IsZero() {
			return time.Time{}
		}
		t = n
	}
	return time.Time{}
}

func (s Schedule) describeWindows() string {
	specs := make([]string, len(s.Windows))
	for i, w := range s.Windows {
		specs[i] = fmt.Sprintf("%q", w.Spec)
	}
	return "[" + strings.Join(specs, ", ") + "] in " + s.Location.String()
}

// Summary describes the schedule for people, one line per rule.
func (s Schedule) Summary() []string {
	var out []string
	if len(s.Windows) > 0 {
		out = append(out, "advances only inside the windows "+s.describeWindows())
	}
	for _, f := range s.Freezes {
		out = append(out, fmt.Sprintf("frozen from %s until %s: %s", f.From.Format(time.RFC3339), f.Until.Format(time.RFC3339), f.Reason))
	}
	return out
}
