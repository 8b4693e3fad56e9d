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
)

const exitCodesHelp = `sysdiag's exit status:

  0  success: the answer was found and printed
  1  nothing found: an unknown syscall or group, no violation for the unit or window
  2  usage: an unknown command or flag, or a flag value that cannot be parsed
  3  failure: a source could not be read (permission denied, missing file, no journal),
     or another error kept sysdiag from answering
  4  postmortem: units were killed by their seccomp filter (or failed with no record under an
     errno-mode filter) in the window; --fail-on never makes it 0
     check: calls of the unit's programs that its filter would block were predicted
  5  trial --write / --write-tighten only: the drop-in was written, but the unit was killed again
     under it (after --rounds tries); the drop-in was put back as it was

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
