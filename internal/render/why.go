package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
)

// Why prints why's answer: the diagnosis, the filter and its table, each violation (the call, who made
// it, how it was tied to the unit, its groups and the line that blocked it), the notes, and the fix with
// its alternatives. tty: emphasis in bold.
func Why(w io.Writer, r *diagnose.Result, tty bool) error {
	bw := &ErrWriter{W: w}
	bold := func(s string) string {
		if tty {
			return "\x1b[1m" + s + "\x1b[0m"
		}
		return s
	}
	fmt.Fprintf(bw, "%s\n", bold(Clean(r.Diagnosis)))
	fmt.Fprintf(bw, "  filter:  %s (systemd %s, table v%s)", r.Filter.Mode, r.SystemdVersion, r.Table)
	if len(r.Invocations) > 0 {
		fmt.Fprintf(bw, "; invocation %s", r.Invocations[len(r.Invocations)-1])
	}
	fmt.Fprintln(bw)
	if r.TableNote != "" {
		fmt.Fprintf(bw, "  groups:  %s\n", Clean(r.TableNote))
	}
	for _, v := range r.Violations {
		fmt.Fprintln(bw)
		switch {
		case v.Number < 0: // known only from a coredump: no record names the call
			fmt.Fprintf(bw, "  %s\n    time:       %s\n", bold(diagnose.UnknownCall), v.Time)
		case v.Syscall == "":
			fmt.Fprintf(bw, "  %s: unknown syscall — %s\n", bold("?"), v.BlockedBy.Explain)
			continue
		default:
			fmt.Fprintf(bw, "  %s (%s syscall %d", bold(v.Syscall), v.Arch, v.Number)
			if v.Compat != 0 {
				fmt.Fprint(bw, ", compat")
			}
			fmt.Fprintf(bw, ") at %s\n", v.Time)
		}
		who := fmt.Sprintf("%s [pid %d]", Clean(v.Exe), v.PID)
		if v.Function != "" {
			who = "called from " + Clean(v.Function) + " in " + who
		}
		fmt.Fprintf(bw, "    by:         %s\n", who)
		if a := v.AttributedBy; a != nil && a.Method != "" && a.Method != evidence.ByCoredump {
			fmt.Fprintf(bw, "    unit found: %s (%s)\n", Clean(a.Detail), a.Method)
		}
		if len(v.Groups) > 0 {
			fmt.Fprintf(bw, "    groups:     %s\n", strings.Join(v.Groups, " · "))
		}
		fmt.Fprintf(bw, "    blocked by: %s\n", Clean(v.BlockedBy.Explain))
		fmt.Fprintf(bw, "    action:     %s; seen in %s\n", v.Action, strings.Join(v.Sources, ", "))
	}
	for _, n := range append(r.Filter.Warnings, r.Notes...) {
		fmt.Fprintf(bw, "  note: %s\n", Clean(n))
	}
	if r.Fix != nil {
		Fix(bw, FixOf(bold("Fix"), r.Fix), VerifiedAs("verified against a libseccomp-built filter"), PathBelow(""),
			OrHint(fmt.Sprintf("   (or: sysdiag why %s%s --write)", r.Unit, diagnose.UserFlag(r.User))), ShowCosts(bold))
	}
	return bw.Err
}
