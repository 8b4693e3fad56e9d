package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/check"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

type checkOptions struct {
	unit           string
	root           string
	user           bool
	systemdVersion string
	json           bool
	write          bool
	exec           string
	filters        []string
	cache          bool
	possible       bool
	programsRoot   string
}

// exitPredicted is check's status when it predicts calls the filter blocks (like postmortem's 4).
const exitPredicted = 4

func newCheckCmd() *cobra.Command {
	opts := &checkOptions{}
	c := &cobra.Command{
		Use:   "check UNIT | check --exec PATH --filter VALUE",
		Short: "Predict, before it runs, which calls of a unit's programs its seccomp filter would block",
		Long: `Predict a unit's seccomp kills before it ever runs: the programs of its ExecStart*=, ExecStop*=,
ExecReload= and ExecCondition= lines (a "#!" script's interpreter; the plain commands of "sh -c '…'"), the
system calls each can make — the syscall instructions of its own code with their numbers, and for every
symbol it imports from a shared library the calls that function reaches through the library's call
graph (found by disassembling the libraries it loads, under --root too) — and which of them the unit's
filter blocks: SystemCallFilter= for the unit's systemd version, and the filters of ProtectClock= & co.

A call reached from the program's own code, its start-up or an imported function's own body is
"likely"; one reached only through deeper library code is "possible". The fix is proposed for the likely
ones (--possible: all), verified against libseccomp-built BPF like why's, and marked as a prediction:
never written unless --write. Nothing is run.

What it cannot see: dlopen()ed libraries, JITs, syscall(2) with a computed number (counted), the
commands of a script, indirect calls through function pointers inside libraries, and code other than
x86-64 (named, never guessed).

A prediction covers only what was analysed. A program, a library it needs or its dynamic loader that
could not be — not found under the root, not an ELF file, another architecture's code, or too large —
is listed with the reason ("not_analysed" in --json, with "incomplete": true), and its calls are not
counted. Too large: a file with more than 64 MiB of code (its executable sections), more than 64 MiB of
symbol and relocation tables, or more than a million functions; these bounds keep one file's analysis
to a few hundred MiB of memory (libLLVM.so.19.1, 56 MiB of code, takes about 230 MiB and 15 s).

Exit status: 4 when something is predicted blocked (even if the prediction is incomplete: what was
found is found); else 6 when something could not be analysed (incomplete: the prediction covers only
what was — or none of the programs could be); else 0 — nothing analysed is blocked, and everything
was analysed. 1 when the unit has no Exec*= program; 2/3 as for every command.`,
		Example: `  $ sysdiag check nginx.service
  $ sysdiag check remote-ssh-agent.service --root /srv/host1 --systemd-version 252.39
  $ sysdiag check --exec /usr/bin/ncat --filter @system-service --filter '~@network-io'`,
		Args: func(c *cobra.Command, args []string) error {
			if opts.exec != "" {
				return cobra.NoArgs(c, args)
			}
			return cobra.ExactArgs(1)(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.unit = args[0]
			}
			return runCheck(c.OutOrStdout(), c.ErrOrStderr(), opts)
		},
	}
	c.ValidArgsFunction = unitCompleter(&opts.user, &opts.root)
	c.Flags().StringVar(&opts.root, "root", "", "read the unit and its programs and libraries under this directory")
	c.Flags().BoolVar(&opts.user, "user", false, "a unit of the calling user's manager")
	c.Flags().StringVar(&opts.systemdVersion, "systemd-version", "", "the target's systemd version (default: the manager's, the tree's, or this machine's)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.Flags().BoolVar(&opts.write, "write", false, "write the predicted fix as why --write would")
	c.Flags().StringVar(&opts.exec, "exec", "", "analyse this program instead of a unit's (with --filter)")
	c.Flags().StringArrayVar(&opts.filters, "filter", nil, "with --exec: a SystemCallFilter= value, repeatable, in order")
	c.Flags().BoolVar(&opts.cache, "cache", false, "keep the libraries' summaries by build-id in $XDG_CACHE_HOME/sysdiag/scan (written only with this flag)")
	c.Flags().StringVar(&opts.programsRoot, "programs-root", "", "read the programs and libraries under this directory instead of --root (a tree of unit files only: --programs-root /)")
	c.Flags().BoolVar(&opts.possible, "possible", false, "propose a fix for the possible calls too, not only the likely ones")
	_ = c.MarkFlagFilename("exec")
	_ = c.MarkFlagDirname("root")
	return c
}

// checkAnswer is check's answer (--json).
type checkAnswer struct {
	Unit       string             `json:"unit"`
	Prediction bool               `json:"prediction"`
	Systemd    string             `json:"systemd_version"`
	Table      string             `json:"table"`
	TableNote  string             `json:"table_note"`
	Filter     string             `json:"filter_mode"`
	Programs   []*check.Program   `json:"programs"`
	Blocked    []check.Blocked    `json:"blocked"`
	Findings   []diagnose.Finding `json:"findings"`
	Fix        *diagnose.Fix      `json:"fix,omitempty"`
	Notes      []string           `json:"notes"`
	// Incomplete: something could not be analysed (NotAnalysed says what and why); the prediction
	// covers only the rest.
	Incomplete  bool                `json:"incomplete"`
	NotAnalysed []check.NotAnalysed `json:"not_analysed"`
}

func runCheck(stdout, stderr io.Writer, opts *checkOptions) error {
	// --root and --systemd-version as every command reads them: DIR or HOST=DIR, V or HOST=V (one host here).
	dir, version, err := oneHost(opts.root, opts.systemdVersion)
	if err == nil && opts.programsRoot != "" {
		err = cliErr(unit.CheckDir("--programs-root", opts.programsRoot))
	}
	if err != nil {
		return err
	}
	fsys, err := unitfile.OpenRoot(rootOrSlash(dir))
	if err != nil {
		return failureErr(err, "")
	}
	defer fsys.Close()

	var u *diagnose.Unit
	var targets []check.Target
	switch {
	case opts.exec != "":
		if len(opts.filters) == 0 {
			return usageErr(fmt.Errorf("--exec needs at least one --filter"), "e.g. --filter @system-service --filter '~@network-io'")
		}
		u = &diagnose.Unit{Name: "(--exec " + opts.exec + ")"}
		for i, f := range opts.filters {
			u.Assigns = append(u.Assigns, fixes.Assignment{Directive: "SystemCallFilter", Value: f, File: "--filter", Line: i + 1})
		}
		p := opts.exec
		if !filepath.IsAbs(p) {
			if abs, err := filepath.Abs(p); err == nil && dir == "" {
				p = abs
			}
		}
		targets = check.Targets(fsys, []unitfile.Command{{Directive: "--exec", Path: p, Args: []string{p}, File: "command line"}}, "")
	default:
		name, err := unitName(opts.unit)
		if err != nil {
			return err
		}
		var l unit.Loader = unit.Manager{}
		if dir != "" {
			l = unit.Tree{Dir: dir}
		}
		if u, err = l.Load(name, opts.user); err != nil {
			return cliErr(err)
		}
		cmds, skipped, err := unitfile.CommandsChecked(fsys, u.Files)
		if err != nil {
			return failureErr(fmt.Errorf("reading the unit's commands: %w", err), "")
		}
		for _, s := range skipped {
			fmt.Fprintf(stderr, "sysdiag: %s\n", s)
		}
		targets = check.Targets(fsys, cmds, name)
		if len(targets) == 0 && len(skipped) > 0 {
			return failureErr(fmt.Errorf("%s: no command could be read: %s", u.Name, strings.Join(skipped, "; ")), "systemd refuses such a line too: fix its quoting")
		}
	}
	if len(targets) == 0 {
		return notFoundErr(fmt.Errorf("%s runs no program sysdiag can find (no Exec*= line)", u.Name), "")
	}
	choice, err := tables.Choose(unit.Target{Flag: version, Unit: u, Root: dir, Here: dir == ""})
	if err != nil {
		return cliErr(err)
	}
	t, note := choice.Table, choice.Note
	f := fixes.Build(t, u.Assigns, choice.Known)
	if opts.exec != "" { // a misspelled --filter value is the user's mistake, not a line systemd would skip
		for _, w := range f.Warnings {
			if strings.HasPrefix(w, "--filter:") {
				return usageErr(errors.New(w), "see 'sysdiag groups' for the groups of systemd v"+t.Label()+", 'sysdiag syscall NAME' for a call")
			}
		}
	}
	ims := fixes.Implicits(t, u.Assigns)

	// The programs, each scanned with its libraries (each library once).
	pfs := fsys
	if opts.programsRoot != "" {
		r, err := unitfile.OpenRoot(opts.programsRoot)
		if err != nil {
			return failureErr(err, "")
		}
		defer r.Close()
		pfs = r
		targets = check.Targets(pfs, commandsOf(targets), "")
	}
	loader := check.NewLoader(pfs)
	if opts.cache {
		dir, err := check.DefaultCacheDir()
		if err != nil {
			return usageErr(err, "")
		}
		loader.Cache = &check.Cache{Dir: dir}
	}
	ans := &checkAnswer{Unit: u.Name, Prediction: true, Systemd: t.Requested.String(), Table: t.Label(), TableNote: note,
		Filter: f.Mode.String(), Notes: []string{}, Findings: []diagnose.Finding{}}
	tty := isTerminal(stderr)
	for _, tg := range targets {
		if tty {
			fmt.Fprintf(stderr, "sysdiag: check: scanning %s and its libraries…\n", clean(tg.Path))
		}
		ans.Programs = append(ans.Programs, loader.AnalyzeTarget(tg))
	}
	ans.NotAnalysed = check.Incomplete(ans.Programs)
	ans.Incomplete = len(ans.NotAnalysed) > 0
	analysed := 0
	for _, p := range ans.Programs {
		if p.Error == "" && p.RunBy == "" {
			analysed++
		}
	}
	if analysed == 0 {
		var errs []string
		for _, p := range ans.Programs {
			errs = append(errs, p.Path+": "+p.Error)
		}
		// Nothing analysed is the most incomplete answer there is: 6, never a "nothing found" a gate could
		// mistake for a result.
		return &cliError{exitIncomplete, fmt.Errorf("none of %s's programs could be analysed: %s", u.Name, strings.Join(errs, "; ")),
			"a tree of unit files only? --programs-root / reads the programs and libraries of this machine"}
	}
	if err := loader.Save(); err != nil {
		fmt.Fprintf(stderr, "sysdiag: check: the cache was not written: %v\n", err)
	}
	host := syscalls.HostArch()
	ans.Blocked = check.Predict(f, ims, ans.Programs, host)
	if ans.Blocked == nil {
		ans.Blocked = []check.Blocked{}
	}
	vs := check.Violations(ans.Blocked, !opts.possible)
	if len(vs) > 0 {
		res := diagnose.Diagnose(u, f, t, note, &diagnose.Evidence{Violations: vs, Host: host})
		ans.Findings, ans.Fix = res.Violations, res.Fix
		ans.Notes = append(ans.Notes, res.Notes...)
	}
	if f.Mode == fixes.ModeNone && len(ims) == 0 {
		ans.Notes = append(ans.Notes, "the unit has no SystemCallFilter= and no directive with a filter of its own: nothing is blocked")
	}
	if opts.write && ans.Fix != nil && u.Files != nil {
		if err := writeFix(dir, ans.Fix); err != nil {
			return err
		}
	}
	if opts.json {
		if err := writeJSON(stdout, ans); err != nil {
			return err
		}
	} else if err := printCheck(stdout, ans); err != nil {
		return err
	}
	// 4 wins over 6: a call predicted blocked is a finding whatever was left out; 6 says that nothing
	// blocked was found in what was analysed, and that something was not.
	incomplete := ""
	if ans.Incomplete {
		incomplete = fmt.Sprintf("; incomplete: %d file(s) could not be analysed", len(ans.NotAnalysed))
	}
	if len(ans.Blocked) > 0 {
		return &cliError{exitPredicted, fmt.Errorf("%d call(s) of %s's programs would be blocked by its filter (a prediction%s)", len(ans.Blocked), u.Name, incomplete), ""}
	}
	if ans.Incomplete {
		hint := ""
		for _, n := range ans.NotAnalysed {
			if strings.HasPrefix(n.Reason, "not found") && dir != "" && opts.programsRoot == "" {
				hint = "the tree under --root lacks them: copy them in, or read this machine's programs and libraries with --programs-root /"
			}
		}
		return &cliError{exitIncomplete, fmt.Errorf("the prediction for %s is incomplete: %d file(s) could not be analysed (listed above); it covers only what was", u.Name, len(ans.NotAnalysed)), hint}
	}
	return nil
}

func printCheck(w io.Writer, a *checkAnswer) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "check of %s — a prediction from its programs' code; nothing was run (systemd %s, table %s; filter: %s)\n",
		clean(a.Unit), clean(a.Systemd), clean(a.Table), a.Filter)
	for _, p := range a.Programs {
		kind := "dynamic"
		switch {
		case p.Error != "":
			fmt.Fprintf(bw, "  %s: not analysed: %s\n", clean(p.Path), clean(p.Error))
			continue
		case p.RunBy != "":
			fmt.Fprintf(bw, "  %s: a script, run by %s (below); its own commands are not followed\n", clean(p.Path), clean(p.RunBy))
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
		fmt.Fprintf(bw, "  %s (%s, %d libraries, %.2f s): %d calls reachable%s\n", clean(p.Path), kind, len(p.Libs), p.Seconds, len(p.Reached), left)
		for _, n := range p.Notes {
			fmt.Fprintf(bw, "    note: %s\n", clean(n))
		}
	}
	if a.Incomplete {
		fmt.Fprintf(bw, "\nNot analysed — the prediction covers only the rest; their calls are not counted:\n")
		for _, n := range a.NotAnalysed {
			fmt.Fprintf(bw, "  %s (%s): %s", clean(n.Path), n.What, clean(n.Reason))
			if len(a.Programs) > 1 && n.What != "program" {
				fmt.Fprintf(bw, " [for %s]", clean(strings.Join(n.Programs, ", ")))
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
			by := ""
			for _, f := range a.Findings {
				if f.Syscall == b.Syscall {
					by = f.BlockedBy.Explain
				}
			}
			if b.Implicit != "" {
				by = fmt.Sprintf("%s= answers %s", b.Implicit, b.Errno)
				if b.Condition != "" {
					by += " (only for " + b.Condition + ")"
				}
			} else if by == "" {
				by = "SystemCallFilter="
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", b.Syscall, b.Confidence, clean(viaText(b)), clean(by))
		}
		tw.Flush()
		if a.Incomplete {
			fmt.Fprintf(bw, "  (and maybe more: the prediction is incomplete)\n")
		}
	}
	if a.Fix != nil {
		written := map[bool]string{true: "written", false: "not written"}[a.Fix.Written]
		renderFix(bw, fixOf("Predicted fix", a.Fix), qualified("", "; a prediction: "+written),
			nextLine("better still, before relying on it: sysdiag trial "+clean(a.Unit)))
	}
	for _, n := range a.Notes {
		fmt.Fprintf(bw, "note: %s\n", clean(n))
	}
	return bw.err
}

func viaText(b check.Blocked) string {
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

// commandsOf turns targets back into commands, to resolve them again under another root.
func commandsOf(ts []check.Target) []unitfile.Command {
	var out []unitfile.Command
	for _, t := range ts {
		if t.Interp != "" {
			continue // found again from its script
		}
		out = append(out, unitfile.Command{Directive: strings.Join(t.From, ", "), Path: t.Path, Args: []string{t.Path}})
	}
	return out
}
