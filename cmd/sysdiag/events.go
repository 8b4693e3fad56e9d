package main

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/internal/timespec"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

type eventsOptions struct {
	since, until   string
	unit, exe      string
	syscall        string
	pid            int
	systemdVersion string
	json           bool
	sources        sourceFlags
}

func newEventsCmd() *cobra.Command {
	opts := &eventsOptions{}
	c := &cobra.Command{
		Use:   "events",
		Short: "List seccomp violations from every source, with units and @groups",
		Long: `List seccomp violations (kills and logged calls), oldest first: time, unit, pid, exe, the syscall
with its arch, its smallest @group, the action, and every source that saw it. The ausearch -m SECCOMP
replacement that knows units and groups.

Sources, with no source flag: /var/log/audit/audit.log and its rotations, the kernel log (/dev/kmsg),
and the local journal (its audit and kernel transports, and systemd-coredump entries). With source
flags, only those: logs and journals copied from other hosts work.`,
		Example: `  $ sysdiag events --since "10 min ago"
  $ sysdiag events --unit 'nginx*' --since today --json
  $ sysdiag events --audit-log /srv/logs/host1/audit.log --journal-dir /srv/logs/host1/journal`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runEvents(c.OutOrStdout(), c.ErrOrStderr(), opts, time.Now())
		},
	}
	c.Flags().StringVarP(&opts.since, "since", "S", "", `show violations at or after this time ("2026-11-22 10:00", "10 min ago", "today", "@EPOCH")`)
	c.Flags().StringVarP(&opts.until, "until", "U", "", "show violations at or before this time")
	c.Flags().StringVarP(&opts.unit, "unit", "u", "", "only this unit (a glob: 'nginx*')")
	c.Flags().IntVar(&opts.pid, "pid", 0, "only this process id")
	c.Flags().StringVar(&opts.exe, "exe", "", "only this executable (path or glob)")
	c.Flags().StringVar(&opts.syscall, "syscall", "", "only this syscall (name)")
	c.Flags().StringVar(&opts.systemdVersion, "systemd-version", "", "systemd version whose @groups to show (default: the local systemd)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	registerSources(c, &opts.sources)
	return c
}

// parseWindow turns --since/--until into a window.
func parseWindow(since, until string, now time.Time) (audit.Window, error) {
	var w audit.Window
	var err error
	if since != "" {
		if w.Since, err = timespec.Parse(since, now); err != nil {
			return w, usageErr(fmt.Errorf("--since: %w", err), "")
		}
	}
	if until != "" {
		if w.Until, err = timespec.Parse(until, now); err != nil {
			return w, usageErr(fmt.Errorf("--until: %w", err), "")
		}
	}
	if !w.Since.IsZero() && !w.Until.IsZero() && w.Until.Before(w.Since) {
		return w, usageErr(fmt.Errorf("--until is before --since"), "")
	}
	return w, nil
}

func runEvents(stdout, stderr io.Writer, opts *eventsOptions, now time.Time) error {
	w, err := parseWindow(opts.since, opts.until, now)
	if err != nil {
		return err
	}
	if _, err := path.Match(opts.unit, ""); err != nil { // malformed ("["): it could match nothing
		return usageErr(fmt.Errorf("--unit %q: %w", opts.unit, err), "--unit takes a unit name or a shell glob such as 'nginx*'")
	}
	if opts.syscall != "" && !syscalls.IsSyscall(opts.syscall) {
		return usageErr(fmt.Errorf("--syscall: unknown syscall %q", opts.syscall), "")
	}
	t, _, err := systemdTable(opts.systemdVersion)
	if err != nil {
		return err
	}
	f := evidence.Filter{Unit: opts.unit, PID: opts.pid, Exe: opts.exe, Syscall: opts.syscall, Window: w}
	// Violations stream from the merge to the output: a flood of records is never held. Only a kill that
	// a unit's SIGSYS exit may claim waits, for the kills near it (attribute.Stream).
	n, out := 0, render.NewEvents(stdout, t, opts.json)
	emit := func(v evidence.Violation) error {
		if !f.Match(v) {
			return nil
		}
		n++
		return out.Write(v)
	}
	sf := &opts.sources
	var jr journal.Querier
	var stream *attribute.Stream
	// No readable journal: no exits and no process entries to tie kills by; the sources say why.
	if r, err := openJournal(sf); err == nil && r != nil {
		defer r.Close()
		jr = r
		units := &unit.Fleet{Here: unit.ThisHost(), Tables: tables}
		if stream, err = attribute.NewStream(r, w, units.Programs, sf.LocalJournal() && !initialPIDNamespace(), attribute.DefaultStreamLimits, emit); err != nil {
			return failureErr(err, "")
		}
		emit = stream.Add
	}
	reports, err := collect(sf, w, jr, nil, emit)
	if err == nil && stream != nil {
		err = stream.Flush()
	}
	if err != nil {
		return err
	}
	partial := warnSources(stderr, reports, n)
	if err := out.Close(reports); err != nil { // whatever happened to the sources: the JSON stays valid
		return err
	}
	read := sources.ReadOf(reports)
	if !read.Any {
		return failureErr(fmt.Errorf("no source could be read"), "run as root, or name copied logs with --audit-log, --journal-dir or --kmsg")
	}
	if partial != nil || n > 0 {
		return partial
	}
	return notFoundErr(fmt.Errorf("no seccomp violations found"), "searched "+strings.Join(read.Paths, ", ")+render.WindowText(w))
}
