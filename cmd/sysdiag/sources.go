package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// sourceFlags are the evidence sources a command reads. With none given, the host's defaults are read.
type sourceFlags struct {
	auditLogs    []string
	journalDirs  []string
	journalFiles []string
	kmsg         []string
	exports      []string
}

func (s *sourceFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&s.auditLogs, "audit-log", nil, "read this auditd log (a file or a glob; repeatable; a live log brings its rotations)")
	c.Flags().StringArrayVar(&s.journalDirs, "journal-dir", nil, "read the journal files in this directory (like journalctl -D; repeatable; e.g. systemd-journal-remote's /var/log/journal/remote, one file set per host)")
	c.Flags().StringArrayVar(&s.journalFiles, "journal-file", nil, "read this journal file (repeatable; like journalctl --file)")
	c.Flags().StringArrayVar(&s.kmsg, "kmsg", nil, "read kernel-log text (dmesg output) from this file (repeatable)")
	c.Flags().StringArrayVar(&s.exports, "journal-export", nil, "read `journalctl -o export` text from this file (repeatable)")
}

func (s *sourceFlags) any() bool {
	return len(s.auditLogs) > 0 || len(s.journalDirs) > 0 || len(s.journalFiles) > 0 || len(s.kmsg) > 0 || len(s.exports) > 0
}

// wantsJournal reports whether a journal is among the sources.
func (s *sourceFlags) wantsJournal() bool {
	return !s.any() || len(s.journalDirs) > 0 || len(s.journalFiles) > 0 || len(s.exports) > 0
}

// localJournal reports whether the journal read is this host's own (not a copy in files, a directory or
// export text).
func (s *sourceFlags) localJournal() bool {
	return !s.any()
}

// openJournal opens the journal the flags name: exported text, a directory, files, or the local one.
func (s *sourceFlags) openJournal() (journal.Querier, string, error) {
	if len(s.exports) > 0 {
		m, err := journal.LoadExport(s.exports...)
		return m, "journal export " + strings.Join(s.exports, ", "), err
	}
	src := journal.Source{Dirs: s.journalDirs, Files: s.journalFiles}
	r, err := journal.Open(src)
	if err != nil {
		return nil, src.String(), err
	}
	return r, src.String(), nil
}

// sourceReport says what one source gave.
type sourceReport = diagnose.SourceReport

const (
	defaultAuditLog = "/var/log/audit/audit.log"
	// slack widens journal queries: an entry is written a little after the record it carries (journald
	// receives it within milliseconds; seconds on a loaded host). Wider costs: a SystemCallLog= flood
	// puts 100 000 records a second into the journal.
	slack = 10 * time.Second
)

// source is one stream of records, in its own (time) order.
type source struct {
	rep *sourceReport
	run func(add func(audit.Record) error) error
}

