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

	if opts.root != "" {
		if err := checkDir("--root", opts.root); err != nil {
			return err
		}
	}

	// 1. The unit (host: D-Bus or files under --root).
	var u *diagnose.Unit
	u, err = loadUnit(opts.root, name, opts.user)
	if err != nil {
		return err
	}
	t, note, err := whyTable(opts, u)
	if err != nil {
		return err
	}
	var known fixes.Known
	if opts.root == "" {
		known = fixes.LibseccompKnows // the manager here resolves names with this libseccomp
	}
	filter := fixes.Build(t, u.Assigns, known)

	// 2. The evidence (host: journal, audit.log, kmsg).
	ev, err := gatherUnit(&opts.sources, u, since, programsFinder(opts.root, u))
	if err != nil {
		return err
	}

	// 3. Diagnosis and fix (pure).
	res := diagnose.Diagnose(u, filter, t, note, ev)
	// Only when asked: its two systemd-analyze processes were most of why's time (94 ms against 22 ms for
	// the bare journal query on the 1 M-entry journal of scripts/bench-why.sh).
	if opts.crossCheck && opts.root != "" && !opts.user {
		if rows, v, err := analyzeOffline(opts.root, name); err == nil {
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
		if err := writeFix(opts.root, res.Fix); err != nil {
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

// whyTable picks the group table: --systemd-version, else the manager's version, else the local systemd.
func whyTable(opts *whyOptions, u *diagnose.Unit) (syscalls.Table, string, error) {
	return unitTable(opts.systemdVersion, opts.root, u, "")
}

// unitTable picks a unit's group table: --systemd-version, else the manager's version, else (under
// --root) the tree's own, else the local systemd; the note says which and why.
func unitTable(flag, root string, u *diagnose.Unit, hostVersion string) (syscalls.Table, string, error) {
	if flag == "" && u.HaveVer {
		t := syscalls.Select(u.Version)
		return t, "the manager's " + t.Note(), nil
	}
	if v, err := syscalls.ParseVersion(hostVersion); flag == "" && hostVersion != "" && err == nil {
		t := syscalls.Select(v)
		return t, "the host's journal's (its manager started as systemd " + hostVersion + ") " + t.Note(), nil
	}
	if flag == "" && root != "" {
		if v, from, ok := rootSystemdVersion(root); ok {
			t := syscalls.Select(v)
			return t, "the tree's (" + from + ") " + t.Note(), nil
		}
		t, note, err := systemdTable("")
		return t, "the tree names no systemd version, so " + note + " — pass --systemd-version with the target's", err
	}
	return systemdTable(flag)
}

// gatherUnit finds the unit's latest invocation with a seccomp kill (or every one since since) and the
// violations of that invocation, child processes included: the host step of why. A kill is the unit's
// when systemd-coredump says so, or — on hosts without it — when the manager's main pid, the process's
// own journal entries or the unit's SIGSYS exit tie it (attribute.Attribute), never by time alone.
func gatherUnit(sf *sourceFlags, u *diagnose.Unit, since time.Time, programsOf func(unit string, user bool) []string) (*diagnose.Evidence, error) {
	ev := &diagnose.Evidence{}
	useJournal := sf.WantsJournal()
	var cores []journal.Coredump
	var invs []journal.Invocation
	var jr journal.Querier
	if useJournal {
		r, _, err := sf.OpenJournal()
		jr = r
		if err != nil {
			return nil, failureErr(err, journalHint(err))
		}
		unitField, coreField := "UNIT=", "COREDUMP_UNIT="
		if u.User {
			unitField, coreField = "USER_UNIT=", "COREDUMP_USER_UNIT="
		}
		var entries []journal.Fields
		if err := r.Query([]string{unitField + u.Name}, since, time.Time{}, func(f journal.Fields) error {
			entries = append(entries, f)
			return nil
		}); err != nil {
			return nil, failureErr(err, "")
		}
		invs = journal.Invocations(entries)
		if err := r.Query([]string{"MESSAGE_ID=" + journal.MessageCoredump, coreField + u.Name}, since, time.Time{}, func(f journal.Fields) error {
			if c, err := journal.ParseCoredump(f); err == nil && c.Signal == journal.SIGSYS {
				cores = append(cores, c)
			}
			return nil
		}); err != nil {
			return nil, failureErr(err, "")
		}
		ev.Searched = fmt.Sprintf("%d invocations and %d SIGSYS coredumps of %s in the journal", len(invs), len(cores), u.Name)
	}
	if jr != nil {
		defer jr.Close()
	}
	if len(invs) > 0 {
		if exits := invs[len(invs)-1].Exits; len(exits) > 0 {
			ev.LastExit = &exits[len(exits)-1]
		}
	}

	// Which invocations, and the window of evidence around them (pure).
	plan, ok := diagnose.PlanUnit(invs, cores, since, useJournal)
	if !ok {
		return ev, nil
	}
	w := plan.Window

	// What ties a kill to the unit without a coredump: the unit's runs, its processes' own entries, and
	// every unit's SIGSYS exits in the window (to tell two units' kills of the same second apart).
	facts := attribute.Facts{ForeignPIDs: sf.LocalJournal() && !initialPIDNamespace()}
	programs := programsOf(u.Name, u.User)
	facts.Runs = plan.Runs(u, programs)
	if jr != nil {
		procField := "_SYSTEMD_UNIT="
		if u.User {
			procField = "_SYSTEMD_USER_UNIT="
		}
		var entries []journal.Fields
		if err := jr.Only(journal.ProcessFields...).Query([]string{procField + u.Name}, w.Since, w.Until, func(f journal.Fields) error {
			entries = append(entries, f)
			return nil
		}); err != nil {
			return nil, failureErr(err, "")
		}
		facts.Processes = journal.Processes(entries)
		var exits []journal.UnitExit // every other unit's SIGSYS exits: to tell two units' kills of one second apart
		if err := jr.Query([]string{"MESSAGE_ID=" + journal.MessageProcessExit}, w.Since.Add(-time.Second), w.Until, func(f journal.Fields) error {
			if e, err := journal.ParseUnitExit(f); err == nil && e.Killed() && (e.Unit != u.Name || e.User != u.User) {
				exits = append(exits, e)
			}
			return nil
		}); err != nil {
			return nil, failureErr(err, "")
		}
		facts.Runs = append(facts.Runs, attribute.RunsOf(exits, func(_ journal.Host, unit string, user bool) []string { return programsOf(unit, user) })...)
	}

	var all []evidence.Violation
	reports, err := collect(sf, w, jr, cores, func(v evidence.Violation) error {
		all = append(all, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ev.Reports = reports
	attribute.Attribute(all, facts)

	ev.Invocations, ev.Violations, ev.Unattributed = plan.Select(u, all, programs)
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
		if v.Syscall == "" {
			fmt.Fprintf(bw, "  %s: unknown syscall — %s\n", bold("?"), v.BlockedBy.Explain)
			continue
		}
		fmt.Fprintf(bw, "  %s (%s syscall %d", bold(v.Syscall), v.Arch, v.Number)
		if v.Compat != 0 {
			fmt.Fprint(bw, ", compat")
		}
		fmt.Fprintf(bw, ") at %s\n", v.Time)
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
