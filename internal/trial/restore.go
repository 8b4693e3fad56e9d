package trial

import (
	"fmt"
	"slices"
	"strings"
)

// A trial restarts the unit, and a start pulls in more than the unit: its sockets, paths and timers
// (which can start it again later, under its real filter), and the units its Wants=/Requires=/BindsTo=
// name. Before the trial the state of each is recorded (a Snapshot, kept in the trial's drop-in for
// --abort after a crash); the restore puts each back and compares the whole state after with the state
// before, naming anything that differs instead of claiming "as before".

// Role says why a unit is in a snapshot.
type Role string

const (
	RoleUnit    Role = "unit"    // the unit under trial
	RoleTrigger Role = "trigger" // a socket, path or timer that can start it (TriggeredBy=)
	RolePulled  Role = "pulled"  // a unit its start pulls in (Wants=, Requires=, BindsTo=, Requisite=, Upholds=)
)

// UnitState is one unit's state as the manager says it.
type UnitState struct {
	Name   string
	Role   Role
	Active string // ActiveState: active, inactive, failed, activating, deactivating, reloading
}

// Snapshot is the unit (first) and its neighbours, before or after a trial.
type Snapshot []UnitState

// Running says a unit in ActiveState state is (or is becoming) active.
func Running(state string) bool {
	return state == "active" || state == "activating" || state == "reloading"
}

// Unit is the unit's own state ("" when the snapshot is empty).
func (s Snapshot) Unit() string {
	if len(s) == 0 {
		return ""
	}
	return s[0].Active
}

// Of is the state of name in s ("" when absent).
func (s Snapshot) Of(name string) string {
	for _, u := range s {
		if u.Name == name {
			return u.Active
		}
	}
	return ""
}

// Encode writes s as the drop-in's state line: "active; x.socket=inactive(trigger) y.service=active(pulled)".
// Unit names have no spaces, "=", "(" or ";" (unitfile.Name).
func (s Snapshot) Encode() string {
	if len(s) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(s[0].Active)
	if len(s) > 1 {
		b.WriteString(";")
		for _, u := range s[1:] {
			fmt.Fprintf(&b, " %s=%s(%s)", u.Name, u.Active, u.Role)
		}
	}
	return b.String()
}

// DecodeSnapshot reads Encode's line back for unit; a line of earlier releases ("active") gives the
// unit alone.
func DecodeSnapshot(unit, line string) Snapshot {
	own, rest, _ := strings.Cut(line, ";")
	s := Snapshot{{Name: unit, Role: RoleUnit, Active: strings.TrimSpace(own)}}
	for _, f := range strings.Fields(rest) {
		name, st, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			continue
		}
		active, role, _ := strings.Cut(strings.TrimSuffix(st, ")"), "(")
		s = append(s, UnitState{Name: name, Role: Role(role), Active: active})
	}
	return s
}

// Step is one thing the restore asks of the manager, in order.
type Step struct {
	Op   string // "stop", "restart", "reset-failed"
	Unit string
	Why  string
}

// RestoreSteps puts before back, given now (the state just after the trial's drop-in is gone): the
// triggers that were not running are stopped first (a socket left listening would start the unit again
// under its real filter), then the unit is restarted (it was running) or stopped, then what its start
// pulled in that was not running is stopped. The unit, or a neighbour, that was inactive before and is
// failed after is reset (reset-failed): the trial's run is what failed.
func RestoreSteps(before, now Snapshot) []Step {
	if len(before) == 0 {
		return nil
	}
	var steps []Step
	for _, u := range before[1:] {
		if u.Role == RoleTrigger && !Running(u.Active) && Running(now.Of(u.Name)) {
			steps = append(steps, Step{"stop", u.Name, "it was " + u.Active + " before the trial and would start the unit again"})
		}
	}
	unit := before[0]
	if Running(unit.Active) {
		steps = append(steps, Step{"restart", unit.Name, "it was " + unit.Active + " before the trial"})
	} else {
		steps = append(steps, Step{"stop", unit.Name, "it was " + unit.Active + " before the trial"})
	}
	for _, u := range before[1:] {
		if u.Role == RolePulled && !Running(u.Active) && Running(now.Of(u.Name)) {
			steps = append(steps, Step{"stop", u.Name, "the trial's start pulled it in; it was " + u.Active + " before"})
		}
	}
	return steps
}

// ResetSteps are the reset-failed steps for after: a unit inactive before the trial and failed now.
func ResetSteps(before, after Snapshot) []Step {
	var steps []Step
	for _, u := range before {
		if u.Active == "inactive" && after.Of(u.Name) == "failed" {
			steps = append(steps, Step{"reset-failed", u.Name, "it was inactive before the trial"})
		}
	}
	return steps
}

// Differences names each unit whose state after the restore is not its state before. A unit that was
// failed before cannot be put back into failed: it is said plainly.
func Differences(before, after Snapshot) []string {
	var out []string
	for _, u := range before {
		a := after.Of(u.Name)
		switch {
		case a == u.Active:
		case a == "" && u.Active != "":
			out = append(out, fmt.Sprintf("%s: %s before the trial, its state now unknown (the manager did not say)", u.Name, u.Active))
		case u.Active == "failed" && !Running(a):
			out = append(out, fmt.Sprintf("%s was failed before the trial and is %s now (a failed state cannot be put back)", u.Name, a))
		case Running(u.Active) && Running(a):
			// activating/reloading vs active: the same running state
		default:
			out = append(out, fmt.Sprintf("%s: %s before the trial, %s now", u.Name, u.Active, a))
		}
	}
	return out
}

// Related lists a unit's neighbours for a snapshot from its dependency properties, each unit once
// (a trigger that is also required stays a trigger), the unit itself and slices/targets that are always
// up left out. props maps a property name (TriggeredBy, Requires, …) to its units.
func Related(unit string, props map[string][]string) []UnitState {
	var out []UnitState
	seen := map[string]bool{unit: true}
	add := func(names []string, role Role) {
		names = slices.Clone(names)
		slices.Sort(names)
		for _, n := range names {
			if seen[n] || n == "" || strings.HasSuffix(n, ".slice") || n == "sysinit.target" || n == "basic.target" {
				continue
			}
			seen[n] = true
			out = append(out, UnitState{Name: n, Role: role})
		}
	}
	add(props["TriggeredBy"], RoleTrigger)
	for _, p := range PulledProps {
		add(props[p], RolePulled)
	}
	return out
}

// PulledProps are the dependency properties whose units a start of the unit pulls in (or needs).
var PulledProps = []string{"Requires", "Requisite", "Wants", "BindsTo", "Upholds"}
