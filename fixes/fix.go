package fixes

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Blocked is one blocked call the fix must let through.
type Blocked struct {
	Name string
	Arch syscalls.Arch
	Nr   int
}

// Fix is a relaxation of a unit's filter, as a drop-in.
type Fix struct {
	Label         string   // "minimal", "group @network-io", "errno EPERM"
	Allow         []string // what SystemCallFilter= gains (names or @groups), "" when none
	Deny          []string // for an errno variant: "~name:EPERM"
	Architectures []string // what SystemCallArchitectures= gains
	DropIn        string   // the exact file content
	NewlyAllowed  []string // syscalls the unit could not make before and can after (native ABI)
	Exposure      Exposure
	Note          string
	// ErrorNumber, when set, is the SystemCallErrorNumber= the fix sets (every denied call then fails
	// with it instead of killing).
	ErrorNumber string
	// Unnameable are blocked calls the target's systemd cannot name (its libseccomp does not know them):
	// no SystemCallFilter= line lets them through, systemd ignores it ("Failed to parse system call").
	Unnameable []string
}

// Exposure is what a fix costs in `systemd-analyze security` terms, for the SystemCallFilter rows.
type Exposure struct {
	Rows       []RowChange // rows whose badness changes
	Before     float64     // this unit's SystemCallFilter rows' share of the overall exposure (0–10 scale)
	After      float64
	Delta      float64
	WeightBase int // the weight total the share is computed against (all assessors of that version)
}

// RowChange is one `systemd-analyze security` row the fix turns worse (or better).
type RowChange struct {
	ID            string `json:"id"`
	Before, After int    // badness 0–10
}

// Keep is what an earlier sysdiag drop-in allowed: SystemCallFilter= names and SystemCallArchitectures=.
type Keep struct{ Allow, Architectures []string }

// Propose returns the minimal fix for the blocked calls — the fewest syscalls newly allowed — and its
// alternatives: the smallest group containing each name, and (where the calls can fail instead of
// killing) an errno variant. host is the recording machine's native ABI. keep is what an earlier drop-in
// of sysdiag's already allows: the new drop-in replaces that file, so it carries those on.
func Propose(f *Filter, blocked []Blocked, host syscalls.Arch, errnoAlt int, keep Keep) (Fix, []Fix) {
	var names, arches, unnameable []string
	seen := map[string]bool{}
	for _, b := range blocked {
		d := f.Decide(b.Name, b.Arch, host)
		switch d.Cause {
		case CauseArchitecture:
			if a := SystemdArchName(b.Arch); !seen["arch:"+a] {
				seen["arch:"+a] = true
				arches = append(arches, a)
			}
		case CauseNotBlocked, CauseNoFilter:
		default:
			if !seen[b.Name] && b.Name != "" {
				seen[b.Name] = true
				if f.Nameable(b.Name) {
					names = append(names, b.Name)
				} else {
					unnameable = append(unnameable, b.Name)
				}
			}
		}
	}
	withKeep := func(keep, add []string) []string {
		var out []string
		for _, k := range keep {
			if !slices.Contains(add, k) {
				out = append(out, k)
			}
		}
		return append(out, add...)
	}
	arches = withKeep(keep.Architectures, arches)
	minimal := f.relax("minimal", withKeep(keep.Allow, names), arches)
	var alts []Fix
	// The smallest group for each name (not @default, not @known: those are not relaxations one picks).
	var groups []string
	for _, n := range names {
		for _, m := range f.Table.GroupsOf(n) {
			if m.Group != "@known" && m.Group != "@default" {
				if !seen[m.Group] {
					seen[m.Group] = true
					groups = append(groups, m.Group)
				}
				break
			}
		}
	}
	if len(groups) > 0 {
		g := f.relax("group "+strings.Join(groups, " "), withKeep(keep.Allow, groups), arches)
		if len(g.NewlyAllowed) > len(minimal.NewlyAllowed) {
			alts = append(alts, g)
		}
	}
	if len(names) > 0 && f.Mode != ModeNone && errnoAlt > 0 {
		alts = append(alts, f.errnoVariant(names, errnoAlt))
	}
	if len(unnameable) > 0 {
		minimal.Unnameable = unnameable
		minimal.Note = fmt.Sprintf("systemd here cannot name %s: its libseccomp does not know the call, so it ignores SystemCallFilter=%s (\"Failed to parse system call, ignoring\"); "+
			"what lets it through instead: SystemCallErrorNumber=ENOSYS (every call the filter denies then fails with ENOSYS, which libc answers with a fallback, instead of killing — and is no longer logged), "+
			"a libseccomp that knows the call, or systemd ≥ 255, which answers calls newer than its @known with ENOSYS by itself",
			strings.Join(unnameable, ", "), unnameable[0])
		if f.Mode == ModeAllow {
			alts = append(alts, f.errnoAll("ENOSYS"))
		}
	}
	return minimal, alts
}

