package syscalls

// SecurityRow is one SystemCallFilter row of `systemd-analyze security`: the same 11 rows, weights and
// range in every release v245–v261.2 (src/analyze/analyze-security.c; data/systemd-groups/NOTES.md §2).
type SecurityRow struct {
	ID        string // "SystemCallFilter=~@swap"
	JSONField string // v250+: "SystemCallFilter_swap"
	Group     string // the group the row checks
	Weight    int
	Range     int
}

// SecurityRows returns the rows in systemd-analyze's order.
func SecurityRows() []SecurityRow {
	rows := []struct {
		group  string
		weight int
	}{
		{"@swap", 1000}, {"@obsolete", 250}, {"@clock", 1000}, {"@cpu-emulation", 250}, {"@debug", 1000},
		{"@mount", 1000}, {"@module", 1000}, {"@raw-io", 1000}, {"@reboot", 1000}, {"@privileged", 700},
		{"@resources", 700},
	}
	out := make([]SecurityRow, len(rows))
	for i, r := range rows {
		field := "SystemCallFilter_"
		for _, c := range r.group[1:] {
			if c == '-' {
				c = '_'
			}
			field += string(c)
		}
		out[i] = SecurityRow{ID: "SystemCallFilter=~" + r.group, JSONField: field, Group: r.group, Weight: r.weight, Range: 10}
	}
	return out
}

// AssessorWeightTotal is the sum of the weights of every `systemd-analyze security` assessor of a release
// (before N/A rows are subtracted): 55425 in v245, 56435 in v247–v254, 56460 from v255 (and Debian's
// 252.39, which backports CapabilityBoundingSet=~CAP_BPF).
func AssessorWeightTotal(v Version) int {
	switch {
	case v.Major < 247:
		return 55425
	case v.Major >= 255, v.Major == 252 && v.Point >= 38:
		return 56460
	default:
		return 56435
	}
}
