package render

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/sysdiag/sysdiag/internal/check"
)

// Check writes `sysdiag check`'s answer: each program analysed (or why not), what was not analysed, the
// calls predicted blocked and by what, and the predicted fix.
func Check(w io.Writer, a *check.Answer) error {
	bw := &ErrWriter{W: w}
	fmt.Fprintf(bw, "check of %s — a prediction from its programs' code; nothing was run (systemd %s, table %s; filter: %s)\n",
		Clean(a.Unit), Clean(a.Systemd), Clean(a.Table), a.Filter)
	for _, p := range a.Programs {
		kind := "dynamic"
		switch {
		case p.Error != "":
			fmt.Fprintf(bw, "  %s: not analysed: %s\n", Clean(p.Path), Clean(p.Error))
			continue
		case p.RunBy != "":
			fmt.Fprintf(bw, "  %s: a script, run by %s (below); its own commands are not followed\n", Clean(p.Path), Clean(p.RunBy))
			continue
		case p.Go:
			kind = "Go"
		case p.Static:
			kind = "static"
		}
		left := ""
		if len(p.NotAnalysed) > 0 {
			left = fmt.Sprintf(" — incomplete: %d file(s) it loads not analysed", len(p.NotAnalysed))
		}
		fmt.Fprintf(bw, "  %s (%s, %d libraries, %.2f s): %d calls reachable%s\n", Clean(p.Path), kind, len(p.Libs), p.Seconds, len(p.Reached), left)
		for _, n := range p.Notes {
			fmt.Fprintf(bw, "    note: %s\n", Clean(n))
		}
	}
	if a.Incomplete {
		fmt.Fprintf(bw, "\nNot analysed — the prediction covers only the rest; their calls are not counted:\n")
		for _, n := range a.NotAnalysed {
			fmt.Fprintf(bw, "  %s (%s): %s", Clean(n.Path), n.What, Clean(n.Reason))
			if len(a.Programs) > 1 && n.What != "program" {
				fmt.Fprintf(bw, " [for %s]", Clean(strings.Join(n.Programs, ", ")))
			}
			fmt.Fprintln(bw)
		}
	}
	switch {
	case len(a.Blocked) == 0 && a.Incomplete:
		fmt.Fprintf(bw, "\nNo call found in what was analysed is blocked by the unit's filter; the prediction is incomplete.\n")
	case len(a.Blocked) == 0:
		fmt.Fprintf(bw, "\nNo call of these programs is blocked by the unit's filter.\n")
	default:
		fmt.Fprintf(bw, "\nWould be blocked:\n")
		tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CALL\tCONFIDENCE\tREACHED VIA\tBLOCKED BY")
		for _, b := range a.Blocked {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", b.Syscall, b.Confidence, Clean(checkVia(b)), Clean(checkBlockedBy(a, b)))
		}
		tw.Flush()
		if a.Incomplete {
			fmt.Fprintf(bw, "  (and maybe more: the prediction is incomplete)\n")
		}
	}
	if a.Fix != nil {
		written := map[bool]string{true: "written", false: "not written"}[a.Fix.Written]
		Fix(bw, FixOf("Predicted fix", a.Fix), Qualified("", "; a prediction: "+written),
			NextLine("better still, before relying on it: sysdiag trial "+Clean(a.Unit)))
	}
	for _, n := range a.Notes {
		fmt.Fprintf(bw, "note: %s\n", Clean(n))
	}
	return bw.Err
}

// checkBlockedBy names what blocks b: an implicit filter's directive and errno, else the line the
// diagnosis found, else SystemCallFilter=.
func checkBlockedBy(a *check.Answer, b check.Blocked) string {
	if b.Implicit != "" {
		by := fmt.Sprintf("%s= answers %s", b.Implicit, b.Errno)
		if b.Condition != "" {
			by += " (only for " + b.Condition + ")"
		}
		return by
	}
	by := ""
	for _, f := range a.Findings {
		if f.Syscall == b.Syscall {
			by = f.BlockedBy.Explain
		}
	}
	if by == "" {
		by = "SystemCallFilter="
	}
	return by
}

// checkVia is how b is reached: "PROGRAM: SYMBOL (LIBRARY)", "PROGRAM: own code", or "-".
func checkVia(b check.Blocked) string {
	if len(b.Via) == 0 {
		return "-"
	}
	v := b.Via[0]
	s := "own code"
	if v.Symbol != "" {
		s = v.Symbol
		if v.Lib != "" {
			s += " (" + filepath.Base(v.Lib) + ")"
		}
	}
	if len(b.Programs) > 0 {
		s = filepath.Base(b.Programs[0]) + ": " + s
	}
	return s
}
