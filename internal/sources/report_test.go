package sources

import (
	"strings"
	"testing"
)

// §2.13: a source that fails after giving records counts as read, and makes the answer incomplete.
func TestReadOfPartialSource(t *testing.T) {
	reps := []Report{
		{Name: "audit.log", Path: "/var/log/audit/audit.log", Records: 424000, Error: "the file shrank while it was read", Partial: true},
		{Name: "kmsg", Path: "/dev/kmsg", Error: "permission denied"},
	}
	r := ReadOf(reps)
	if !r.Any {
		t.Error("a partial source counts as read")
	}
	if len(r.Paths) != 0 {
		t.Errorf("read in whole: %v, want none", r.Paths)
	}
	err := r.Incomplete()
	if err == nil || !strings.Contains(err.Error(), "/var/log/audit/audit.log: the file shrank while it was read") {
		t.Errorf("Incomplete: %v", err)
	}
	if ReadOf(reps[1:]).Any {
		t.Error("a source that failed with no records counts as read")
	}
	if err := ReadOf(nil).Incomplete(); err != nil {
		t.Errorf("no partial source: %v", err)
	}
}

func TestReadOfPathsSortedOnce(t *testing.T) {
	r := ReadOf([]Report{{Path: "b"}, {Path: "a"}, {Path: "b"}, {Path: "c", Error: "not found"}})
	if strings.Join(r.Paths, ",") != "a,b" {
		t.Errorf("paths %v, want a,b", r.Paths)
	}
}

// A default source missing on this host (no auditd) is said only when nothing was found; a source the
// user named, or another error, always.
func TestUnreadable(t *testing.T) {
	for _, c := range []struct {
		r     Report
		found int
		want  bool
	}{
		{Report{Error: "not found", Default: true}, 1, false},
		{Report{Error: "not found", Default: true}, 0, true},
		{Report{Error: "permission denied", Default: true}, 1, true},
		{Report{Error: "not found"}, 1, true},
		{Report{Error: "truncated", Partial: true}, 0, false},
		{Report{}, 0, false},
	} {
		if got := c.r.Unreadable(c.found); got != c.want {
			t.Errorf("%+v found %d: %v, want %v", c.r, c.found, got, c.want)
		}
	}
}