// errnoAll turns the filter's kill into an errno for every call it denies: the one way through for a
// call systemd cannot name.
func (f *Filter) errnoAll(name string) Fix {
	fx := Fix{Label: "errno " + name + " for every denied call", ErrorNumber: name,
		Note: "every call the filter denies fails with " + name + " instead of killing the unit, and is no longer logged"}
	fx.DropIn = "# written by sysdiag: make the calls the filter denies fail with " + name + " instead of killing\n[Service]\nSystemCallErrorNumber=" + name + "\n"
	fx.Exposure = exposureDelta(f, f)
	return fx
}

// relax builds the drop-in that adds allow (names or groups) and arches, and what it costs.
func (f *Filter) relax(label string, allow, arches []string) Fix {
	fx := Fix{Label: label, Allow: allow, Architectures: arches}
	var b strings.Builder
	b.WriteString("# written by sysdiag: let the calls the filter blocked through\n[Service]\n")
	if len(allow) > 0 {
		// In both modes a non-inverted line relaxes: an allow list gains the names, a deny list loses them.
		fmt.Fprintf(&b, "SystemCallFilter=%s\n", strings.Join(allow, " "))
	}
	if len(arches) > 0 {
		fmt.Fprintf(&b, "SystemCallArchitectures=%s\n", strings.Join(arches, " "))
	}
	fx.DropIn = b.String()
	after := f.With(Assignment{Directive: "SystemCallFilter", Value: strings.Join(allow, " ")})
	if len(allow) == 0 {
		after = f
	}
	fx.NewlyAllowed = f.newlyAllowed(after)
	fx.Exposure = exposureDelta(f, after)
	return fx
}

// errnoVariant makes the calls fail with errno instead of killing: for code that copes with a failing
// call (a probe, an optional feature), this keeps the filter as tight as it is.
func (f *Filter) errnoVariant(names []string, errno int) Fix {
	deny := make([]string, len(names))
	for i, n := range names {
		deny[i] = n + ":" + ErrnoName(errno)
	}
	fx := Fix{Label: "errno " + ErrnoName(errno), Deny: deny,
		Note: "only if the program copes with the call failing: the calls fail with " + ErrnoName(errno) + " instead of killing, and nothing is logged"}
	var b strings.Builder
	b.WriteString("# written by sysdiag: make the blocked calls fail instead of killing the unit\n[Service]\n")
	if f.Mode == ModeAllow && f.Table.Version().Major < 249 {
		fx.Note = "systemd before v249 ignores ~name:ERRNO after an allow list: use SystemCallErrorNumber= instead"
		fmt.Fprintf(&b, "SystemCallErrorNumber=%s\n", ErrnoName(errno))
	} else {
		fmt.Fprintf(&b, "SystemCallFilter=~%s\n", strings.Join(deny, " "))
	}
	fx.DropIn = b.String()
	fx.Exposure = exposureDelta(f, f)
	return fx
}

