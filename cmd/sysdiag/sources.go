package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
)

// sourceFlags are the evidence sources a command was pointed at (internal/sources reads them).
type sourceFlags = sources.Plan

const defaultAuditLog = sources.DefaultAuditLog

func registerSources(c *cobra.Command, s *sourceFlags) {
	c.Flags().StringArrayVar(&s.AuditLogs, "audit-log", nil, "read this auditd log (a file or a glob; repeatable; a live log brings its rotations)")
	c.Flags().StringArrayVar(&s.JournalDirs, "journal-dir", nil, "read the journal files in this directory (like journalctl -D; repeatable; e.g. systemd-journal-remote's /var/log/journal/remote, one file set per host)")
	c.Flags().StringArrayVar(&s.JournalFiles, "journal-file", nil, "read this journal file (repeatable; like journalctl --file)")
	c.Flags().StringArrayVar(&s.Kmsg, "kmsg", nil, "read kernel-log text (dmesg output) from this file (repeatable)")
	c.Flags().StringArrayVar(&s.Exports, "journal-export", nil, "read `journalctl -o export` text from this file (repeatable)")
}

// collect is evidence.Collect with its errors in the CLI's words.
func collect(sf *sourceFlags, w audit.Window, jr journal.Querier, extra []journal.Coredump, emit func(evidence.Violation) error) ([]sources.Report, error) {
	reps, err := evidence.Collect(sf, w, jr, extra, emit)
	if bad := (*sources.BadInputError)(nil); errors.As(err, &bad) {
		return nil, usageErr(bad.Err, "")
	}
	return reps, err
}

// openJournal opens the journal the flags name (nil when they name none).
func openJournal(sf *sourceFlags) (journal.Querier, error) {
	if !sf.WantsJournal() {
		return nil, nil
	}
	r, _, err := sf.OpenJournal()
	if err != nil {
		return nil, failureErr(err, render.SourcesJournalHint(err))
	}
	return r, nil
}

// warnSources says on stderr what of the sources could not be read; an answer some source gave only in
// part is a failure (exit 3): complete for what was read, and saying so, but not the whole.
func warnSources(stderr io.Writer, reps []sources.Report, found int) error {
	render.SourceWarnings(stderr, reps, found)
	if err := sources.ReadOf(reps).Incomplete(); err != nil {
		return failureErr(err, render.SourcesPartialHint)
	}
	return nil
}
