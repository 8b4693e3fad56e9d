package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/live"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

type watchOptions struct {
	filter                  diagnose.WatchFilter // --unit, --syscall, --action
	since, source, auditLog string
	roots, versions         []string // "DIR", "V" for every host, or "HOST=DIR", "HOST=V" (hostname or machine id)
	journalDirs             []string // a fleet's journals (systemd-journal-remote's directory), followed as they grow
	json                    bool
}

func newWatchCmd() *cobra.Command {
	opts := &watchOptions{}
	c := &cobra.Command{
		Use:   "watch",
		Short: "Follow seccomp violations live, attribute them to units and diagnose each",
		Long: `Follow the kernel's SECCOMP records as they happen and print, per violation, the unit, the syscall
with its group, what blocked it and the drop-in that would fix it. Repeats of the same (unit, syscall)
are folded into a count; Ctrl-C (or SIGTERM) prints a summary per unit.

Sources, in order of preference (--source auto): the audit netlink multicast group (read-only, next to a
running auditd; needs CAP_AUDIT_READ), journald's audit transport, then /var/log/audit/audit.log (surviving
rotation). The one in use is named on stderr. A process is attributed to its unit from its cgroup the
moment its record arrives (it is still alive while its core is dumped); a kill whose process was already
gone waits up to 3 s for the journal entries that tie it the way why does: systemd-coredump's entry, the
manager's SIGSYS exit entry, the process's own lines.

With --journal-dir (repeatable), watch follows those journals instead — a systemd-journal-remote server's
/var/log/journal/remote, appended to as hosts send: each violation comes with its host (hostname and
machine id), its unit from that host's coredump entry, that host's systemd version (from its journal),
and, where --root HOST=DIR gives a copy of its unit files, its line and fix.`,
		Example: `  $ sysdiag watch
  $ sysdiag watch --unit 'nginx*' --json
  $ sysdiag watch --action all --since "5 min ago"
  $ sysdiag watch --journal-dir /var/log/journal/remote --root web1=/srv/trees/web1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runWatch(ctx, c.OutOrStdout(), c.ErrOrStderr(), opts)
		},
	}
	c.Flags().StringVarP(&opts.filter.Unit, "unit", "u", "", "only units matching this glob")
	c.Flags().StringVar(&opts.filter.Syscall, "syscall", "", "only this syscall (name)")
	c.Flags().StringVar(&opts.filter.Action, "action", "kill", "which records: kill, log (SystemCallLog=) or all")
	c.Flags().StringVarP(&opts.since, "since", "S", "", "first replay violations since this time from the journal, then follow")
	c.Flags().StringArrayVar(&opts.roots, "root", nil, "read unit files under this directory instead of asking the manager; HOST=DIR for one host's (hostname or machine id), repeatable")
	c.Flags().StringArrayVar(&opts.journalDirs, "journal-dir", nil, "follow the journals in this directory (a fleet's, from systemd-journal-remote; repeatable) instead of this host's sources")
	c.Flags().StringArrayVar(&opts.versions, "systemd-version", nil, "the units' systemd version (default: the manager's, the host's journal's, or the local systemd); HOST=V for one host's, repeatable")
	c.Flags().StringVar(&opts.source, "source", "auto", "where to follow records: auto, netlink, journal or audit-log")
	c.Flags().StringVar(&opts.auditLog, "audit-log", defaultAuditLog, "the log --source audit-log follows")
	c.Flags().BoolVar(&opts.json, "json", false, "one JSON object per line, flushed")
	return c
}

func runWatch(ctx context.Context, stdout, stderr io.Writer, opts *watchOptions) error {
	if err := opts.filter.Check(); err != nil {
		return usageErr(err, "")
	}
	units, err := newFleet(opts.roots, opts.versions)
	if err != nil {
		return err
	}
	switch opts.source {
	case "auto", sources.LiveNetlink, sources.LiveJournal, sources.LiveAuditLog:
		if len(opts.journalDirs) > 0 && opts.source != "auto" {
			return usageErr(fmt.Errorf("--journal-dir and --source %s: --journal-dir is the source", opts.source), "")
		}
	default:
		return usageErr(fmt.Errorf("--source %q: want auto, netlink, journal or audit-log", opts.source), "")
	}
	if len(opts.journalDirs) > 0 { // a fleet's: each host's systemd, from its manager's start-up lines
		if r, err := journal.Open(journal.Source{Dirs: opts.journalDirs}); err == nil {
			starts, _ := journal.ManagerStarts(r, time.Time{})
			units.Journals = diagnose.ManagerVersions(starts)
			r.Close()
		}
	}
	local, err := units.Choose(journal.Host{}, nil)
	if err != nil {
		return cliErr(err)
	}
	out := &render.Watch{Out: stdout, Err: stderr, JSON: opts.json}
	w := &diagnose.Watch{Filter: opts.filter, Units: units, Table: local.Table, Host: syscalls.HostArch(), Show: out.Violation}
	if opts.since != "" { // first the replay, in order
		win, err := parseWindow(opts.since, "", time.Now())
		if err == nil {
			win.Until = time.Now()
			_, err = collect(&sourceFlags{JournalDirs: opts.journalDirs}, win, nil, nil, func(v evidence.Violation) error { w.Handle(v, false); return nil })
		}
		if err != nil {
			return err
		}
	}

	lost := func(l sources.Loss) { w.Lost(l.Kernel, l.Overflows); out.Loss(l.Kernel, l.Overflows) }
	plan := sources.FollowPlan{Source: opts.source, AuditLog: opts.auditLog, JournalDirs: opts.journalDirs, OnLoss: lost}
	pipe, err := live.Open(ctx, live.Config{Plan: plan, Units: units, Proc: os.DirFS("/proc"), InitialNS: initialPIDNamespace()})
	switch {
	case err != nil && len(plan.JournalDirs) > 0:
		return failureErr(err, "")
	case err != nil && plan.Source == sources.LiveNetlink:
		return failureErr(err, "needs CAP_AUDIT_READ (root); or use --source journal")
	case err != nil:
		return failureErr(err, "run as root")
	}
	w.Start()
	out.Source(pipe.Live.String())
	go sources.WatchLost(ctx, lost) // the kernel's lost-record counter (read-only AUDIT_GET; never SetPID)
	ended := pipe.Run(func(v evidence.Violation) { w.Handle(v, true) })
	w.Drain()
	out.Summary(w.Summary())
	if ended != nil {
		return failureErr(fmt.Errorf("stopped following %s: %w", pipe.Live, ended), "")
	}
	return nil
}
