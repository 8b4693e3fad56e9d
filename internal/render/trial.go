package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sysdiag/sysdiag/internal/trial"
)

// Trial prints a trial's answer: its length and what it saw, a table of the calls the filter (or an
// implicit filter) would have blocked, the one fix for all of them, what can be tightened, what the trial
// could not see, its notes, and how the unit was restored.
func Trial(w io.Writer, a *trial.Answer) error {
	bw := &ErrWriter{W: w}
	fmt.Fprintf(bw, "trial of %s: %.1f s, %d records, %d call(s) the filter would have blocked\n", Clean(a.Unit), a.Seconds, a.Records, len(a.Findings)+len(a.Implicit))
	if len(a.Findings)+len(a.Implicit) > 0 {
		tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CALL\tARCH\tCOUNT\tFIRST BY\tGROUP\tBLOCKED BY")
		for _, f := range a.Findings {
			n, exe := trialSeen(a, f.Syscall, f.Arch)
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", f.Syscall, f.Arch, n, Clean(exe), FirstOr(f.Groups, "-"), Clean(f.BlockedBy.Explain))
		}
		for _, h := range a.Implicit {
			n, exe := trialSeen(a, h.Syscall, h.Arch)
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", h.Syscall, h.Arch, n, Clean(exe), "-", Clean(fmt.Sprintf("%s= (%s) answers %s", h.Directive, h.Where, h.Errno)))
		}
		tw.Flush()
	}
	if a.Fix != nil {
		var next string
		if a.Verified != "" {
			next = "--write: " + Clean(a.Verified)
		}
		fv := FixOf("One fix for all of them", a.Fix)
		fv.Written = false // what --write did is its own line
		Fix(bw, fv, OrHint(" (or sysdiag trial --write)"), NextLine(next))
	}
	if tg := a.Tighten; tg != nil {
		trialTighten(bw, a.Unit, tg)
	}
	if len(a.Unseen) > 0 {
		fmt.Fprintf(bw, "\nNot seen by this trial (enforced, answering with an errno and no record):\n")
		for _, im := range a.Unseen {
			fmt.Fprintf(bw, "  %s\n", Clean(im.Summary()))
		}
	}
	for _, n := range a.Notes {
		fmt.Fprintf(bw, "note: %s\n", Clean(n))
	}
	fmt.Fprintf(bw, "restored: %s\n", Clean(a.Restored))
	return bw.Err
}

// trialSeen is how often the trial saw call on arch, and the first program (and pid) that made it.
func trialSeen(a *trial.Answer, call, arch string) (int, string) {
	n, exe := 0, ""
	for _, c := range a.Calls {
		if c.Syscall == call && c.Arch == arch {
			n += c.Count
			if exe == "" {
				exe = fmt.Sprintf("%s (pid %d)", c.Exe, c.FirstPID)
			}
		}
	}
	return n, exe
}

// trialTighten prints what the trial says can be tightened: the groups never touched, as a drop-in,
// or that there is nothing to tighten.
func trialTighten(w io.Writer, unit string, tg *trial.Tighten) {
	var used []string
	for _, g := range tg.Watched {
		if len(tg.Used[g]) > 0 {
			used = append(used, g+" ("+strings.Join(tg.Used[g], " ")+")")
		}
	}
	if len(tg.Untouched) == 0 {
		fmt.Fprintf(w, "\nNothing to tighten: the unit used a call of every group its filter leaves open (%s)\n", strings.Join(used, ", "))
		return
	}
	lead := []string{fmt.Sprintf("exposure of the SystemCallFilter rows: %.1f -> %.1f", tg.Before, tg.After)}
	if len(used) > 0 {
		lead = append(lead, "used, so left open: "+strings.Join(used, ", "))
	}
	next := "never written unless asked: sysdiag trial --write-tighten " + Clean(unit)
	if tg.Write != "" {
		next = "--write-tighten: " + Clean(tg.Write)
	}
	Fix(w, FixView{Title: "Can be tightened", Verified: tg.Verified, Path: tg.DropinPath, Dropin: tg.Dropin},
		Qualified("safe for what the trial exercised; ", ""), About("never touched "+strings.Join(tg.Untouched, " "), lead...),
		PathBelow(":"), NextLine(next))
}
