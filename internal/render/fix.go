// Package render is the human text of sysdiag's answers: pure functions from the answer (internal/
// diagnose's and the fronts' data) to a writer, and the JSON encoders every command uses. Every string that
// came from a log or a unit file goes through Clean before it reaches a terminal.
package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/safetext"
)

// Clean makes text from logs safe for a terminal.
func Clean(s string) string { return safetext.Clean(s) }

// FixView is a proposed drop-in as the text output shows it: why's and postmortem's fix, check's
// predicted one, trial's fix and what it can tighten.
type FixView struct {
	Title        string         // the header's first words: "Fix", "One fix for all of them", a unit
	Verified     bool           // against a libseccomp-built filter
	Path         string         // the drop-in's path
	Dropin       string         // its content
	Commands     []string       // what applies it: systemctl daemon-reload && systemctl restart …
	Written      bool           // --write wrote it
	Alt          diagnose.Alt   // what it allows: calls, and the systemd-analyze security rows it changes
	Alternatives []diagnose.Alt // broader fixes, and what each costs
}

// FixOf is the view of a diagnose.Fix under title.
func FixOf(title string, fx *diagnose.Fix) FixView {
	return FixView{Title: title, Verified: fx.Verified, Path: fx.DropinPath, Dropin: fx.Dropin,
		Commands: fx.Commands, Written: fx.Written, Alt: fx.Alt, Alternatives: fx.Alternatives}
}

// fixStyle is where the commands' fix blocks differ; each FixOpt sets one difference.
type fixStyle struct {
	verified  string              // the header's word for a verified fix
	pre, post string              // more in the header's parentheses, around the state
	about     string              // after the header's colon instead of the path
	lead      []string            // lines between the header and the drop-in
	below     bool                // the path on its own line under the header
	pathEnd   string              // after the path on its own line
	hint      string              // after the "then:" line's commands
	next      string              // the line after the drop-in, instead of "then:" or "written. Now:"
	costs     bool                // the "allows" line and the alternatives
	bold      func(string) string // for the alternatives' heading
}

type FixOpt func(*fixStyle)

// VerifiedAs names a verified fix in the header (why: "verified against a libseccomp-built filter").
func VerifiedAs(s string) FixOpt { return func(st *fixStyle) { st.verified = s } }

// Qualified adds pre and post around the state in the header's parentheses (check: "; a prediction: …";
// trial's tightening: "safe for what the trial exercised; ").
func Qualified(pre, post string) FixOpt { return func(st *fixStyle) { st.pre, st.post = pre, post } }

// PathBelow puts the path on its own line under the header, followed by end (why: "", the tightening: ":").
func PathBelow(end string) FixOpt { return func(st *fixStyle) { st.below, st.pathEnd = true, end } }

// About puts subject after the header's colon and lines under it (trial's tightening: the groups never
// touched, then the exposure and the groups left open).
func About(subject string, lines ...string) FixOpt {
	return func(st *fixStyle) { st.about, st.lead = subject, lines }
}

// OrHint follows the "then:" line's commands (why: "   (or: sysdiag why UNIT --write)").
func OrHint(s string) FixOpt { return func(st *fixStyle) { st.hint = s } }

// NextLine, when s is not empty, replaces the "then:" or "written. Now:" line (check's advice, what
// trial's --write or --write-tighten did).
func NextLine(s string) FixOpt {
	return func(st *fixStyle) {
		if s != "" {
			st.next = s
		}
	}
}

// ShowCosts adds what the fix allows after the drop-in and the alternatives at the end, their heading
// through bold (why).
func ShowCosts(bold func(string) string) FixOpt {
	return func(st *fixStyle) { st.costs, st.bold = true, bold }
}

// Fix prints fx: a header (title, verified or not, the path), the drop-in indented, what it allows,
// what to run next, and the alternatives. w is the caller's errWriter: it keeps the first error.
func Fix(w io.Writer, fx FixView, opts ...FixOpt) {
	st := fixStyle{verified: "verified"}
	for _, o := range opts {
		o(&st)
	}
	state := "not verified"
	if fx.Verified {
		state = st.verified
	}
	fmt.Fprintf(w, "\n%s (%s%s%s):", fx.Title, st.pre, state, st.post)
	switch {
	case st.about != "":
		fmt.Fprintf(w, " %s\n", st.about)
	case !st.below:
		fmt.Fprintf(w, " %s\n", fx.Path)
	default:
		fmt.Fprintln(w)
	}
	for _, l := range st.lead {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if st.below {
		fmt.Fprintf(w, "  %s%s\n", fx.Path, st.pathEnd)
	}
	for _, l := range strings.Split(strings.TrimRight(fx.Dropin, "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", l)
	}
	if st.costs {
		fmt.Fprintf(w, "  allows %s\n", CostText(fx.Alt))
	}
	switch {
	case st.next != "":
		fmt.Fprintf(w, "  %s\n", st.next)
	case fx.Written:
		fmt.Fprintf(w, "  written. Now: %s\n", strings.Join(fx.Commands, " && "))
	default:
		fmt.Fprintf(w, "  then: %s%s\n", strings.Join(fx.Commands, " && "), st.hint)
	}
	if st.costs && len(fx.Alternatives) > 0 {
		fmt.Fprintf(w, "\n%s:\n", st.bold("Alternatives"))
		for _, a := range fx.Alternatives {
			line := strings.Join(a.Allow, " ")
			if len(a.Deny) > 0 {
				line = "~" + strings.Join(a.Deny, " ")
			}
			fmt.Fprintf(w, "  %-14s SystemCallFilter=%s — %s\n", a.Label+":", line, CostText(a))
			if a.Note != "" {
				fmt.Fprintf(w, "  %-14s %s\n", "", a.Note)
			}
		}
	}
}

// CostText is what a fix allows: its calls, and the rows of systemd-analyze security it changes.
func CostText(a diagnose.Alt) string {
	n := len(a.NewlyAllowed)
	s := fmt.Sprintf("%d syscall", n)
	if n != 1 {
		s += "s"
	}
	if n > 0 && n <= 8 {
		s += " (" + strings.Join(a.NewlyAllowed, " ") + ")"
	}
	if len(a.Exposure.Rows) == 0 {
		return s + "; systemd-analyze security: no SystemCallFilter row changes"
	}
	var rows []string
	for _, r := range a.Exposure.Rows {
		rows = append(rows, fmt.Sprintf("%s %d→%d", r.ID, r.Before, r.After))
	}
	return fmt.Sprintf("%s; systemd-analyze security: %s (exposure %+.1f)", s, strings.Join(rows, ", "), a.Exposure.Delta)
}
