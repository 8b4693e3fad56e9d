package unit

import (
	"errors"
	"fmt"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Unit is a unit's files — what its fragment and drop-ins say — and, when the running manager was asked,
// its State.
type Unit struct {
	Name    string
	User    bool               // a unit of a user manager
	Files   []string           // the fragment, then the drop-ins, in systemd's load order (paths as on the host)
	Assigns []fixes.Assignment // every setting, with its file and line
	Home    string             // for a user unit read from files: the home its files were looked up under
	State                      // the manager's view of it; zero when read from files
}

// State is what the running manager says of a unit over D-Bus, at the time it was asked.
type State struct {
	Live       bool             // read from the running manager
	Version    syscalls.Version // the manager's systemd version
	HaveVer    bool             // Version is known
	LoadState  string
	Invocation string // InvocationID of the latest invocation, hex
	Result     string
	MainCode   int32 // ExecMainCode: 1 exited, 2 killed, 3 dumped
	MainStatus int32
	MainPID    uint32   // ExecMainPID of the latest invocation (kept after it exits)
	NRestarts  *uint32  // the manager's NRestarts (service units)
	DBusFilter []string // SystemCallFilter as the manager reports it (expanded names)
	DBusAllow  bool     // DBusFilter is an allow list
	NeedReload bool     // NeedDaemonReload: the files changed since the manager loaded them
}

// Loader reads a unit: Manager (the running manager), Tree (a copy of a machine's /), Fake (tests).
type Loader interface {
	Load(name string, user bool) (*Unit, error)
}

// Kind says what went wrong, for the command's exit code.
type Kind int

const (
	Failure  Kind = iota // the work could not be done: the manager unreachable, a file unreadable
	NotFound             // the question was fine, there is no such unit (or no copy of its files)
	BadInput             // a flag value or name that cannot be used
)

func (k Kind) String() string {
	switch k {
	case NotFound:
		return "not found"
	case BadInput:
		return "bad input"
	}
	return "failure"
}

// Error is the package's error: what went wrong (Err, worded for a person), its Kind, and the next step
// (Hint, "" for none).
type Error struct {
	Kind Kind
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// KindOf is err's Kind: Failure for an error of another package.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Failure
}

func failure(err error, hint string) error  { return &Error{Failure, err, hint} }
func notFound(err error, hint string) error { return &Error{NotFound, err, hint} }
func badInput(err error, hint string) error { return &Error{BadInput, err, hint} }

// Fake is a Loader for tests: it serves copies of the units it holds, by name and manager.
type Fake []*Unit

// Load returns a copy of the held unit, or a NotFound error.
func (f Fake) Load(name string, user bool) (*Unit, error) {
	for _, u := range f {
		if u.Name == name && u.User == user {
			c := *u
			c.Files = append([]string(nil), u.Files...)
			c.Assigns = append([]fixes.Assignment(nil), u.Assigns...)
			return &c, nil
		}
	}
	return nil, notFound(fmt.Errorf("unit %s not found", name), "")
}

// userFlag is " --user" for a user unit's commands.
func userFlag(user bool) string {
	if user {
		return " --user"
	}
	return ""
}
