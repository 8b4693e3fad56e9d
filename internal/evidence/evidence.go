// Package evidence merges what the sources found — SECCOMP records from audit.log, the journal and the
// kernel log, systemd-coredump entries, core files — into violations: one per kill or logged call, with
// every source that saw it. It is pure: the caller reads the sources.
package evidence

import (
	"path"
	"sort"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Violation is one seccomp event: a kill or a logged call.
type Violation struct {
	Time      time.Time
	Node      string
	Serial    uint64
	PID       int
	UID       uint32
	Comm, Exe string
	Arch      syscalls.Arch
	Syscall   int    // -1 when unknown (a coredump with neither record nor readable core)
	Name      string // the syscall's name on Arch
	Compat    int
	Action    audit.Action
	Code      uint32
	Sig       int

	Unit     string // the systemd unit (for a user unit: the user unit), "" if unknown
	UserUnit bool   // Unit is a unit of a user manager
	Manager  string // for a user unit: the user manager, user@UID.service

	CoarseTime bool // Time is a coredump's, truncated to the second (no record was found)

	Sources  []string          // "audit.log", "journal-audit", "kmsg", "journal-kernel", "coredump", "core-file", "netlink"
	Coredump *journal.Coredump // nil when no coredump entry matched
}

// Known reports whether the blocked syscall is known.
func (v Violation) Known() bool { return v.Syscall >= 0 }

// CoreInfo is what a stored core file said, by COREDUMP_FILENAME.
type CoreInfo map[string]journal.SigInfo

type recordKey struct {
	node   string
	serial uint64
	ms     int64
}

// Merge joins records and coredumps into violations, oldest first. The same record read from several
// sources (same node, serial and millisecond) is one violation; a SIGSYS coredump joins the kill record
// of the same pid within its 1-second timestamp resolution; a coredump with no record becomes a
// violation of its own, with the syscall from its core file when cores has it.
func Merge(records []audit.Record, cores []journal.Coredump, coreInfo CoreInfo) []Violation {
	var out []*Violation
	byKey := map[recordKey]*Violation{}
	for _, r := range records {
		k := recordKey{r.Node, r.Serial, r.Time.UnixMilli()}
		if r.Serial != 0 {
			if v, ok := byKey[k]; ok {
				addSource(v, r.Source)
				continue
			}
		} else if v := sameCall(out, r); v != nil {
			addSource(v, r.Source)
			continue
		}
		v := &Violation{Time: r.Time, Node: r.Node, Serial: r.Serial, PID: r.PID, UID: r.UID, Comm: r.Comm,
			Exe: r.Exe, Arch: r.Arch, Syscall: r.Syscall, Name: r.Name, Compat: r.Compat, Action: r.Action,
			Code: r.Code, Sig: r.Sig, Sources: []string{r.Source}}
		if r.Serial != 0 {
			byKey[k] = v
		}
		out = append(out, v)
	}
	for _, c := range cores {
		if c.Signal != journal.SIGSYS {
			continue
		}
		c := c
		var match *Violation
		for _, v := range out {
			if v.PID != c.PID || !v.Action.IsKill() || v.Coredump != nil {
				continue
			}
			if d := v.Time.Sub(c.Time); d >= -time.Second && d < 3*time.Second {
				match = v
				break
			}
		}
		if match == nil {
			match = &Violation{Time: c.Time, CoarseTime: true, PID: c.PID, UID: uint32(c.UID), Comm: c.Comm, Exe: c.Exe,
				Syscall: -1, Action: audit.ActionKillProcess, Sig: c.Signal}
			if si, ok := coreInfo[c.Filename]; ok && si.IsSeccomp() {
				match.Arch, match.Syscall = syscalls.Arch(si.Arch), si.Syscall
				match.Name, _ = syscalls.Name(match.Arch, si.Syscall)
				match.Sources = append(match.Sources, "core-file")
			}
			out = append(out, match)
		}
		match.Coredump = &c
		addSource(match, "coredump")
		match.Unit, match.UserUnit, match.Manager = unitOf(c)
		if match.Exe == "" {
			match.Exe = c.Exe
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	res := make([]Violation, len(out))
	for i, v := range out {
		sort.Strings(v.Sources)
		res[i] = *v
	}
	return res
}

// sameCall finds a violation of the same call for a record without a serial (a copied or reformatted
// log may lose it): same pid, arch and syscall within a second.
func sameCall(vs []*Violation, r audit.Record) *Violation {
	for _, v := range vs {
		if v.PID == r.PID && v.Arch == r.Arch && v.Syscall == r.Syscall && v.Code == r.Code {
			if d := v.Time.Sub(r.Time); d > -time.Second && d < time.Second {
				return v
			}
		}
	}
	return nil
}

func unitOf(c journal.Coredump) (unit string, user bool, manager string) {
	if c.UserUnit != "" {
		return c.UserUnit, true, c.Unit
	}
	return c.Unit, false, ""
}

func addSource(v *Violation, s string) {
	for _, x := range v.Sources {
		if x == s {
			return
		}
	}
	v.Sources = append(v.Sources, s)
}

// Filter selects violations; zero fields match everything.
type Filter struct {
	Unit    string // a glob over the unit name ("foo*.service")
	PID     int
	Exe     string // exact path, or a glob
	Syscall string // name
	Window  audit.Window
	Kills   bool // only kills
}

// Match reports whether v passes f.
func (f Filter) Match(v Violation) bool {
	if f.Unit != "" {
		if ok, _ := path.Match(f.Unit, v.Unit); !ok && f.Unit != v.Unit {
			return false
		}
	}
	if f.PID != 0 && v.PID != f.PID {
		return false
	}
	if f.Exe != "" {
		if ok, _ := path.Match(f.Exe, v.Exe); !ok && f.Exe != v.Exe {
			return false
		}
	}
	if f.Syscall != "" && v.Name != f.Syscall {
		return false
	}
	if f.Kills && !v.Action.IsKill() {
		return false
	}
	w := f.Window
	if v.CoarseTime && !w.Since.IsZero() {
		w.Since = w.Since.Add(-time.Second) // the coredump's time is truncated to the second
	}
	return w.Contains(v.Time)
}
