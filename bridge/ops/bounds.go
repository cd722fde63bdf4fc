package ops

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Units of ParseDuration beyond Go's own.
const (
	day  = 24 * time.Hour
	week = 7 * day
)

// maxDuration bounds durations read from the command line (about 290 years: the reach of
// time.Duration).
const maxDuration = time.Duration(math.MaxInt64)

// ParseDuration reads a positive duration as an operator writes it: Go's syntax ("90s",
// "15m", "1h30m", "1.5h") plus the units d (24h) and w (7d), e.g. "3d" or "1w2d12h". It
// returns an error wrapping ErrInvalid that quotes s otherwise.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("%w: duration %q: %s", ErrInvalid, s, why)
	}
	if s == "" {
		return bad("empty")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if num == "" {
			return bad("want a number before each unit, e.g. 90m, 2h, 3d")
		}
		var d time.Duration
		switch unit {
		case "d", "w":
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || strings.Count(num, ".") > 1 {
				return bad("not a number: " + strconv.Quote(num))
			}
			per := day
			if unit == "w" {
				per = week
			}
			f := n * float64(per)
			if f >= float64(maxDuration) {
				return bad("too long")
			}
			d = time.Duration(f)
		case "":
			return bad("missing unit (ns, us, ms, s, m, h, d, w)")
		default:
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				if strings.Contains(err.Error(), "unknown unit") {
					return bad("unknown unit " + strconv.Quote(unit) + " (ns, us, ms, s, m, h, d, w)")
				}
				return bad("not a duration")
			}
		}
		if total > maxDuration-d {
			return bad("too long")
		}
		total += d
	}
	if total <= 0 {
		return bad("want more than zero")
	}
	return total, nil
}

// Layouts of times without a zone that ParseTime accepts, read in the given location.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime reads a point in time as an operator writes it: either a duration back from
// now (see ParseDuration: "2h" is now minus two hours), or a time: RFC 3339 with a zone
// ("2026-05-01T14:00:00Z", "2026-05-01T16:00:00+02:00"), or without a zone in loc
// ("2026-05-01T14:00:05", "2026-05-01 14:00", "2026-05-01" for midnight). It returns an
// error wrapping ErrInvalid that quotes s otherwise; loc nil means time.Local.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.Local
	}
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: time: empty", ErrInvalid)
	}
	if c := s[0]; c >= '0' && c <= '9' && !strings.Contains(s, "-") {
		d, err := ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %q is neither a duration (90m, 2h, 3d) nor a time (2026-05-01T14:00:00Z, 2026-05-01 14:00)", ErrInvalid, s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is neither a duration (90m, 2h, 3d) nor a time (2026-05-01T14:00:00Z, 2026-05-01 14:00)", ErrInvalid, s)
}

// ParseSeq reads a stream sequence: a decimal number from 1. It returns an error wrapping
// ErrInvalid that quotes s otherwise.
func ParseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%w: sequence %q: want a whole number from 1", ErrInvalid, s)
	}
	return n, nil
}

// Range bounds a set of stored events by the time they were stored and by their stream
// sequence, every bound inclusive; a zero bound is open.
type Range struct {
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
	FromSeq uint64    `json:"from_seq,omitempty"`
	ToSeq   uint64    `json:"to_seq,omitempty"`
}

// RangeFlags are the command-line texts of a Range; "" leaves a bound open.
type RangeFlags struct {
	Since, Until, FromSeq, ToSeq string
}

// ParseRange reads the flags of a range (times with ParseTime, sequences with ParseSeq)
// and validates it (Range.Validate). Errors wrap ErrInvalid and name the flag.
func ParseRange(f RangeFlags, now time.Time, loc *time.Location) (Range, error) {
	var r Range
	var err error
	if f.Since != "" {
		if r.Since, err = ParseTime(f.Since, now, loc); err != nil {
			return Range{}, fmt.Errorf("--since: %w", err)
		}
	}
	if f.Until != "" {
		if r.Until, err = ParseTime(f.Until, now, loc); err != nil {
			return Range{}, fmt.Errorf("--until: %w", err)
		}
	}
	if f.FromSeq != "" {
		if r.FromSeq, err = ParseSeq(f.FromSeq); err != nil {
			return Range{}, fmt.Errorf("--from-seq: %w", err)
		}
	}
	if f.ToSeq != "" {
		if r.ToSeq, err = ParseSeq(f.ToSeq); err != nil {
			return Range{}, fmt.Errorf("--to-seq: %w", err)
		}
	}
	return r, r.Validate()
}

// Validate checks that the range has a start (Since or FromSeq: a replay never runs from
// the beginning of a stream by accident) and that no bound is inverted. Its errors wrap
// ErrInvalid.
func (r Range) Validate() error {
	switch {
	case r.Since.IsZero() && r.FromSeq == 0:
		return fmt.Errorf("%w: the range has no start: give --since or --from-seq (--from-seq 1 for everything)", ErrInvalid)
	case !r.Until.IsZero() && !r.Since.IsZero() && r.Until.Before(r.Since):
		return fmt.Errorf("%w: inverted range: --until %s is before --since %s", ErrInvalid,
			r.Until.Format(time.RFC3339), r.Since.Format(time.RFC3339))
	case r.ToSeq != 0 && r.ToSeq < r.FromSeq:
		return fmt.Errorf("%w: inverted range: --to-seq %d is below --from-seq %d", ErrInvalid, r.ToSeq, r.FromSeq)
	}
	return nil
}

// Contains reports whether an event stored at t with stream sequence seq lies inside the
// range.
func (r Range) Contains(seq uint64, t time.Time) bool {
	return seq >= r.FromSeq && (r.ToSeq == 0 || seq <= r.ToSeq) &&
		(r.Since.IsZero() || !t.Before(r.Since)) && (r.Until.IsZero() || !t.After(r.Until))
}
