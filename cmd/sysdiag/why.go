package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

type whyOptions struct {
	unit           string
	user           bool
	root           string
	since          string
	systemdVersion string
	json           bool
	write          bool
	crossCheck     bool
	sources        sourceFlags
}

func newWhyCmd() *cobra.Command {
	opts := &whyOptions{}
	c := &cobra.Command{
		Use:   "why UNIT",
		Short: "Explain why a unit was killed by its seccomp filter, and the drop-in that fixes it",
		Long: `Explain the latest seccomp kill of UNIT: the blocked syscall(s) with name, number, arch and @groups
for the unit's systemd version, the calling function from the coredump, the line of the unit file
that blocked it, and the smallest SystemCallFilter= relaxation as a ready drop-in — verified against
a libseccomp-built filter — with broader alternatives and what each costs in exposure.

The unit is read from the running manager (D-Bus; --user for the user manager) or, with --root DIR,
from the unit files under DIR. Evidence comes from the local journal, audit.log and the kernel log,
or from the source flags. Nothing is written unless --write is given.`,
		Example: `  $ sysdiag why remote-ssh-agent.service
  $ sysdiag why --user backup.service --json
  $ sysdiag why nginx --write
  $ sysdiag why nginx --root /srv/host1 --systemd-version 255.4 --journal-dir /srv/host1/var/log/journal`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.unit = args[0]
			return runWhy(c.OutOrStdout(), c.ErrOrStderr(), opts, time.Now())
		},
	}
	c.ValidArgsFunction = unitCompleter(&opts.user, &opts.root)
	c.Flags().BoolVar(&opts.user, "user", false, "the unit is a unit of the calling user's manager (systemctl --user)")
	c.Flags().StringVar(&opts.root, "root", "", "read the unit's files under this directory instead of asking the running manager")
	c.Flags().StringVarP(&opts.since, "since", "S", "", "look at every invocation since this time, not only the latest with a kill")
	c.Flags().StringVar(&opts.systemdVersion, "systemd-version", "", "the unit's systemd version (default: the manager's, or the local systemd)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.Flags().BoolVar(&opts.write, "write", false, "write the proposed drop-in (atomically; never over a file sysdiag did not write)")
	c.Flags().BoolVar(&opts.crossCheck, "cross-check", false, "with --root: also run this machine's systemd-analyze --offline on the tree and compare its SystemCallFilter= rows with the model (when its release is the target's; two processes, most of why's time)")
	registerSources(c, &opts.sources)
	return c
}

func runWhy(stdout, stderr io.Writer, opts *whyOptions, now time.Time) error {
	name, err := unitName(opts.unit)
	if err != nil {
		return err
	}
	var since time.Time
	if opts.since != "" {
		w, err := parseWindow(opts.since, "", now)
		if err != nil {
			return err
		}
		since = w.Since
	}

	root, version, err := oneHost(opts.root, opts.systemdVersion)
	if err != nil {
		return err
	}

	// 1. The unit (host: D-Bus or files under --root), and its table, chosen once with the reason.
	u, err := loadUnit(root, name, opts.user)
	if err != nil {
		return err
	}
	choice, err := tables.Choose(unit.Target{Flag: version, Unit: u, Root: root, Here: root == ""})
	if err != nil {
		return cliErr(err)
	}
	t, note := choice.Table, choice.Note
	filter := fixes.Build(t, u.Assigns, choice.Known)

	// 2. The evidence (host: journal, audit.log, kmsg).
	ev, err := gatherUnit(&opts.sources, u, since, programsFinder(root, u))
	if err != nil {
		return err
	}

	// 3. Diagnosis and fix (pure).
	res := diagnose.Diagnose(u, filter, t, note, ev)
	// Only when asked: its two systemd-analyze processes were most of why's time (94 ms against 22 ms for
	// the bare journal query on the 1 M-entry journal of scripts/bench-why.sh).
	if opts.crossCheck && root != "" && !opts.user {
		if rows, v, err := analyzeOffline(root, name); err == nil {
			diagnose.CompareAnalyze(res, filter, rows, v)
		}
	}
	var read sourcesRead
	if ev.Reports != nil {
		res.Sources = ev.Reports
		read = warnSources(stderr, ev.Reports, len(res.Violations))
	}

	// 4. Write, when asked (under --root, into that tree).
	if opts.write && res.Fix != nil {
		if err := writeFix(root, res.Fix); err != nil {
			return err
		}
	}

	if opts.json {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	} else if err := printWhy(stdout, res, isTerminal(stdout)); err != nil {
		return err
	}
	if err := partialErr(read); err != nil {
		return err
	}
	if len(res.Violations) == 0 {
		hint := ""
		if os.Geteuid() != 0 && opts.sources.WantsJournal() && !opts.sources.Any() {
			hint = "not root: the system journal and audit.log may be unreadable to you (run as root, or join the systemd-journal and adm groups)"
		}
		return notFoundErr(fmt.Errorf("no seccomp kill found for %s", name), hint)
	}
	return nil
}

// unitTable picks a unit's group table (unit.Chooser): --systemd-version, else the manager's version,
// else the host's journal's, else (under --root) the tree's own, else the local systemd.
func unitTable(flag, root string, u *diagnose.Unit, hostVersion string) (syscalls.Table, string, error) {
	c, err := tables.Choose(unit.Target{Flag: flag, Unit: u, Journal: hostVersion, Root: root, Here: root == ""})
	return c.Table, c.Note, cliErr(err)
}