// With returns a copy of the filter with one more assignment applied (a drop-in after the others).
func (f *Filter) With(a Assignment) *Filter {
	c := *f
	c.entries = make(map[string]entry, len(f.entries))
	for k, v := range f.entries {
		c.entries[k] = v
	}
	c.removed = make(map[string]Origin, len(f.removed))
	for k, v := range f.removed {
		c.removed[k] = v
	}
	c.Warnings = nil
	switch val := strings.TrimSpace(a.Value); a.Directive {
	case "SystemCallFilter":
		known := Known(syscalls.IsSyscall)
		if f.nameable != nil {
			known = f.nameable // a name the target cannot resolve is ignored there too
		}
		c.parseFilter(&a, val, known, f.Table.Version())
	case "SystemCallErrorNumber":
		if n, ok := ParseErrno(val); ok && n > 0 && n <= 4095 {
			c.ErrorNumber, c.ErrorNumberLine = n, &a
		}
	case "SystemCallArchitectures":
		c.Architectures = append(append([]string(nil), f.Architectures...), strings.Fields(val)...)
		c.ArchLines = append(append([]*Assignment(nil), f.ArchLines...), &a)
		if val == "" {
			c.Architectures, c.ArchLines = nil, nil
		}
	}
	return &c
}

// newlyAllowed lists the syscalls (native x86_64 table names known to the version) after allows that f did not.
func (f *Filter) newlyAllowed(after *Filter) []string {
	var out []string
	names := syscalls.AllNames() // v245 has no @known
	if known, ok := f.Table.Group("@known"); ok {
		names = known.Expanded
	}
	for _, n := range names {
		if !f.Allowed(n) && after.Allowed(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// SecurityRowSet reports whether `systemd-analyze security` shows group's SystemCallFilter row as set
// (badness 0: the filter denies the whole group), the way its own parser and loader see the unit.
func (f *Filter) SecurityRowSet(group string) bool { return rowBadness(f, group) == 0 }

// rowBadness is analyze-security.c's assess_system_call_filter() for one group's row.
func rowBadness(f *Filter, group string) int {
	g, ok := f.Table.Group(group)
	if !ok {
		return 0
	}
	switch f.Mode {
	case ModeNone:
		return 10
	case ModeAllow:
		for _, n := range g.Expanded {
			if e, in := f.entries[n]; in && e.errno == errnoNone {
				return 9
			}
		}
		return 0
	default:
		if len(f.entries) == 0 {
			return 10
		}
		for _, n := range g.Expanded {
			if _, in := f.entries[n]; !in {
				return 10
			}
		}
		if f.Table.Version().Major < 247 {
			return 5
		}
		return 0
	}
}

// exposureDelta compares the SystemCallFilter rows of two filters, in systemd-analyze's arithmetic:
// each row adds ceil(badness*weight/range) to the badness sum, and the overall exposure is
// ceil(badness_sum*100/weight_sum) on a 0–100 scale (shown /10). Rows of other settings are not counted:
// Before/After are the share of these rows, against all assessors' weight of the version.
func exposureDelta(before, after *Filter) Exposure {
	e := Exposure{WeightBase: syscalls.AssessorWeightTotal(before.Table.Version())}
	var sb, sa int
	for _, r := range syscalls.SecurityRows() {
		b, a := rowBadness(before, r.Group), rowBadness(after, r.Group)
		sb += int(math.Ceil(float64(b*r.Weight) / float64(r.Range)))
		sa += int(math.Ceil(float64(a*r.Weight) / float64(r.Range)))
		if a != b {
			e.Rows = append(e.Rows, RowChange{ID: r.ID, Before: b, After: a})
		}
	}
	e.Before = float64(sb*100) / float64(e.WeightBase) / 10
	e.After = float64(sa*100) / float64(e.WeightBase) / 10
	e.Delta = e.After - e.Before
	return e
}
