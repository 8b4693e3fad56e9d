package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// sourceFlags are the evidence sources a command reads. With none given, the host's defaults are read.
type sourceFlags struct {
	auditLogs    []string
	journalDir   string
	journalFiles []string
	kmsg         []string
	exports      []string
}

func (s *sourceFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&s.auditLogs, "audit-log", nil, "read this auditd log (a file or a glob; repeatable; a live log brings its rotations)")
	c.Flags().StringVar(&s.journalDir, "journal-dir", "", "read the journal files in this directory (like journalctl -D)")
	c.Flags().StringArrayVar(&s.journalFiles, "journal-file", nil, "read this journal file (repeatable; like journalctl --file)")
	c.Flags().StringArrayVar(&s.kmsg, "kmsg", nil, "read kernel-log text (dmesg output) from this file (repeatable)")
	c.Flags().StringArrayVar(&s.exports, "journal-export", nil, "read `journalctl -o export` text from this file (repeatable)")
}

func (s *sourceFlags) any() bool {
	return len(s.auditLogs) > 0 || s.journalDir != "" || len(s.journalFiles) > 0 || len(s.kmsg) > 0 || len(s.exports) > 0
}

// wantsJournal reports whether a journal is among the sources.
func (s *sourceFlags) wantsJournal() bool {
	return !s.any() || s.journalDir != "" || len(s.journalFiles) > 0 || len(s.exports) > 0
}

// openJournal opens the journal the flags name: exported text, a directory, files, or the local one.
func (s *sourceFlags) openJournal() (journal.Querier, string, error) {
	if len(s.exports) > 0 {
		m, err := journal.LoadExport(s.exports...)
		return m, "journal export " + strings.Join(s.exports, ", "), err
	}
	src := journal.Source{Dir: s.journalDir, Files: s.journalFiles}
	r, err := journal.Open(src)
	if err != nil {
		return nil, src.String(), err
	}
	return r, src.String(), nil
}

// sourceReport says what one source gave.
type sourceReport struct {
	Name      string `json:"name"`
	Path      string `json:"path,omitempty"`
	Records   int    `json:"records"`
	Malformed int    `json:"malformed,omitempty"`
	TooLong   int    `json:"too_long,omitempty"`
	Error     string `json:"error,omitempty"`
	Default   bool   `json:"-"`
}

// gathered is everything the sources gave for a window.
type gathered struct {
	records []audit.Record
	cores   []journal.Coredump
	exits   []journal.UnitExit
	results []journal.UnitResult
	info    evidence.CoreInfo
	reports []sourceReport
	journal journal.Querier // open when a journal was read; the caller closes it
}

const (
	defaultAuditLog = "/var/log/audit/audit.log"
	// slack widens journal queries: an entry is written a little after the record it carries (journald
	// receives it within milliseconds; seconds on a loaded host). Wider costs: a SystemCallLog= flood
	// puts 100 000 records a second into the journal.
	slack = 10 * time.Second
)

// gather reads every source for window w: the one place the evidence commands touch the host. jr is a
// journal the caller already opened (nil: gather opens the one the flags name).
func gather(sf *sourceFlags, w audit.Window, wantExits bool, jr journal.Querier) (*gathered, error) {
	g := &gathered{info: evidence.CoreInfo{}}
	defaults := !sf.any()
	addRecord := func(r audit.Record) error { g.records = append(g.records, r); return nil }

	logs := sf.auditLogs
	if defaults {
		logs = []string{defaultAuditLog}
	}
	if len(logs) > 0 {
		files, err := audit.LogFiles(logs)
		if err != nil {
			return nil, usageErr(err, "")
		}
		for _, f := range files {
			st, err := audit.ReadLogFile(f, w, addRecord)
			rep := sourceReport{Name: "audit.log", Path: f, Records: st.Records, Malformed: st.Malformed, TooLong: st.TooLong, Default: defaults}
			if err != nil {
				rep.Error = describe(err)
			}
			g.reports = append(g.reports, rep)
		}
	}

	for _, k := range sf.kmsg {
		st, err := audit.ReadKmsgFile(k, w, addRecord)
		rep := sourceReport{Name: "kmsg", Path: k, Records: st.Records, Malformed: st.Malformed, TooLong: st.TooLong}
		if err != nil {
			rep.Error = describe(err)
		}
		g.reports = append(g.reports, rep)
	}
	if defaults {
		st, err := audit.ReadDevKmsg(w, addRecord)
		rep := sourceReport{Name: "kmsg", Path: "/dev/kmsg", Records: st.Records, Malformed: st.Malformed, Default: true}
		if err != nil {
			rep.Error = describe(err)
		}
		g.reports = append(g.reports, rep)
	}

	if sf.wantsJournal() {
		rep := sourceReport{Name: "journal", Default: defaults}
		r, name, err := jr, "the journal", error(nil)
		if r == nil {
			r, name, err = sf.openJournal()
		}
		rep.Path = name
		if err == nil {
			g.journal = r
			err = g.readJournal(r, w, wantExits, &rep)
		}
		if err != nil {
			rep.Error = describe(err)
		}
		g.reports = append(g.reports, rep)
	}

	for _, c := range g.cores {
		if c.Filename == "" {
			continue
		}
		if si, err := journal.ReadCoreSigInfo(c.Filename); err == nil {
			g.info[c.Filename] = si
		}
	}
	return g, nil
}

