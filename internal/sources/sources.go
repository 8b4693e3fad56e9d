// Package sources plans and reads the evidence of a window: the audit logs, kernel logs and journals a
// command was pointed at (or the host's defaults), each read in its own order at once and merged by time
// into a sink (evidence.Collect makes it violations), with a report of what each source gave. It is the one place the
// evidence commands read the host's logs. The live half (live.go) follows them as they grow, for watch
// and trial: OpenLive picks the source (the audit multicast group, journald's audit transport, the audit
// log, or a fleet's journals), FollowFacts the journal entries that tie a kill to its unit, WatchLost the
// kernel's lost counter. Batch and live sources run alike, as a Source. The package never prints: losses
// and failures come back to the caller.
package sources

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
)

// Plan is the evidence sources a command reads. With none given, the host's defaults are read:
// /var/log/audit/audit.log, /dev/kmsg and the local journal.
type Plan struct {
	AuditLogs    []string // files or globs; a live log brings its rotations
	JournalDirs  []string // journalctl -D, repeatable (systemd-journal-remote's directory of several hosts)
	JournalFiles []string // journalctl --file
	Kmsg         []string // dmesg text
	Exports      []string // journalctl -o export text
}

// Any reports whether any source was named (else the host's defaults are read).
func (s *Plan) Any() bool {
	return len(s.AuditLogs) > 0 || len(s.JournalDirs) > 0 || len(s.JournalFiles) > 0 || len(s.Kmsg) > 0 || len(s.Exports) > 0
}

// WantsJournal reports whether a journal is among the sources.
func (s *Plan) WantsJournal() bool {
	return !s.Any() || len(s.JournalDirs) > 0 || len(s.JournalFiles) > 0 || len(s.Exports) > 0
}

// LocalJournal reports whether the journal read is this host's own (not a copy in files, a directory or
// export text).
func (s *Plan) LocalJournal() bool {
	return !s.Any()
}

// OpenJournal opens the journal the plan names: exported text, directories, files, or the local one.
func (s *Plan) OpenJournal() (journal.Querier, string, error) {
	if len(s.Exports) > 0 {
		m, err := journal.LoadExport(s.Exports...)
		return m, "journal export " + strings.Join(s.Exports, ", "), err
	}
	src := journal.Source{Dirs: s.JournalDirs, Files: s.JournalFiles}
	r, err := journal.Open(src)
	if err != nil {
		return nil, src.String(), err
	}
	return r, src.String(), nil
}

// SourceReport says what one evidence source gave.
type Report struct {
	Name      string `json:"name"`
	Path      string `json:"path,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"` // bytes read (audit.log, kmsg text)
	Records   int    `json:"records"`
	Malformed int    `json:"malformed,omitempty"`
	TooLong   int    `json:"too_long,omitempty"` // lines over the reader's bound, skipped
	// OutOfWindow: records outside --since/--until, skipped (a record dated far ahead by a clock step
	// never stops the read: it is counted here).
	OutOfWindow int    `json:"out_of_window,omitempty"`
	Error       string `json:"error,omitempty"`
	// Partial: the source failed after records were read from it (a log truncated while it was read):
	// what it gave is in the answer, what came after the failure is not.
	Partial bool `json:"partial,omitempty"`
	// Skipped says what else was left out and why, in words ("2 entries cut off by the end of the
	// file"): nothing found is dropped without being counted and said.
	Skipped []string `json:"skipped,omitempty"`
	Default bool     `json:"-"`
}

// BadInputError is a source the user named wrongly (a glob that matches nothing, say): a usage error.
type BadInputError struct{ Err error }

func (e *BadInputError) Error() string { return e.Err.Error() }
func (e *BadInputError) Unwrap() error { return e.Err }

const (
	DefaultAuditLog = "/var/log/audit/audit.log"
	// Slack widens journal queries: an entry is written a little after the record it carries (journald
	// receives it within milliseconds; seconds on a loaded host). Wider costs: a SystemCallLog= flood
	// puts 100 000 records a second into the journal.
	Slack = 10 * time.Second
)

// source is one stream of records, in its own (time) order.
type source struct {
	rep *Report
	run func(add func(audit.Record) error) error
}

// Sink takes the records of every source, merged by time (evidence.Merger turns them into violations).
type Sink interface {
	Add(audit.Record) error
	Flush() error
}

// CoreInfo reads what a coredump's stored core says (its NT_SIGINFO), ok false when there is none.
type CoreInfo = func(c *journal.Coredump) (journal.SigInfo, bool)

