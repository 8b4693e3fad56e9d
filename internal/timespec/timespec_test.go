package timespec

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 30, 15, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"today":                time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		"yesterday":            time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		"tomorrow":             time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
		"@1795346348":          time.Unix(1795346348, 0).UTC(),
		"@1795346348.5":        time.Unix(1795346348, 5e8).UTC(),
		"10 min ago":           now.Add(-10 * time.Minute),
		"1h 30min ago":         now.Add(-90 * time.Minute),
		"-5min":                now.Add(-5 * time.Minute),
		"+2h":                  now.Add(2 * time.Hour),
		"-1d":                  now.Add(-24 * time.Hour),
		"2026-11-22 10:00":     time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		"2026-11-22 10:00:05":  time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC),
		"2026-11-22":           time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		"2026-11-22T10:00:05Z": time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC),
		"10:00":                time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	} {
		got, err := Parse(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "10 parsecs ago", "@x", "-", "2026-13-45", "99999999999999999999 min ago"} {
		if got, err := Parse(bad, now); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"now", "10 min ago", "@1795346348.5", "2026-11-22 10:00", "-5min", "1.5.5h ago"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 12, 30, 15, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s, now)
		if err != nil && !got.IsZero() {
			t.Fatalf("error with a value: %v", got)
		}
	})
}
