package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/timespec"
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
	opts.sources.register(c)
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

// writeEventsJSON writes {"systemd_version", "table", "violations": […], "sources": […]}, one violation
// at a time: a flood of millions of records must not be held twice, as values and as one JSON buffer.
func writeEventsJSON(w io.Writer, t syscalls.Table, vs []evidence.Violation, reports []sourceReport) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	head, _ := json.Marshal(map[string]string{"systemd_version": t.Requested.String(), "table": t.Label()})
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"violations":[`)
	for i, v := range vs {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n  ")
		b, err := json.Marshal(toJSON(v, t))
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString("\n],\"sources\":")
	b, err := json.Marshal(reports)
	if err != nil {
		return err
	}
	bw.Write(b)
	bw.WriteString("}\n")
	return bw.Flush()
}

func runEvents(stdout, stderr io.Writer, opts *eventsOptions, now time.Time) error {
	w, err := parseWindow(opts.since, opts.until, now)
	if err != nil {
		return err
	}
	if opts.syscall != "" && !syscalls.IsSyscall(opts.syscall) {
		return usageErr(fmt.Errorf("--syscall: unknown syscall %q", opts.syscall), "")
	}
	t, _, err := systemdTable(opts.systemdVersion)
	if err != nil {
		return err
	}
	g, err := gather(&opts.sources, w, false, nil)
	if err != nil {
		return err
	}
	if g.journal != nil {
		defer g.journal.Close()
	}
	f := evidence.Filter{Unit: opts.unit, PID: opts.pid, Exe: opts.exe, Syscall: opts.syscall, Window: w}
	var vs []evidence.Violation
	for _, v := range evidence.Merge(g.records, g.cores, g.info) {
		if f.Match(v) {
			vs = append(vs, v)
		}
	}
	anyRead := warnSources(stderr, g.reports, len(vs))
	if !anyRead {
		return failureErr(fmt.Errorf("no source could be read"), "run as root, or name copied logs with --audit-log, --journal-dir or --kmsg")
	}
	if opts.json {
		if err := writeEventsJSON(stdout, t, vs, g.reports); err != nil {
			return err
		}
	} else if len(vs) > 0 {
		if err := printEvents(stdout, vs, t); err != nil {
			return err
		}
	}
	if len(vs) == 0 {
		var read []string
		for _, r := range g.reports {
			if r.Error == "" {
				read = append(read, r.Path)
			}
		}
		return notFoundErr(fmt.Errorf("no seccomp violations found"), "searched "+strings.Join(read, ", ")+windowText(w))
	}
	return nil
}

func windowText(w audit.Window) string {
	var s string
	if !w.Since.IsZero() {
		s += " since " + w.Since.Format("2006-01-02 15:04:05")
	}
	if !w.Until.IsZero() {
		s += " until " + w.Until.Format("2006-01-02 15:04:05")
	}
	return s
}

func printEvents(w io.Writer, vs []evidence.Violation, t syscalls.Table) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUNIT\tPID\tEXE\tSYSCALL\tGROUP\tACTION\tSOURCES")
	for _, v := range vs {
		unit := v.Unit
		if unit == "" {
			unit = "-"
		} else if v.UserUnit {
			unit += " (user)"
		}
		sc := "?"
		if v.Known() {
			name := v.Name
			if name == "" {
				name = "unknown"
			}
			sc = fmt.Sprintf("%s (%s %d)", name, v.Arch, v.Syscall)
		}
		group := "-"
		if gs := groupNames(v, t); len(gs) > 0 {
			group = gs[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.Time.Local().Format("2006-01-02 15:04:05.000"),
			clean(unit), v.PID, clean(v.Exe), sc, group, v.Action, strings.Join(v.Sources, ","))
	}
	return tw.Flush()
}
