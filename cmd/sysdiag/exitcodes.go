package main

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes, decided once here and documented by `sysdiag help exit-codes`.
const (
	exitOK       = 0 // the answer was found and printed
	exitNotFound = 1 // the question was fine but there is no answer: unknown syscall, no violation found
	exitUsage    = 2 // bad command line or bad input value
	exitFailure  = 3 // sysdiag could not do its work: unreadable source, permission denied, internal error
	// exitKilled (4, postmortem), exitPredicted (4, check) and exitWriteKilled (5, trial) are found answers a
	// pipeline stops on; they live with their commands.
	exitIncomplete = 6 // check: something could not be analysed and nothing was predicted blocked
)

const exitCodesHelp = `sysdiag's exit status:

  0  success: the answer was found and printed
  1  nothing found: an unknown syscall or group, no violation for the unit or window
  2  usage: an unknown command or flag, or a flag value that cannot be parsed
  3  failure: a source could not be read (permission denied, missing file, no journal),
     or a source failed while it was read (a log truncated under sysdiag): the output is complete
     for what was read (--json stays a valid document, its "sources" say "partial"), but it is
     not the whole; or another error kept sysdiag from answering
  4  found: postmortem — the window holds seccomp kills, tied to a unit or not (or units that
     failed with no record under an errno-mode filter); --fail-on never makes it 0
     check — calls of the unit's programs that its filter would block were predicted (even when
     the prediction is incomplete)
  5  trial --write / --write-tighten only: the drop-in was written, but the unit was killed again
     under it (after --rounds tries); the drop-in was put back as it was
  6  check: something could not be analysed (a program, a library it needs, its dynamic loader:
     not found, not ELF, another architecture, too large) and nothing was predicted blocked: the
     prediction covers only what was, so "incomplete" is never "clean"

Errors go to stderr as "sysdiag: …", often followed by a "hint:" line; results go to stdout.
`

// cliError is an error for a person: what went wrong, the next step, and the exit status.
type cliError struct {
	code int
	err  error
	hint string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func usageErr(err error, hint string) error    { return &cliError{exitUsage, err, hint} }
func notFoundErr(err error, hint string) error { return &cliError{exitNotFound, err, hint} }
func failureErr(err error, hint string) error  { return &cliError{exitFailure, err, hint} }

// report prints err the way people read it and returns the exit status it stands for.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code, hint := exitFailure, ""
	var ce *cliError
	if errors.As(err, &ce) {
		code, hint = ce.code, ce.hint
	}
	fmt.Fprintf(w, "sysdiag: %v\n", err)
	if hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
	return code
}
