package diagnose

import "testing"

func TestPostmortemFound(t *testing.T) {
	for _, c := range []struct {
		name  string
		pm    Postmortem
		units int
		found bool
	}{
		{"nothing", Postmortem{}, 0, false},
		{"units of two hosts", Postmortem{Hosts: []HostReport{{Units: make([]UnitReport, 2)}, {Host: "b", Units: make([]UnitReport, 1)}}}, 3, true},
		{"a kill tied to no unit", Postmortem{UnattributedTotal: 1}, 0, true},
		{"a unit possibly denied silently", Postmortem{Silent: []Silent{{Unit: "a.service"}}}, 0, true},
	} {
		if n := c.pm.KilledUnits(); n != c.units {
			t.Errorf("%s: KilledUnits %d, want %d", c.name, n, c.units)
		}
		if f := c.pm.Found(); f != c.found {
			t.Errorf("%s: Found %v, want %v", c.name, f, c.found)
		}
	}
}
