package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/diagnose"
)

// Postmortem prints the post-mortem of window win: the count, a table of the units killed (host, kills,
// calls, smallest group, fix), whose groups each host's are, each unit's fix, the units possibly denied
// silently, and the kills tied to no unit.
func Postmortem(w io.Writer, pm *diagnose.Postmortem, win audit.Window) error {
	bw := &ErrWriter{W: w}
	n := pm.KilledUnits()
	fmt.Fprintf(bw, "%d unit(s) killed by their seccomp filter%s; %d possibly denied silently; %d kill(s) not tied to a unit\n\n",
		n, WindowText(win), len(pm.Silent), pm.UnattributedTotal)
	if n > 0 {
		tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tUNIT\tKILLS\tCALLS\tSMALLEST GROUP\tFIX")
		for _, h := range pm.Hosts {
			host := HostText(h)
			for _, u := range h.Units {
				var calls, groups []string
				for _, c := range u.Calls {
					s := c.Syscall
					if c.Number < 0 { // known only from a coredump: no record names the call
						s = diagnose.UnknownCall
					}
					if c.Count > 1 {
						s += fmt.Sprintf("×%d", c.Count)
					}
					calls = append(calls, s)
				}
				for _, f := range u.Violations {
					if len(f.Groups) > 0 {
						groups = append(groups, f.Groups[0])
					}
				}
				fix := "-"
				if u.Fix != nil {
					fix = strings.TrimPrefix(strings.TrimSpace(LastLine(u.Fix.Dropin)), "# ")
				}
				name := u.Unit
				if u.User {
					name += " (user)"
				}
				kills := strconv.Itoa(u.Kills)
				if u.NRestarts != nil && *u.NRestarts > 0 {
					kills += fmt.Sprintf(" (%d restarts)", *u.NRestarts)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", Clean(host), Clean(name), kills, strings.Join(calls, " "), FirstOr(groups, "-"), Clean(fix))
			}
		}
		tw.Flush()
		if len(pm.Hosts) > 1 || pm.Hosts[0].Host != "" || pm.Hosts[0].MachineID != "" {
			fmt.Fprintln(bw)
			for _, h := range pm.Hosts { // each host's groups are its own systemd's: say whose
				fmt.Fprintf(bw, "%s: groups of %s\n", Clean(HostText(h)), Clean(h.Units[0].TableNote))
			}
		}
		for _, h := range pm.Hosts {
			for _, u := range h.Units {
				if u.Fix == nil {
					continue
				}
				name := Clean(u.Unit)
				if h.Host != "" || h.MachineID != "" {
					name = Clean(HostText(h)) + " " + name
				}
				Fix(bw, FixOf(name, u.Fix))
				for _, n := range u.Notes {
					fmt.Fprintf(bw, "  note: %s\n", Clean(n))
				}
			}
		}
	}
	if len(pm.Silent) > 0 {
		fmt.Fprintf(bw, "\nPossibly denied silently:\n")
		for _, s := range pm.Silent {
			fmt.Fprintf(bw, "  %s\n", Clean(s.Explain))
		}
	}
	if pm.UnattributedTotal > 0 {
		postmortemUntied(bw, pm)
	}
	return bw.Err
}

// PostmortemUntiedShown is how many groups of untied kills the text lists (--json lists them all).
const PostmortemUntiedShown = 20

// postmortemUntied prints the kills tied to no unit: counted by host, program and call, then the
// earliest one by one.
func postmortemUntied(bw io.Writer, pm *diagnose.Postmortem) {
	fmt.Fprintf(bw, "\nNot tied to a unit, by program and call:\n")
	tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KILLS\tHOST\tPROGRAM\tCALL\tFIRST\tLAST")
	gs, rest, more := pm.UnattributedGroups, 0, 0
	var other *diagnose.UntiedGroup
	if n := len(gs); n > 0 && gs[n-1].Other {
		gs, other = gs[:n-1], &gs[n-1]
	}
	if len(gs) > PostmortemUntiedShown+1 {
		for _, g := range gs[PostmortemUntiedShown:] {
			rest += g.Count
		}
		gs, more = gs[:PostmortemUntiedShown], len(gs)-PostmortemUntiedShown
	}
	for _, g := range gs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", g.Count, Clean(HostText(diagnose.HostReport{Host: g.Host, MachineID: g.MachineID})),
			Clean(ExeOr(g.Exe)), postmortemCall(g.Syscall, g.Arch, g.Number), g.First, g.Last)
	}
	tw.Flush()
	if more > 0 {
		fmt.Fprintf(bw, "  and %d kill(s) in %d more groups (--json lists them)\n", rest, more)
	}
	if other != nil {
		fmt.Fprintf(bw, "  and %d kill(s) of other programs and calls, past %d groups, from %s to %s\n", other.Count, len(pm.UnattributedGroups)-1, other.First, other.Last)
	}
	if len(pm.Unattributed) < pm.UnattributedTotal {
		fmt.Fprintf(bw, "\n%d kill(s) not tied to a unit (showing %d):\n", pm.UnattributedTotal, len(pm.Unattributed))
	} else {
		fmt.Fprintf(bw, "\n%d kill(s) not tied to a unit:\n", pm.UnattributedTotal)
	}
	for _, v := range pm.Unattributed {
		fmt.Fprintf(bw, "  %s  pid %d  %s  %s  %s\n", v.Time, v.PID, Clean(v.Exe), postmortemCall(v.Syscall, v.Arch, v.Number), v.Action)
	}
}

// postmortemCall names a call for a table: "ptrace (x86_64 101)", or diagnose.UnknownCall when no
// record named it.
func postmortemCall(name, arch string, nr int) string {
	if nr < 0 {
		return diagnose.UnknownCall
	}
	return fmt.Sprintf("%s (%s %d)", name, arch, nr)
}
