package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/internal/timespec"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/journal"
)

type postmortemOptions struct {
	since, until string
	unit         string
	roots        []string // "DIR" (every host) or "HOST=DIR"
	versions     []string // "V" (every host) or "HOST=V"
	json         bool
	write        bool
	failOn       string
	sources      sourceFlags
}

func newPostmortemCmd() *cobra.Command {
	opts := &postmortemOptions{}
	c := &cobra.Command{
		Use:   "postmortem",
		Short: "After a deploy: every unit its seccomp filter killed in a window, diagnosed, with one fix each",
		Long: `List every unit (system and user) that its seccomp filter killed in the window — default: since the
last boot — with each blocked call once and how often (a restart loop is one line), the line that
blocked it, and the smallest fix for all of that unit's calls, verified like why's. Kills that no
evidence ties to a unit are counted apart by host, program and call (the earliest listed one by one),
never dropped and never guessed; units that failed with no record but whose filter answers denials
with an errno are listed as "possibly denied silently".

Exit status (for deploy pipelines): 4 when the window holds a seccomp kill — of a unit (matching --unit),
or one tied to no unit, which may be any unit's — or a unit possibly denied silently; 0 when it holds
none (--fail-on never: always 0, after printing). Nothing is written unless --write is given.`,
		Example: `  $ sysdiag postmortem --since "10 min ago"
  $ sysdiag postmortem --since "2026-12-02 14:00" --json
  $ sysdiag postmortem --since -1h --write && systemctl daemon-reload`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runPostmortem(c.OutOrStdout(), c.ErrOrStderr(), opts, time.Now())
		},
	}
	c.Flags().StringVarP(&opts.since, "since", "S", "", "the window's start (journalctl's syntax; default: the last boot)")
	c.Flags().StringVarP(&opts.until, "until", "U", "", "the window's end (default: now)")
	c.Flags().StringVarP(&opts.unit, "unit", "u", "", "only units matching this glob")
	c.Flags().StringArrayVar(&opts.roots, "root", nil, "read the units' files under this directory instead of asking the running manager; HOST=DIR for the kills of one host (audit node=), repeatable")
	c.Flags().StringArrayVar(&opts.versions, "systemd-version", nil, "the units' systemd version (default: the manager's, the host's journal's, or the local systemd); HOST=V for one host's, repeatable")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.Flags().BoolVar(&opts.write, "write", false, "write each unit's drop-in (as why --write does)")
	c.Flags().StringVar(&opts.failOn, "fail-on", "killed", "exit 4 when the window holds a kill, of a unit or tied to none, or a unit failed silently (killed); or always 0 (never)")
	registerSources(c, &opts.sources)
	_ = c.RegisterFlagCompletionFunc("unit", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		return unit.Manager{}.Units(false, prefix), cobra.ShellCompDirectiveNoFileComp
	})
	_ = c.RegisterFlagCompletionFunc("fail-on", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"killed", "never"}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

// exitKilled is postmortem's status when the window had kills (tied to a unit or not) or silent failures.
const exitKilled = 4

func runPostmortem(stdout, stderr io.Writer, opts *postmortemOptions, now time.Time) error {
	if opts.failOn != "killed" && opts.failOn != "never" {
		return usageErr(fmt.Errorf("--fail-on %q: want killed or never", opts.failOn), "")
	}
	since := opts.since
	if since == "" { // since the last boot; unknown: now
		boot, err := timespec.BootTime(os.DirFS("/proc"))
		if err != nil {
			boot = now
		}
		since = "@" + strconv.FormatInt(boot.Unix(), 10)
	}
	w, err := parseWindow(since, opts.until, now)
	if err != nil {
		return err
	}
	sf := &opts.sources
	units, err := newFleet(opts.roots, opts.versions)
	if err != nil {
		return err
	}

	// 1. The evidence of the window, and what ties kills to units without a coredump (host: journal).
	jr, err := openJournal(sf)
	if err != nil {
		return err
	}
	wc, err := attribute.AskWindow(jr, w, units.Programs, sf.LocalJournal() && !initialPIDNamespace())
	if jr != nil {
		if err == nil && !sf.LocalJournal() { // a journal of other hosts: each one's systemd, from its manager's start-up line
			starts, _ := journal.ManagerStarts(jr, w.Until) // none read: each host's tree or the flag decides
			units.Journals = diagnose.ManagerVersions(starts)
		}
		// The handle is closed while the sources are read (they open their own): each handle maps the
		// journal's files anew, and its pages count in the process's memory as long as it is open.
		jr.Close()
	}
	if err != nil {
		return err
	}
	reports, err := collect(sf, w, nil, nil, wc.Add)
	if err != nil {
		return err
	}
	store := wc.Settle(func() (journal.Querier, error) { r, _, err := sf.OpenJournal(); return r, err })

	// 2. Per host and unit: its files, its filter for its host's version, the diagnosis, folded.
	local, err := units.Choose(journal.Host{}, nil)
	if err != nil {
		return cliErr(err)
	}
	pm, err := diagnose.BuildPostmortem(diagnose.PostmortemInput{Window: w, Unit: opts.unit, Store: store, Failed: wc.Failed,
		Sources: reports, Versions: units.Journals, Table: local.Table}, fleetUnits{units})
	if err != nil {
		return err
	}

	// 3. --write: each fix into its host's tree.
	for _, h := range pm.Hosts {
		root := units.Roots.For(journal.Host{Hostname: h.Host, MachineID: h.MachineID})
		for _, u := range h.Units {
			if opts.write && u.Fix != nil {
				if err := writeFixOf(root, u.Fix, "the drop-in of "+u.Unit); err != nil {
					return err
				}
			}
		}
	}

	// 4. Render, and the exit status.
	if opts.json {
		err = render.JSON(stdout, pm)
	} else {
		err = render.Postmortem(stdout, pm, w)
	}
	if err != nil || !pm.Found() || opts.failOn == "never" {
		return err
	}
	hint := ""
	if pm.UnattributedTotal > 0 {
		hint = "a kill tied to no unit may be any unit's: the report names its program and call; --fail-on never exits 0"
	}
	return &cliError{exitKilled, fmt.Errorf("%d unit(s) killed, %d possibly denied silently, %d kill(s) not tied to a unit in the window", pm.KilledUnits(), len(pm.Silent), pm.UnattributedTotal), hint}
}

// fleetUnits reads the post-mortem's units (diagnose.UnitSource) through unit.Fleet: a host's --root
// tree, else — for this host's kills — the running manager or the user's files; another host's unit
// without a tree comes back as a stub with the reason.
type fleetUnits struct{ *unit.Fleet }

func (f fleetUnits) Load(k diagnose.UnitKey, vs []evidence.Violation) (diagnose.Loaded, error) {
	h, m := k.HostOf(), firstManager(vs)
	u, err := f.Fleet.Load(h, k.Unit, k.User, m)
	if err != nil {
		u = f.Stub(h, k.Unit, k.User, m)
	}
	c, cerr := f.Choose(h, u)
	return diagnose.Loaded{Unit: u, Table: c.Table, Note: c.Note, Known: c.Known, LoadErr: err}, cliErr(cerr)
}

func firstManager(vs []evidence.Violation) string {
	for _, v := range vs {
		if v.Manager != "" {
			return v.Manager
		}
	}
	return ""
}