// Records reads every source for window w — the one place the evidence commands touch the host — and hands
// their records, oldest first, to the sink that sink makes from the window's SIGSYS coredumps (extra are
// coredumps the caller already has) and a core-file reader (nil: none may be read). The sources are read
// at once, each in its own order, and merged by time, so memory holds the window's coredumps and a few
// seconds of records, however many records the window has. jr is a journal the caller opened (nil: it
// opens the one the flags name).
func Records(sf *Plan, w audit.Window, jr journal.Querier, extra []journal.Coredump, sink func(cores []journal.Coredump, info CoreInfo) Sink) ([]Report, error) {
	defaults := !sf.Any()
	var srcs []source
	var reps []*Report
	add := func(rep *Report, run func(add func(audit.Record) error) error) {
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

	logs := sf.AuditLogs
	if defaults {
		logs = []string{DefaultAuditLog}
	}
	if len(logs) > 0 {
		files, skipped, err := audit.FindLogFiles(logs)
		if err != nil {
			return nil, &BadInputError{err}
		}
		for _, sk := range skipped { // a FIFO named like a rotation is never opened: it would block the read
			reps = append(reps, &Report{Name: "audit.log", Path: sk.Path, Skipped: []string{sk.Why + ", not a log: not read"}})
		}
		for _, f := range files {
			rep := &Report{Name: "audit.log", Path: f.Path, Default: defaults}
			add(rep, func(fn func(audit.Record) error) error {
				st, err := f.Read(w, fn)
				rep.Bytes, rep.Records, rep.Malformed, rep.TooLong, rep.OutOfWindow = st.Bytes, st.Records, st.Malformed, st.TooLong, st.OutOfWindow
				return err
			})
		}
	}
	for _, k := range sf.Kmsg {
		rep := &Report{Name: "kmsg", Path: k}
		add(rep, func(fn func(audit.Record) error) error {
			if filepath.Clean(k) == "/dev/kmsg" { // the live kernel log: drained, not followed
				st, err := audit.ReadDevKmsg(w, fn)
				rep.Records, rep.Malformed = st.Records, st.Malformed
				return err
			}
			st, err := audit.ReadKmsgFile(k, w, fn)
			rep.Bytes, rep.Records, rep.Malformed, rep.TooLong, rep.OutOfWindow = st.Bytes, st.Records, st.Malformed, st.TooLong, st.OutOfWindow
			return err
		})
	}
	if defaults {
		rep := &Report{Name: "kmsg", Path: "/dev/kmsg", Default: true}
		add(rep, func(fn func(audit.Record) error) error {
			st, err := audit.ReadDevKmsg(w, fn)
			rep.Records, rep.Malformed = st.Records, st.Malformed
			return err
		})
	}

	cores := append([]journal.Coredump(nil), extra...)
	var info CoreInfo
	if sf.WantsJournal() {
		rep := &Report{Name: "journal", Default: defaults}
		reps = append(reps, rep)
		r, name, err := jr, "the journal", error(nil)
		if len(sf.Exports) > 0 {
			name = "journal export " + strings.Join(sf.Exports, ", ")
		}
		if r == nil {
			r, name, err = sf.OpenJournal()
			if err == nil {
				defer r.Close()
			}
		}
		rep.Path = name
		if m, ok := r.(*journal.Memory); ok && err == nil {
			rep.Skipped = ExportSkipped(m.Stats())
		}
		since, until := w.Since, w.Until
		if !since.IsZero() {
			since = since.Add(-Slack)
		}
		if !until.IsZero() {
			until = until.Add(Slack)
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
			rep.Error = Describe(err)
		} else {
			// The audit and kernel transports: each its own stream, so each its own journal handle.
			for _, q := range [][]string{{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, {"_TRANSPORT=kernel"}} {
				q := q
				srcs = append(srcs, source{rep, func(fn func(audit.Record) error) error {
					jq, _, err := sf.OpenJournal()
					if err != nil {
						return err
					}
					defer jq.Close()
					return jq.Only(journal.AuditFields...).
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
							StampHost(&r, f)
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
	if sf.LocalJournal() {
		info = func(c *journal.Coredump) (journal.SigInfo, bool) {
			si, err := journal.ReadCoreSigInfo(c.Filename)
			return si, err == nil
		}
	}

	// Every source at once; their records merged by time into the sink.
	m := sink(cores, info)
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
				setError(s.rep, Describe(err))
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
	out := make([]Report, len(reps))
	for i, r := range reps {
		out[i] = *r
		out[i].Partial = r.Error != "" && r.Records > 0
	}
	return out, emitErr
}

// ExportSkipped says in words what an export's reading left out (journal.ExportStats).
func ExportSkipped(st journal.ExportStats) []string {
	var out []string
	for _, c := range []struct {
		n    int
		what string
	}{
		{st.Truncated, "cut off by the end of the file (a truncated copy)"},
		{st.Skipped, "malformed (a bad field line or name, a lying binary size, or over the entry bound)"},
		{st.NoTimestamp, "without __REALTIME_TIMESTAMP or _SOURCE_REALTIME_TIMESTAMP (no window can hold them)"},
	} {
		if c.n > 0 {
			out = append(out, fmt.Sprintf("%d entr%s %s", c.n, plural(c.n, "y", "ies"), c.what))
		}
	}
	if st.LongFields > 0 {
		out = append(out, fmt.Sprintf("%d field%s over 1 MiB left out of their entries", st.LongFields, plural(st.LongFields, "", "s")))
	}
	if st.SourceTime > 0 {
		out = append(out, fmt.Sprintf("%d entr%s timed by _SOURCE_REALTIME_TIMESTAMP (no __REALTIME_TIMESTAMP)", st.SourceTime, plural(st.SourceTime, "y", "ies")))
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

var repMu sync.Mutex

func countRecord(r *Report)          { repMu.Lock(); r.Records++; repMu.Unlock() }
func countMalformed(r *Report)       { repMu.Lock(); r.Malformed++; repMu.Unlock() }
func setError(r *Report, msg string) { repMu.Lock(); r.Error = msg; repMu.Unlock() }

// Describe turns a read error into the words a person needs.
func Describe(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrNotExist):
		return "not found"
	}
	return err.Error()
}
