package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/journal"
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
	w, err := parseWindow(opts.since, "", now)
	if err != nil {
		return err
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
	c, err := tables.Choose(unit.Target{Flag: version, Unit: u, Root: root, Here: root == ""})
	if err != nil {
		return cliErr(err)
	}
	filter := fixes.Build(c.Table, u.Assigns, c.Known)
	// 2. The evidence (host: journal, audit.log, kmsg).
	ev, err := gatherUnit(&opts.sources, u, w.Since, unit.Tree{Dir: rootOrSlash(root)}.Programs(u))
	if err != nil {
		return err
	}
	// 3. Diagnosis and fix (pure). Cross-checked only when asked: systemd-analyze's two processes were
	// most of why's time (94 ms against 22 ms for the journal query of scripts/bench-why.sh).
	res := diagnose.Diagnose(u, filter, c.Table, c.Note, ev)
	if opts.crossCheck && root != "" && !opts.user {
		if rows, v, err := unit.AnalyzeOffline(root, name); err == nil {
			diagnose.CompareAnalyze(res, filter, rows, v)
		}
	}
	res.Sources = ev.Reports
	partial := warnSources(stderr, ev.Reports, len(res.Violations))
	// 4. Write, when asked (under --root, into that tree), and render.
	if opts.write && res.Fix != nil {
		if err := writeFix(root, res.Fix); err != nil {
			return err
		}
	}
	if opts.json {
		err = render.JSON(stdout, res)
	} else {
		err = render.Why(stdout, res, render.IsTerminal(stdout))
	}
	if err != nil || partial != nil {
		return cmp.Or(err, partial)
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

// gatherUnit is why's host step: the journal opened and the sources read for attribute.GatherUnit.
func gatherUnit(sf *sourceFlags, u *diagnose.Unit, since time.Time, programsOf func(unit string, user bool) []string) (*diagnose.Evidence, error) {
	jr, err := openJournal(sf)
	if err != nil {
		return nil, err
	}
	if jr != nil {
		defer jr.Close()
	}
	ev := &diagnose.Evidence{}
	ue, err := attribute.GatherUnit(jr, attribute.UnitQuery{
		Unit:  attribute.Target{Name: u.Name, User: u.User, Invocation: u.Invocation, MainPID: int(u.MainPID), Programs: programsOf(u.Name, u.User)},
		Since: since, Programs: programsOf, ForeignPIDs: sf.LocalJournal() && !initialPIDNamespace(),
	}, func(w audit.Window, cores []journal.Coredump, emit func(evidence.Violation) error) (err error) {
		ev.Reports, err = collect(sf, w, jr, cores, emit)
		return err
	})
	ev.Searched, ev.LastExit, ev.Invocations, ev.Violations, ev.Unattributed = ue.Searched, ue.LastExit, ue.Invocations, ue.Violations, ue.Unattributed
	return ev, err
}

// writeFix writes a fix's drop-in (under root, into that tree), refusing to replace a file sysdiag did
// not write; what names the drop-in in the error.
func writeFix(root string, fx *diagnose.Fix) error { return writeFixOf(root, fx, "the drop-in") }

func writeFixOf(root string, fx *diagnose.Fix, what string) error {
	if err := unitfile.WriteDropInUnder(root, fx.DropinPath, fx.Dropin); err != nil {
		return failureErr(fmt.Errorf("writing %s: %w", what, err), "write it by hand, or remove the file if it is yours")
	}
	if root != "" {
		fx.DropinPath = filepath.Join(root, fx.DropinPath)
	}
	fx.Written = true
	return nil
}
