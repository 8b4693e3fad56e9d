package fixes

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// LooseRows are the groups behind the `systemd-analyze security` rows SystemCallFilter=~@… that the
// filter leaves unset (the row's badness is not 0), each with the calls of it the filter still allows:
// what a trial can watch to say which of them the unit never uses.
func (f *Filter) LooseRows() map[string][]string {
	out := map[string][]string{}
	for _, r := range syscalls.SecurityRows() {
		if rowBadness(f, r.Group) == 0 {
			continue
		}
		g, ok := f.Table.Group(r.Group)
		if !ok {
			continue
		}
		var allowed []string
		for _, n := range g.Expanded {
			if syscalls.IsSyscall(n) && f.Allowed(n) {
				allowed = append(allowed, n)
			}
		}
		if len(allowed) > 0 {
			out[r.Group] = allowed
		}
	}
	return out
}

// Tighten is the drop-in that denies whole groups the filter still allows (SystemCallFilter=~@g …):
// in both modes a "~" line after the others takes the groups' calls out (an allow list loses them, a
// deny list gains them); ModeNone becomes a deny list. Exposure says what it buys in
// `systemd-analyze security` terms; NewlyAllowed is empty and Deny lists the groups.
func (f *Filter) Tighten(groups []string) Fix {
	gs := append([]string(nil), groups...)
	sort.Strings(gs)
	fx := Fix{Label: "tighten " + strings.Join(gs, " "), Deny: gs}
	after := f.With(Assignment{Directive: "SystemCallFilter", Value: "~" + strings.Join(gs, " ")})
	var b strings.Builder
	b.WriteString("# written by sysdiag: deny the groups the unit did not use during a trial (safe for what the trial exercised)\n[Service]\n")
	fmt.Fprintf(&b, "SystemCallFilter=~%s\n", strings.Join(gs, " "))
	fx.DropIn = b.String()
	fx.Exposure = exposureDelta(f, after)
	fx.Note = "safe for what the trial exercised: a path it did not take may need one of these calls"
	return fx
}

// Tightened is the filter with the tightening applied.
func (f *Filter) Tightened(groups []string) *Filter {
	return f.With(Assignment{Directive: "SystemCallFilter", Value: "~" + strings.Join(groups, " ")})
}