// collect reads every source for window w — the one place the evidence commands touch the host — and
// hands the violations to emit, oldest first. The sources are read at once, each in its own order, and
// merged by time, so memory holds the window's coredumps and a few seconds of records, however many
// records the window has. jr is a journal the caller opened (nil: collect opens the one the flags name);
// extra are coredumps the caller already has.
func collect(sf *sourceFlags, w audit.Window, jr journal.Querier, extra []journal.Coredump, emit func(evidence.Violation) error) ([]sourceReport, error) {
	defaults := !sf.any()
	var srcs []source
	var reps []*sourceReport
	add := func(rep *sourceReport, run func(add func(audit.Record) error) error) {
		reps = append(reps, rep)
		srcs = append(srcs, source{rep, run})
	}
	inWindow := func(add func(audit.Record) error) func(audit.Record) error {
		return func(r audit.Record) error {
			if !w.Contains(r.Time) {
				return nil
			}
			return add(r)
		}
	}

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
			rep := &sourceReport{Name: "audit.log", Path: f, Default: defaults}
			add(rep, func(fn func(audit.Record) error) error {
				st, err := audit.ReadLogFile(f, w, fn)
				rep.Records, rep.Malformed, rep.TooLong = st.Records, st.Malformed, st.TooLong
				return err
			})
		}
	}
	for _, k := range sf.kmsg {
		rep := &sourceReport{Name: "kmsg", Path: k}
		add(rep, func(fn func(audit.Record) error) error {
			st, err := audit.ReadKmsgFile(k, w, fn)
			rep.Records, rep.Malformed, rep.TooLong = st.Records, st.Malformed, st.TooLong
			return err
		})
	}
	if defaults {
		rep := &sourceReport{Name: "kmsg", Path: "/dev/kmsg", Default: true}
		add(rep, func(fn func(audit.Record) error) error {
			st, err := audit.ReadDevKmsg(w, fn)
			rep.Records, rep.Malformed = st.Records, st.Malformed
			return err
		})
	}

	cores := append([]journal.Coredump(nil), extra...)
	var info evidence.CoreInfo
	if sf.wantsJournal() {
		rep := &sourceReport{Name: "journal", Default: defaults}
		reps = append(reps, rep)
		r, name, err := jr, "the journal", error(nil)
		if r == nil {
			r, name, err = sf.openJournal()
			if err == nil {
				defer r.Close()
			}
		}
		rep.Path = name
		since, until := w.Since, w.Until
		if !since.IsZero() {
			since = since.Add(-slack)
		}
		if !until.IsZero() {
			until = until.Add(slack)
		}
		if err == nil {
			err = r.Query([]string{"MESSAGE_ID=" + journal.MessageCoredump, "COREDUMP_SIGNAL=31"}, since, until, func(f journal.Fields) error {
				if c, err := journal.ParseCoredump(f); err == nil {
					cores = append(cores, c) // COREDUMP_TIMESTAMP is truncated to the second: the merge decides
				} else {
					rep.Malformed++
				}
				return nil
			})
		}
		if err != nil {
			rep.Error = describe(err)
		} else {
			// The audit and kernel transports: each its own stream, so each its own journal handle.
			for _, q := range [][]string{{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, {"_TRANSPORT=kernel"}} {
				q := q
				srcs = append(srcs, source{rep, func(fn func(audit.Record) error) error {
					jq, _, err := sf.openJournal()
					if err != nil {
						return err
					}
					defer jq.Close()
					return jq.Only("_TRANSPORT", "_AUDIT_TYPE", "MESSAGE", "_AUDIT_ID", "_SOURCE_REALTIME_TIMESTAMP", "_HOSTNAME", "_MACHINE_ID").
						Query(q, since, until, func(f journal.Fields) error {
							if f["_TRANSPORT"] == "kernel" && !strings.Contains(f["MESSAGE"], "type=1326 audit(") {
								return nil
							}
							r, err := audit.FromJournal(f)
							if err != nil {
								if !errors.Is(err, audit.ErrNotSeccomp) {
									countMalformed(rep)
								}
								return nil
							}
							// Another host's journal (journal-remote's, a copy): the record is its host's.
							r.Node, r.Machine = f["_HOSTNAME"], f["_MACHINE_ID"]
							countRecord(rep)
							if err := fn(r); err == audit.ErrStop {
								return journal.ErrStop
							} else {
								return err
							}
						})
				}})
			}
		}
	}
	// A core file is read only for a coredump without a record, and only when the journal is this host's:
	// a copied journal's COREDUMP_FILENAME names a file on another host.
	if sf.localJournal() {
		info = func(c *journal.Coredump) (journal.SigInfo, bool) {
			si, err := journal.ReadCoreSigInfo(c.Filename)
			return si, err == nil
		}
	}

	// Every source at once; their records merged by time into the Merger.
	// Coredumps were read with slack around the window: only violations in it go on (a coredump's own
	// time is truncated to the second).
	m := evidence.NewMerger(evidence.UniqueCores(cores), info, func(v evidence.Violation) error {
		if !w.Contains(v.Time) && !(v.CoarseTime && w.Contains(v.Time.Add(time.Second))) {
			return nil
		}
		return emit(v)
	})
	chans := make([]chan audit.Record, len(srcs))
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range srcs {
		ch := make(chan audit.Record, 256)
		chans[i] = ch
		wg.Add(1)
		go func(s source) {
			defer wg.Done()
			defer close(ch)
			err := s.run(inWindow(func(r audit.Record) error {
				select {
				case ch <- r:
					return nil
				case <-done:
					return audit.ErrStop
				}
			}))
			if err != nil {
				setError(s.rep, describe(err))
			}
		}(s)
	}
	heads := make([]*audit.Record, len(chans))
	next := func(i int) {
		if r, ok := <-chans[i]; ok {
			heads[i] = &r
		} else {
			heads[i] = nil
		}
	}
	for i := range chans {
		next(i)
	}
	var emitErr error
	for emitErr == nil {
		best := -1
		for i, h := range heads {
			if h != nil && (best < 0 || h.Time.Before(heads[best].Time)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		emitErr = m.Add(*heads[best])
		next(best)
	}
	if emitErr == nil {
		emitErr = m.Flush()
	}
	close(done)
	for _, ch := range chans { // let every source end
		for range ch {
		}
	}
	wg.Wait()
	out := make([]sourceReport, len(reps))
	for i, r := range reps {
		out[i] = *r
	}
	return out, emitErr
}

var repMu sync.Mutex

func countRecord(r *sourceReport)          { repMu.Lock(); r.Records++; repMu.Unlock() }
func countMalformed(r *sourceReport)       { repMu.Lock(); r.Malformed++; repMu.Unlock() }
func setError(r *sourceReport, msg string) { repMu.Lock(); r.Error = msg; repMu.Unlock() }

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
