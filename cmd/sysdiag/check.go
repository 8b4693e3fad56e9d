package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/check"
	"github.com/sysdiag/sysdiag/internal/diagnose"
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

Exit status: 0 when nothing is predicted blocked, 4 when something is, 1 when the unit has no program to
analyse, 2/3 as for every command.`,
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
	c.ValidArgsFunction = func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 || opts.root != "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeUnits(opts.user, prefix), cobra.ShellCompDirectiveNoFileComp
	}
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
}

func runCheck(stdout, stderr io.Writer, opts *checkOptions) error {
	root := opts.root
	if root == "" {
		root = "/"
	}
	fsys, err := unitfile.OpenRoot(root)
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
			if abs, err := filepath.Abs(p); err == nil && opts.root == "" {
				p = abs
			}
		}
		targets = check.Targets(fsys, []unitfile.Command{{Directive: "--exec", Path: p, Args: []string{p}, File: "command line"}}, "")
	default:
		name, err := unitfile.Name(opts.unit)
		if err != nil {
			return usageErr(err, "a unit name is like nginx.service or getty@tty1.service")
		}
		u, err = loadUnit(opts.root, name, opts.user)
		if err != nil {
			return err
		}
		cmds, err := unitfile.Commands(fsys, u.Files)
		if err != nil {
			return failureErr(fmt.Errorf("reading the unit's commands: %w", err), "")
		}
		targets = check.Targets(fsys, cmds, name)
	}
	if len(targets) == 0 {
		return notFoundErr(fmt.Errorf("%s runs no program sysdiag can find (no Exec*= line)", u.Name), "")
	}
	t, note, err := unitTable(opts.systemdVersion, opts.root, u, "")
	if err != nil {
		return err
	}
	var known fixes.Known
	if opts.root == "" {
		known = fixes.LibseccompKnows
	}
	f := fixes.Build(t, u.Assigns, known)
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
		p := loader.Analyze(tg.Path)
		p.From = tg.From
		if tg.Interp != "" {
			p.Interp = tg.Interp
		}
		p.Notes = append(p.Notes, tg.Notes...)
		ans.Programs = append(ans.Programs, p)
	}
	analysed := 0
	for _, p := range ans.Programs {
		if p.Error == "" {
			analysed++
		}
	}
	if analysed == 0 {
		var errs []string
		for _, p := range ans.Programs {
			errs = append(errs, p.Path+": "+p.Error)
		}
		return notFoundErr(fmt.Errorf("none of %s's programs could be analysed: %s", u.Name, strings.Join(errs, "; ")),
			"a tree of unit files only? --programs-root / reads the programs and libraries of this machine")
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
		if err := writeFix(opts.root, ans.Fix); err != nil {
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
	if len(ans.Blocked) > 0 {
		return &cliError{exitPredicted, fmt.Errorf("%d call(s) of %s's programs would be blocked by its filter (a prediction)", len(ans.Blocked), u.Name), ""}
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
		case p.Go:
			kind = "Go"
		case p.Static:
			kind = "static"
		}
		fmt.Fprintf(bw, "  %s (%s, %d libraries, %.2f s): %d calls reachable\n", clean(p.Path), kind, len(p.Libs), p.Seconds, len(p.Reached))
		for _, n := range p.Notes {
			fmt.Fprintf(bw, "    note: %s\n", clean(n))
		}
	}
	if len(a.Blocked) == 0 {
		fmt.Fprintf(bw, "\nNo call of these programs is blocked by the unit's filter.\n")
	} else {
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
	}
	if a.Fix != nil {
		state := "not verified"
		if a.Fix.Verified {
			state = "verified"
		}
		fmt.Fprintf(bw, "\nPredicted fix (%s; a prediction: %s): %s\n", state, map[bool]string{true: "written", false: "not written"}[a.Fix.Written], a.Fix.DropinPath)
		for _, l := range strings.Split(strings.TrimRight(a.Fix.Dropin, "\n"), "\n") {
			fmt.Fprintf(bw, "    %s\n", l)
		}
		fmt.Fprintf(bw, "  better still, before relying on it: sysdiag trial %s\n", clean(a.Unit))
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
