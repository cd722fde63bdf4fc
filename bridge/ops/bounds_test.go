package ops_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/ops"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"90s": 90 * time.Second, "15m": 15 * time.Minute, "2h": 2 * time.Hour, "1h30m": 90 * time.Minute,
		"1.5h": 90 * time.Minute, "3d": 72 * time.Hour, "1w": 168 * time.Hour, "1w2d12h": 228 * time.Hour,
		"0.5d": 12 * time.Hour, "500ms": 500 * time.Millisecond,
	}
	for s, want := range good {
		if got, err := ops.ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "2", "h", "2x", "-2h", "0s", "0d", "2h-", "1..5d", "1.2.3h", "99999999999999w", "3 d", "2H"} {
		if _, err := ops.ParseDuration(s); !errors.Is(err, ops.ErrInvalid) || !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("ParseDuration(%q) = %v, want ErrInvalid quoting it", s, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 5, 1, 16, 0, 0, 0, time.UTC)
	berlin := time.FixedZone("CEST", 2*3600)
	good := map[string]time.Time{
		"2h":                        now.Add(-2 * time.Hour),
		"3d":                        now.Add(-72 * time.Hour),
		"2026-05-01T14:00:00Z":      time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC),
		"2026-05-01T16:00:00+02:00": time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC),
		"2026-05-01T14:00:05":       time.Date(2026, 5, 1, 14, 0, 5, 0, berlin),
		"2026-05-01 14:00":          time.Date(2026, 5, 1, 14, 0, 0, 0, berlin),
		"2026-05-01T14:00":          time.Date(2026, 5, 1, 14, 0, 0, 0, berlin),
		"2026-05-01":                time.Date(2026, 5, 1, 0, 0, 0, 0, berlin),
		"2026-05-01 14:00:05.5":     time.Date(2026, 5, 1, 14, 0, 5, 5e8, berlin),
	}
	for s, want := range good {
		if got, err := ops.ParseTime(s, now, berlin); err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "yesterday", "14:00", "2026-13-01", "2026-05-01T25:00", "2x", "-2h", "2026/05/01"} {
		if _, err := ops.ParseTime(s, now, berlin); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("ParseTime(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestParseRange(t *testing.T) {
	now := time.Now()
	r, err := ops.ParseRange(ops.RangeFlags{Since: "2h", Until: "1h", FromSeq: "5", ToSeq: "9"}, now, nil)
	if err != nil || !r.Since.Equal(now.Add(-2*time.Hour)) || r.FromSeq != 5 || r.ToSeq != 9 {
		t.Fatalf("ParseRange = %+v, %v", r, err)
	}
	if !r.Contains(5, now.Add(-time.Hour)) || r.Contains(4, now.Add(-time.Hour)) || r.Contains(10, now.Add(-time.Hour)) ||
		r.Contains(6, now) || r.Contains(6, now.Add(-3*time.Hour)) {
		t.Error("Contains does not honour the bounds")
	}
	bad := map[string]ops.RangeFlags{
		"no start":       {Until: "1h"},
		"inverted time":  {Since: "1h", Until: "2h"},
		"inverted seq":   {FromSeq: "9", ToSeq: "5"},
		"bad duration":   {Since: "2 hours"},
		"bad until":      {Since: "2h", Until: "soon"},
		"zero seq":       {FromSeq: "0"},
		"negative seq":   {FromSeq: "-1"},
		"plus seq":       {FromSeq: "+1"},
		"not a number":   {FromSeq: "five"},
		"bad to-seq":     {FromSeq: "1", ToSeq: "x"},
		"huge seq":       {FromSeq: "99999999999999999999999"},
		"only to-seq":    {ToSeq: "5"},
		"since is blank": {Since: " "},
	}
	for name, f := range bad {
		if _, err := ops.ParseRange(f, now, nil); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("%s: ParseRange(%+v) = %v, want ErrInvalid", name, f, err)
		}
	}
}

// FuzzParseTime checks that no input makes the time parser panic, and that a duration
// always lies in the past.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2h", "1w2d", "1.5h", "2026-05-01T14:00:00Z", "2026-05-01 14:00", "2026-05-01", "", "9999999999999999999d", "1e9h", ".5d", "0.0000000001d"} {
		f.Add(s)
	}
	now := time.Date(2026, 5, 1, 16, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ops.ParseTime(s, now, time.UTC)
		if err != nil {
			if !errors.Is(err, ops.ErrInvalid) {
				t.Fatalf("ParseTime(%q): error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if d, derr := ops.ParseDuration(s); derr == nil {
			if d <= 0 || !got.Before(now) {
				t.Fatalf("ParseTime(%q) = %v from duration %v, not in the past", s, got, d)
			}
		}
	})
}

// FuzzParseRange checks that whatever the flags, an accepted range has a start and no
// inverted bound.
func FuzzParseRange(f *testing.F) {
	f.Add("2h", "1h", "5", "9")
	f.Add("", "", "1", "")
	f.Add("2026-05-01", "2026-04-01", "", "")
	f.Add("1d", "", "18446744073709551615", "1")
	now := time.Date(2026, 5, 1, 16, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, since, until, from, to string) {
		r, err := ops.ParseRange(ops.RangeFlags{Since: since, Until: until, FromSeq: from, ToSeq: to}, now, time.UTC)
		if err != nil {
			if !errors.Is(err, ops.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if r.Since.IsZero() && r.FromSeq == 0 {
			t.Fatalf("accepted a range without a start: %+v", r)
		}
		if (!r.Until.IsZero() && r.Until.Before(r.Since)) || (r.ToSeq != 0 && r.ToSeq < r.FromSeq) {
			t.Fatalf("accepted an inverted range: %+v", r)
		}
	})
}
