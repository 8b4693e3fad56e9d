package trial

import (
	"fmt"
	"sort"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/syscalls"
)

// TightenName is the drop-in a tightening goes to, beside why's zz-sysdiag.conf. The groups it denies are
// disjoint from what that one lets through (a call seen in the trial marks its groups as used), so the
// order of the two does not matter.
const TightenName = "zz-sysdiag-tighten.conf"

// Tighten is what a trial says can be denied: the groups behind a `systemd-analyze security` row that
// the filter left open, which the unit never touched while the trial watched them.
type Tighten struct {
	// Watched are the groups whose allowed calls the trial logged; Used the calls of them it saw.
	Watched   []string            `json:"watched"`
	Used      map[string][]string `json:"used"`
	Untouched []string            `json:"untouched"`
	Dropin    string              `json:"dropin,omitempty"`
	// DropinPath is where it goes: the unit's /etc or ~/.config drop-in directory (Subject.Home).
	DropinPath string            `json:"dropin_path,omitempty"`
	Exposure   fixes.Exposure    `json:"-"`
	Before     float64           `json:"exposure_before"`
	After      float64           `json:"exposure_after"`
	Rows       []fixes.RowChange `json:"rows"`
	Verified   bool              `json:"verified"`
	Checks     []string          `json:"verification"`
	Note       string            `json:"note"`
	Written    bool              `json:"written,omitempty"`
	Write      string            `json:"write_verified,omitempty"`
	Rounds     int               `json:"write_rounds,omitempty"`
	filter     *fixes.Filter
	after      *fixes.Filter // the filter it tightens (after the fix)
}

// Tightening decides it from the calls the trial saw (all of them: blocked, allowed and logged, or
// answered with an errno), on top of after — the unit's filter with the trial's fix, when there is one.
// Verified: libseccomp-built BPF of the tightened filter still lets every seen call through.
func Tightening(p Plan, after *fixes.Filter, seen []Call, host syscalls.Arch) *Tighten {
	if len(p.Loose) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, c := range seen {
		used[c.Syscall] = true
	}
	t := &Tighten{Used: map[string][]string{}, Rows: []fixes.RowChange{}, Checks: []string{}, after: after}
	for g, calls := range p.Loose {
		t.Watched = append(t.Watched, g)
		// Any seen call of the whole group marks it used: one the fix lets through too (swapon in
		// @privileged, which holds @swap).
		if grp, ok := after.Table.Group(g); ok {
			calls = grp.Expanded
		}
		for _, n := range calls {
			if used[n] {
				t.Used[g] = append(t.Used[g], n)
			}
		}
		if len(t.Used[g]) == 0 {
			t.Untouched = append(t.Untouched, g)
		}
	}
	sort.Strings(t.Watched)
	sort.Strings(t.Untouched)
	if len(t.Untouched) == 0 {
		return t
	}
	fx := after.Tighten(t.Untouched)
	t.Dropin, t.Exposure, t.Note = fx.DropIn, fx.Exposure, fx.Note
	t.Before, t.After = round2(fx.Exposure.Before), round2(fx.Exposure.After)
	if fx.Exposure.Rows != nil {
		t.Rows = fx.Exposure.Rows
	}
	t.filter = after.Tightened(t.Untouched)
	t.Verified = true
	for _, c := range seen {
		arch, err := syscalls.ParseArch(c.Arch)
		if err != nil {
			continue
		}
		vd, err := fixes.Verify(after, t.filter, arch, host, c.Number)
		if err != nil {
			t.Verified = false
			t.Checks = append(t.Checks, err.Error())
			break
		}
		if vd.Allows(vd.Before) && !vd.Allows(vd.After) {
			t.Verified = false
			t.Checks = append(t.Checks, fmt.Sprintf("%s (seen in the trial) would be blocked: %s", c.Syscall, vd.Detail))
		}
	}
	if t.Verified {
		t.Checks = append(t.Checks, fmt.Sprintf("BPF of the tightened filter still lets all %d call(s) seen in the trial through", len(seen)))
	}
	return t
}

// Filter is the tightened filter (nil when nothing can be tightened).
func (t *Tighten) Filter() *fixes.Filter { return t.filter }

func round2(x float64) float64 { return float64(int(x*100+0.5)) / 100 }