// gatherUnit finds the unit's latest invocation with a seccomp kill (or every one since since) and the
// violations of that invocation, child processes included: the host step of why. What the journal says
// and what ties a kill to the unit are attribute's (AskUnit, Settle); here the journal is opened and
// the sources are read.
func gatherUnit(sf *sourceFlags, u *diagnose.Unit, since time.Time, programsOf func(unit string, user bool) []string) (*diagnose.Evidence, error) {
	ev := &diagnose.Evidence{}
	var jr journal.Querier
	if sf.WantsJournal() {
		r, _, err := sf.OpenJournal()
		if err != nil {
			return nil, failureErr(err, journalHint(err))
		}
		jr = r
		defer jr.Close()
	}
	c, err := attribute.AskUnit(jr, attribute.UnitQuery{
		Unit:  attribute.Target{Name: u.Name, User: u.User, Invocation: u.Invocation, MainPID: int(u.MainPID), Programs: programsOf(u.Name, u.User)},
		Since: since, Programs: programsOf, ForeignPIDs: sf.LocalJournal() && !initialPIDNamespace()})
	if err != nil {
		return nil, failureErr(err, "")
	}
	if jr != nil {
		ev.Searched = fmt.Sprintf("%d invocations and %d SIGSYS coredumps of %s in the journal", len(c.Invocations), len(c.Cores), u.Name)
	}
	ev.LastExit = c.LastExit()
	if !c.OK {
		return ev, nil
	}
	var all []evidence.Violation
	if ev.Reports, err = collect(sf, c.Plan.Window, jr, c.Cores, func(v evidence.Violation) error {
		all = append(all, v)
		return nil
	}); err != nil {
		return nil, err
	}
	ev.Invocations, ev.Violations, ev.Unattributed = c.Settle(all)
	return ev, nil
}

// isTerminal reports whether w is a terminal (colour and emphasis only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}

func printWhy(w io.Writer, r *diagnose.Result, tty bool) error {
	bw := &errWriter{w: w}
	bold := func(s string) string {
		if tty {
			return "\x1b[1m" + s + "\x1b[0m"
		}
		return s
	}
	fmt.Fprintf(bw, "%s\n", bold(clean(r.Diagnosis)))
	fmt.Fprintf(bw, "  filter:  %s (systemd %s, table v%s)", r.Filter.Mode, r.SystemdVersion, r.Table)
	if len(r.Invocations) > 0 {
		fmt.Fprintf(bw, "; invocation %s", r.Invocations[len(r.Invocations)-1])
	}
	fmt.Fprintln(bw)
	if r.TableNote != "" {
		fmt.Fprintf(bw, "  groups:  %s\n", clean(r.TableNote))
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
		who := fmt.Sprintf("%s [pid %d]", clean(v.Exe), v.PID)
		if v.Function != "" {
			who = "called from " + clean(v.Function) + " in " + who
		}
		fmt.Fprintf(bw, "    by:         %s\n", who)
		if a := v.AttributedBy; a != nil && a.Method != "" && a.Method != evidence.ByCoredump {
			fmt.Fprintf(bw, "    unit found: %s (%s)\n", clean(a.Detail), a.Method)
		}
		if len(v.Groups) > 0 {
			fmt.Fprintf(bw, "    groups:     %s\n", strings.Join(v.Groups, " · "))
		}
		fmt.Fprintf(bw, "    blocked by: %s\n", clean(v.BlockedBy.Explain))
		fmt.Fprintf(bw, "    action:     %s; seen in %s\n", v.Action, strings.Join(v.Sources, ", "))
	}
	for _, n := range append(r.Filter.Warnings, r.Notes...) {
		fmt.Fprintf(bw, "  note: %s\n", clean(n))
	}
	if r.Fix != nil {
		renderFix(bw, fixOf(bold("Fix"), r.Fix), verifiedAs("verified against a libseccomp-built filter"), pathBelow(""),
			orHint(fmt.Sprintf("   (or: sysdiag why %s%s --write)", r.Unit, userFlag(r.User))), showCosts(bold))
	}
	return bw.err
}

// analyzeOffline runs this machine's systemd-analyze on the tree (systemd's own loader:
// --offline=true --root=DIR security --json=short) and returns the SystemCallFilter=~@… rows it shows
// (id → set) and its major version; an error when it is not installed or fails.
func analyzeOffline(root, unit string) (map[string]bool, int, error) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ver, err := exec.CommandContext(ctx, sa, "--version").Output()
	if err != nil {
		return nil, 0, err
	}
	v, err := syscalls.ParseVersion(strings.SplitN(string(ver), "\n", 2)[0])
	if err != nil {
		return nil, 0, err
	}
	out, err := exec.CommandContext(ctx, sa, "--offline=true", "--root="+root, "security", "--json=short", "--no-pager", "--", unit).Output()
	if err != nil {
		return nil, 0, err
	}
	var rows []struct {
		Name string `json:"name"`
		Set  *bool  `json:"set"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, 0, err
	}
	m := map[string]bool{}
	for _, r := range rows {
		if strings.HasPrefix(r.Name, "SystemCallFilter=~") && r.Set != nil {
			m[r.Name] = *r.Set
		}
	}
	return m, v.Major, nil
}

// writeFix writes a fix's drop-in (under root, into that tree), refusing to replace a file sysdiag did
// not write.
func writeFix(root string, fx *diagnose.Fix) error {
	if err := unitfile.WriteDropInUnder(root, fx.DropinPath, fx.Dropin); err != nil {
		return failureErr(fmt.Errorf("writing the drop-in: %w", err), "write it by hand, or remove the file if it is yours")
	}
	if root != "" {
		fx.DropinPath = filepath.Join(root, fx.DropinPath)
	}
	fx.Written = true
	return nil
}
