package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
)

// sourceFlags are the evidence sources a command was pointed at (internal/sources reads them).
type sourceFlags = sources.Plan

type sourceReport = sources.Report

const defaultAuditLog = sources.DefaultAuditLog

func registerSources(c *cobra.Command, s *sourceFlags) {
	c.Flags().StringArrayVar(&s.AuditLogs, "audit-log", nil, "read this auditd log (a file or a glob; repeatable; a live log brings its rotations)")
	c.Flags().StringArrayVar(&s.JournalDirs, "journal-dir", nil, "read the journal files in this directory (like journalctl -D; repeatable; e.g. systemd-journal-remote's /var/log/journal/remote, one file set per host)")
	c.Flags().StringArrayVar(&s.JournalFiles, "journal-file", nil, "read this journal file (repeatable; like journalctl --file)")
	c.Flags().StringArrayVar(&s.Kmsg, "kmsg", nil, "read kernel-log text (dmesg output) from this file (repeatable)")
	c.Flags().StringArrayVar(&s.Exports, "journal-export", nil, "read `journalctl -o export` text from this file (repeatable)")
}

// collect is sources.Collect with its errors in the CLI's words.
func collect(sf *sourceFlags, w audit.Window, jr journal.Querier, extra []journal.Coredump, emit func(evidence.Violation) error) ([]sourceReport, error) {
	reps, err := sources.Collect(sf, w, jr, extra, emit)
	var bad *sources.BadInputError
	if errors.As(err, &bad) {
		return nil, usageErr(bad.Err, "")
	}
	return reps, err
}

// sourcesRead is what warnSources found in the reports.
type sourcesRead struct {
	any     bool     // at least one source was read, in whole or in part
	partial []string // sources that failed after giving records: "PATH: ERROR"
}

// warnSources prints, on stderr, which sources could not be read and what was skipped. A default
// source that does not exist on this host (no auditd) is mentioned only when nothing was found.
func warnSources(w io.Writer, reps []sourceReport, found int) (st sourcesRead) {
	for _, r := range reps {
		if r.Error == "" || r.Partial {
			st.any = true
		}
		if r.Malformed > 0 || r.TooLong > 0 {
			fmt.Fprintf(w, "sysdiag: %s %s: skipped %d malformed records and %d over-long lines\n", r.Name, r.Path, r.Malformed, r.TooLong)
		}
		for _, s := range r.Skipped {
			fmt.Fprintf(w, "sysdiag: %s: %s\n", r.Path, s)
		}
		switch {
		case r.Partial:
			fmt.Fprintf(w, "sysdiag: %s was read only in part (%d records, then: %s)\n", r.Path, r.Records, r.Error)
			st.partial = append(st.partial, r.Path+": "+r.Error)
		case r.Error != "" && (!r.Default || found == 0 || r.Error != "not found"):
			fmt.Fprintf(w, "sysdiag: cannot read %s: %s\n", r.Path, r.Error)
		}
	}
	return st
}

// partialErr is the failure (exit 3) of an answer some source gave only in part: the output is
// complete for what was read, and says so, but a pipeline must not take it as the whole.
func partialErr(st sourcesRead) error {
	if len(st.partial) == 0 {
		return nil
	}
	return failureErr(fmt.Errorf("the answer covers only part of %s", strings.Join(st.partial, "; ")),
		"the source failed while it was read (a log truncated or rotated by copy-truncate?): read it again, or a copy of it")
}

// journalHint is the next step when the journal a command names cannot be opened: a file that is not
// export text is not a permission problem.
func journalHint(err error) string {
	var ee *journal.ExportError
	if errors.As(err, &ee) {
		return "is it `journalctl -o export` output? a binary journal file is named with --journal-file, a directory of them with --journal-dir"
	}
	return "run as root or in the systemd-journal group, or name copied journals with --journal-dir"
}
