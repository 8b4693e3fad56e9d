package unit

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/sysdiag/sysdiag/journal"
)

// Fleet reads the units of every host the evidence names (watch, postmortem): a host's --root tree,
// else — for this machine — the running manager for a system unit, and the files of the user whose
// manager the kill names for a user unit. Another host without a tree has no unit (NoTreeError). Each
// host's table is chosen once (Choose).
type Fleet struct {
	Roots    Roots
	Versions Versions          // --systemd-version
	Journals map[string]string // each host's version as its journal names it, by machine id or hostname
	Here     journal.Host      // this machine
	Manager  Loader            // this machine's running manager (Manager{}; a Fake in tests)
	Slash    string            // this machine's files: "" is "/" (tests: a tree)
	Tables   *Chooser

	mu    sync.Mutex
	progs map[string]func(string, bool) []string
}

// NoTreeError says a unit of another host cannot be read: no --root tree of it was given.
type NoTreeError struct{ Host journal.Host }

func (e *NoTreeError) Error() string {
	return fmt.Sprintf("no copy of host %s's unit files: pass --root %s=DIR", HostLabel(e.Host), HostKey(e.Host))
}

func (f *Fleet) slash() string {
	if f.Slash == "" {
		return "/"
	}
	return f.Slash
}

// local reports whether h's units are this machine's (no tree of h, and h is, or may be, this one).
func (f *Fleet) local(h journal.Host) bool { return f.Roots.For(h) == "" && h.Compatible(f.Here) }

// tree is where h's unit files are: its --root tree, or this machine's /; ok false for another host
// without one.
func (f *Fleet) tree(h journal.Host) (Tree, bool) {
	if root := f.Roots.For(h); root != "" {
		return Tree{Dir: root}, true
	}
	if !h.Compatible(f.Here) {
		return Tree{}, false
	}
	return Tree{Dir: f.slash()}, true
}

// Load reads unit name of host h; manager is the user manager a kill of a user unit names
// (user@UID.service: the unit is looked up under that user's home), "" when unknown. A system unit of
// this machine comes from its running manager, or — when the manager cannot be asked — from its files.
func (f *Fleet) Load(h journal.Host, name string, user bool, manager string) (*Unit, error) {
	t, ok := f.tree(h)
	if !ok {
		return nil, notFound(&NoTreeError{h}, "")
	}
	var mgrErr error
	if f.local(h) && !user && f.Manager != nil {
		u, err := f.Manager.Load(name, false)
		if err == nil {
			return u, nil
		}
		mgrErr = err
	}
	if user {
		t = t.ForManager(manager)
	}
	u, err := t.Load(name, user)
	if err != nil && mgrErr != nil {
		return nil, mgrErr
	}
	return u, err
}

// Stub is the unit as far as it is known when Load fails: its name, and the home its drop-in would go
// under (the user's whose manager the kill names, from the host's tree, else /root).
func (f *Fleet) Stub(h journal.Host, name string, user bool, manager string) *Unit {
	u := &Unit{Name: name, User: user, Home: "/root"}
	if t, ok := f.tree(h); ok && user {
		if t = t.ForManager(manager); t.Home != "" {
			u.Home = t.Home
		}
	}
	return u
}

// Choose picks h's table; u is the unit read for it (nil for none: the host's table alone).
func (f *Fleet) Choose(h journal.Host, u *Unit) (Choice, error) {
	return f.Tables.Choose(Target{Flag: f.Versions.For(h), Unit: u, Journal: Own(f.Journals, h), Root: f.Roots.For(h), Here: f.local(h)})
}

// Programs names the executables of a unit of h from its host's files (none for another host without
// a tree): Tree.Programs, one finder per tree.
func (f *Fleet) Programs(h journal.Host, name string, user bool) []string {
	t, ok := f.tree(h)
	if !ok {
		return nil
	}
	f.mu.Lock()
	if f.progs == nil {
		f.progs = map[string]func(string, bool) []string{}
	}
	p := f.progs[t.Dir]
	if p == nil {
		p = t.Programs(nil)
		f.progs[t.Dir] = p
	}
	f.mu.Unlock()
	return p(name, user)
}

// Own is h's own entry of a map keyed by machine id (first: hostnames repeat) or hostname; "" none.
func Own(m map[string]string, h journal.Host) string {
	if v, ok := m[h.MachineID]; ok && h.MachineID != "" {
		return v
	}
	if v, ok := m[h.Hostname]; ok && h.Hostname != "" {
		return v
	}
	return ""
}

// HostLabel names a host for a person: its hostname, and its machine id where the evidence has one.
func HostLabel(h journal.Host) string {
	switch {
	case h.Hostname != "" && h.MachineID != "":
		return h.Hostname + " (machine " + h.MachineID + ")"
	case h.Hostname != "":
		return h.Hostname
	}
	return h.MachineID
}

// HostKey is what --root HOST=DIR names the host by: its machine id (hostnames repeat), else its hostname.
func HostKey(h journal.Host) string {
	if h.MachineID != "" {
		return h.MachineID
	}
	return h.Hostname
}

// ThisHost is this machine's hostname and machine id, as its journal would name them.
func ThisHost() journal.Host {
	name, _ := os.Hostname()
	id, _ := os.ReadFile("/etc/machine-id")
	return journal.Host{Hostname: name, MachineID: strings.TrimSpace(string(id))}
}

// IsNoTree reports whether err says a host's unit files are missing (NoTreeError).
func IsNoTree(err error) bool {
	var e *NoTreeError
	return errors.As(err, &e)
}

// MainPID is this machine's running manager's main pid and invocation of a system unit (ok false when
// there is no manager to ask, or the unit runs none).
func (f *Fleet) MainPID(name string) (int, string, bool) {
	if f.Manager == nil {
		return 0, "", false
	}
	u, err := f.Manager.Load(name, false)
	if err != nil || u == nil || !u.Live || u.MainPID == 0 {
		return 0, "", false
	}
	return int(u.MainPID), u.Invocation, true
}
