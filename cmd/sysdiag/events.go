package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
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

// eventsWriter prints violations as they come.
type eventsWriter interface {
	write(evidence.Violation) error
	close(reports []sourceReport) error
}

// eventsJSON writes {"systemd_version", "table", "violations": […], "sources": […]}, one violation at a time.
type eventsJSON struct {
	w *bufio.Writer
	t syscalls.Table
	n int
}

func newEventsJSON(w io.Writer, t syscalls.Table) *eventsJSON {
	bw := bufio.NewWriterSize(w, 1<<16)
	head, _ := json.Marshal(map[string]string{"systemd_version": t.Requested.String(), "table": t.Label()})
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"violations":[`)
	return &eventsJSON{w: bw, t: t}
}

func (e *eventsJSON) write(v evidence.Violation) error {
	if e.n > 0 {
		e.w.WriteByte(',')
	}
	e.n++
	e.w.WriteString("\n  ")
	b, err := json.Marshal(diagnose.ViolationOf(v, e.t))
	if err != nil {
		return err
	}
	_, err = e.w.Write(b)
	return err
}

func (e *eventsJSON) close(reports []sourceReport) error {
	e.w.WriteString("\n],\"sources\":")
	b, err := json.Marshal(reports)
	if err != nil {
		return err
	}
	e.w.Write(b)
	e.w.WriteString("}\n")
	return e.w.Flush()
}

// eventsTable writes the human table; it aligns columns over blocks of rows, flushed as it goes.
type eventsTable struct {
	bw *bufio.Writer // the tabwriter writes each cell on its own: ~16 writes a row unbuffered
	tw *tabwriter.Writer
	t  syscalls.Table
	n  int
}

func newEventsTable(w io.Writer, t syscalls.Table) *eventsTable {
	bw := bufio.NewWriterSize(w, 1<<16)
	return &eventsTable{bw: bw, tw: tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0), t: t}
}

// flush hands what is aligned so far on (every 1000 rows, and at the end).
func (e *eventsTable) flush() error {
	if err := e.tw.Flush(); err != nil {
		return err
	}
	return e.bw.Flush()
}

func (e *eventsTable) write(v evidence.Violation) error {
	if e.n == 0 {
		fmt.Fprintln(e.tw, "TIME\tUNIT\tPID\tEXE\tSYSCALL\tGROUP\tACTION\tSOURCES")
	}
	e.n++
	unit := v.Unit
	if unit == "" {
		unit = "-"
	} else if v.UserUnit {
		unit += " (user)"
	}
	sc := diagnose.UnknownCall // known only from a coredump: no record names the call
	if v.Known() {
		name := v.Name
		if name == "" {
			name = "unknown"
		}
		sc = fmt.Sprintf("%s (%s %d)", name, v.Arch, v.Syscall)
	}
	group := "-"
	if gs := diagnose.GroupNames(v, e.t); len(gs) > 0 {
		group = gs[0]
	}
	fmt.Fprintf(e.tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.Time.Local().Format("2006-01-02 15:04:05.000"),
		clean(unit), v.PID, clean(v.Exe), sc, group, v.Action, strings.Join(v.Sources, ","))
	if e.n%1000 == 0 {
		return e.flush()
	}
	return nil
}

func (e *eventsTable) close([]sourceReport) error { return e.flush() }

func runEvents(stdout, stderr io.Writer, opts *eventsOptions, now time.Time) error {
	w, err := parseWindow(opts.since, opts.until, now)
	if err != nil {
		return err
	}
	if err := checkUnitPattern(opts.unit); err != nil {
		return err
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
	n := 0
	var out eventsWriter
	if opts.json {
		out = newEventsJSON(stdout, t)
	} else {
		out = newEventsTable(stdout, t)
	}
	emit := func(v evidence.Violation) error {
		if !f.Match(v) {
			return nil
		}
		n++
		return out.write(v)
	}
	sf := &opts.sources
	var jr journal.Querier
	var stream *attribute.Stream
	if sf.WantsJournal() {
		// No readable journal: no exits and no process entries to tie kills by; the sources say why.
		if r, _, err := sf.OpenJournal(); err == nil {
			defer r.Close()
			jr = r
			units := &unit.Fleet{Here: unit.ThisHost(), Tables: tables}
			stream, err = attribute.NewStream(r, w, units.Programs, sf.LocalJournal() && !initialPIDNamespace(), attribute.DefaultStreamLimits, emit)
			if err != nil {
				return failureErr(err, "")
			}
			emit = stream.Add
		}
	}
	reports, err := collect(sf, w, jr, nil, emit)
	if err == nil && stream != nil {
		err = stream.Flush()
	}
	if err != nil {
		return err
	}
	read := warnSources(stderr, reports, n)
	// The document is closed whatever happened to the sources: what was printed stays valid JSON, and
	// its "sources" say which were read only in part.
	if err := out.close(reports); err != nil {
		return err
	}
	if !read.any {
		return failureErr(fmt.Errorf("no source could be read"), "run as root, or name copied logs with --audit-log, --journal-dir or --kmsg")
	}
	if err := partialErr(read); err != nil {
		return err
	}
	if n == 0 {
		var read []string
		for _, r := range reports {
			if r.Error == "" {
				read = append(read, r.Path)
			}
		}
		return notFoundErr(fmt.Errorf("no seccomp violations found"), "searched "+strings.Join(slices.Compact(slices.Sorted(slices.Values(read))), ", ")+windowText(w))
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

// checkUnitPattern refuses a --unit glob that can match nothing because it is malformed ("["): a usage
// error, not "nothing found".
func checkUnitPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return usageErr(fmt.Errorf("--unit %q: %w", p, err), "--unit takes a unit name or a shell glob such as 'nginx*'")
	}
	return nil
}