func (g *gathered) readJournal(r journal.Querier, w audit.Window, wantExits bool, rep *sourceReport) error {
	since, until := w.Since, w.Until
	if !since.IsZero() {
		since = since.Add(-slack)
	}
	if !until.IsZero() {
		until = until.Add(slack)
	}
	rec := func(f journal.Fields) error {
		if r, err := audit.FromJournal(f); err == nil {
			if w.Contains(r.Time) {
				g.records = append(g.records, r)
			}
			rep.Records++
		} else if !errors.Is(err, audit.ErrNotSeccomp) {
			rep.Malformed++
		}
		return nil
	}
	recordFields := r.Only("_TRANSPORT", "_AUDIT_TYPE", "MESSAGE", "_AUDIT_ID", "_SOURCE_REALTIME_TIMESTAMP")
	if err := recordFields.Query([]string{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, since, until, rec); err != nil {
		return err
	}
	if err := recordFields.Query([]string{"_TRANSPORT=kernel"}, since, until, func(f journal.Fields) error {
		if strings.Contains(f["MESSAGE"], "type=1326 audit(") {
			return rec(f)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := r.Query([]string{"MESSAGE_ID=" + journal.MessageCoredump, "COREDUMP_SIGNAL=31"}, since, until, func(f journal.Fields) error {
		c, err := journal.ParseCoredump(f)
		if err != nil {
			rep.Malformed++
			return nil
		}
		g.cores = append(g.cores, c) // COREDUMP_TIMESTAMP is truncated to the second: the merge decides
		return nil
	}); err != nil {
		return err
	}
	if !wantExits {
		return nil
	}
	if err := r.Query([]string{"MESSAGE_ID=" + journal.MessageProcessExit}, since, until, func(f journal.Fields) error {
		if e, err := journal.ParseUnitExit(f); err == nil {
			g.exits = append(g.exits, e)
		}
		return nil
	}); err != nil {
		return err
	}
	return r.Query([]string{"MESSAGE_ID=" + journal.MessageUnitFailed}, since, until, func(f journal.Fields) error {
		if e, err := journal.ParseUnitResult(f); err == nil {
			g.results = append(g.results, e)
		}
		return nil
	})
}

// describe turns a read error into the words a person needs.
func describe(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrNotExist):
		return "not found"
	}
	return err.Error()
}

// warnSources prints, on stderr, which sources could not be read and what was skipped. A default
// source that does not exist on this host (no auditd) is mentioned only when nothing was found.
func warnSources(w io.Writer, reps []sourceReport, found int) (anyRead bool) {
	for _, r := range reps {
		if r.Error == "" {
			anyRead = true
		}
		if r.Malformed > 0 || r.TooLong > 0 {
			fmt.Fprintf(w, "sysdiag: %s %s: skipped %d malformed and %d over-long records\n", r.Name, r.Path, r.Malformed, r.TooLong)
		}
		if r.Error != "" && (!r.Default || found == 0 || r.Error != "not found") {
			fmt.Fprintf(w, "sysdiag: cannot read %s: %s\n", r.Path, r.Error)
		}
	}
	return anyRead
}
