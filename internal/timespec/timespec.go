// Package timespec parses time specifications the way journalctl's --since/--until do (systemd.time(7)):
// "now", "today", "yesterday", "tomorrow", "@EPOCH", "2026-11-22 10:00[:00]", "10:00", "-5min", "+1h",
// "10 min ago", and "YYYY-MM-DDTHH:MM:SS[Z]".
package timespec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var units = []struct {
	names []string
	d     time.Duration
}{
	{[]string{"us", "usec", "µs"}, time.Microsecond},
	{[]string{"ms", "msec"}, time.Millisecond},
	{[]string{"s", "sec", "secs", "second", "seconds"}, time.Second},
	{[]string{"m", "min", "mins", "minute", "minutes"}, time.Minute},
	{[]string{"h", "hr", "hrs", "hour", "hours"}, time.Hour},
	{[]string{"d", "day", "days"}, 24 * time.Hour},
	{[]string{"w", "week", "weeks"}, 7 * 24 * time.Hour},
	{[]string{"M", "month", "months"}, 2629800 * time.Second}, // 30.44 days, as systemd
	{[]string{"y", "year", "years"}, 31557600 * time.Second},  // 365.25 days, as systemd
}

// ParseDuration parses a systemd time span: "5min", "1h 30min", "2 days", "90" (seconds).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad time span %q", s)
		}
		num, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("bad time span %q", s)
		}
		s = strings.TrimLeft(s[i:], " ")
		j := 0
		for j < len(s) && (unicode.IsLetter(rune(s[j])) || s[j] >= 0x80) {
			j++
		}
		unit := s[:j]
		s = strings.TrimLeft(s[j:], " ")
		d := time.Second
		if unit != "" {
			found := false
			for _, u := range units {
				for _, n := range u.names {
					if n == unit || (len(unit) > 1 && strings.EqualFold(n, unit) && n != "M" && n != "m") {
						d, found = u.d, true
					}
				}
			}
			if !found {
				return 0, fmt.Errorf("unknown time unit %q", unit)
			}
		}
		if num > float64(1<<62)/float64(d) {
			return 0, fmt.Errorf("time span too large")
		}
		total += time.Duration(num * float64(d))
	}
	return total, nil
}

var layouts = []string{
	"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02",
	"2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02T15:04",
}

// Parse parses s relative to now, in now's location.
func Parse(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	loc := now.Location()
	day := func(off int) time.Time {
		y, m, d := now.Date()
		return time.Date(y, m, d+off, 0, 0, 0, 0, loc)
	}
	switch s {
	case "":
		return time.Time{}, fmt.Errorf("empty time")
	case "now":
		return now, nil
	case "today":
		return day(0), nil
	case "yesterday":
		return day(-1), nil
	case "tomorrow":
		return day(1), nil
	}
	if e, ok := strings.CutPrefix(s, "@"); ok {
		f, err := strconv.ParseFloat(e, 64)
		if err != nil || f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("bad epoch time %q", s)
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).In(loc), nil
	}
	if rest, ok := strings.CutSuffix(s, " ago"); ok {
		d, err := ParseDuration(rest)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	if s[0] == '-' || s[0] == '+' {
		d, err := ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, err
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	if strings.HasSuffix(s, "Z") || strings.Contains(s, "+") {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	for _, l := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, loc), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse time %q (try \"2026-11-22 10:00\", \"10 min ago\", \"today\" or \"@EPOCH\")", s)
}
