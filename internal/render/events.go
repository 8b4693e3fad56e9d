package render

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Events prints events' violations as they come, then closes the output with the sources' reports.
type Events interface {
	Write(evidence.Violation) error
	// Close ends the output whatever happened to the sources: what was printed stays valid JSON, and
	// its "sources" say which were read only in part.
	Close(reports []sources.Report) error
}

// NewEvents is events' output on w, the groups named from t: the table, or with asJSON the document.
func NewEvents(w io.Writer, t syscalls.Table, asJSON bool) Events {
	if asJSON {
		return NewEventsJSON(w, t)
	}
	return NewEventsTable(w, t)
}

// EventsJSON writes {"systemd_version", "table", "violations": […], "sources": […]}, one violation at a time.
type EventsJSON struct {
	w *bufio.Writer
	t syscalls.Table
	n int
}

func NewEventsJSON(w io.Writer, t syscalls.Table) *EventsJSON {
	bw := bufio.NewWriterSize(w, 1<<16)
	head, _ := json.Marshal(map[string]string{"systemd_version": t.Requested.String(), "table": t.Label()})
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"violations":[`)
	return &EventsJSON{w: bw, t: t}
}

func (e *EventsJSON) Write(v evidence.Violation) error {
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

func (e *EventsJSON) Close(reports []sources.Report) error {
	e.w.WriteString("\n],\"sources\":")
	b, err := json.Marshal(reports)
	if err != nil {
		return err
	}
	e.w.Write(b)
	e.w.WriteString("}\n")
	return e.w.Flush()
}

// EventsTable writes the human table; it aligns columns over blocks of rows, flushed as it goes.
type EventsTable struct {
	bw *bufio.Writer // the tabwriter writes each cell on its own: ~16 writes a row unbuffered
	tw *tabwriter.Writer
	t  syscalls.Table
	n  int
}

func NewEventsTable(w io.Writer, t syscalls.Table) *EventsTable {
	bw := bufio.NewWriterSize(w, 1<<16)
	return &EventsTable{bw: bw, tw: tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0), t: t}
}

// flush hands what is aligned so far on (every 1000 rows, and at the end).
func (e *EventsTable) flush() error {
	if err := e.tw.Flush(); err != nil {
		return err
	}
	return e.bw.Flush()
}

func (e *EventsTable) Write(v evidence.Violation) error {
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
		Clean(unit), v.PID, Clean(v.Exe), sc, group, v.Action, strings.Join(v.Sources, ","))
	if e.n%1000 == 0 {
		return e.flush()
	}
	return nil
}

func (e *EventsTable) Close([]sources.Report) error { return e.flush() }
