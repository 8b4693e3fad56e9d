// Package evidence merges what the sources found — SECCOMP records from audit.log, the journal and the
// kernel log, systemd-coredump entries, core files — into violations: one per kill or logged call, with
// every source that saw it. It is pure: the caller reads the sources.
package evidence

import (
	"fmt"
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
	Node      string // the host: audit's node=, or another host's journal's _HOSTNAME
	Machine   string // the host's machine id, when a journal of several hosts names it
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
	How      Attribution       // how Unit was found (or, with no Method, why it was not)
}

// Host is the host the violation was recorded on, as far as the evidence names it.
func (v Violation) Host() journal.Host { return journal.Host{Hostname: v.Node, MachineID: v.Machine} }

// Known reports whether the blocked syscall is known.
func (v Violation) Known() bool { return v.Syscall >= 0 }

// CoreInfo says what the stored core file of a coredump said (its NT_SIGINFO), ok false when there is
// none to read. The merger asks only for coredumps that no audit record joined: a core is read lazily,
// and only where the record is missing. nil reads nothing.
type CoreInfo func(c *journal.Coredump) (journal.SigInfo, bool)

// recordKey names one record across sources: its serial, millisecond and pid. Not its host: an
// audisp-remote node= and a journal-remote _HOSTNAME may spell one host differently (short and FQDN),
// and a copy's host is filled in from the other on the merge.
type recordKey struct {
	serial uint64
	ms     int64
	pid    int
}

func keyOf(serial uint64, t time.Time, pid int) recordKey {
	return recordKey{serial, t.UnixMilli(), pid}
}

// Merge joins records and coredumps into violations, oldest first. The same record read from several
// sources (same node, serial and millisecond) is one violation; a SIGSYS coredump joins the kill record
// of the same pid within its 1-second timestamp resolution; a coredump with no record becomes a
// violation of its own, with the syscall from its core file when cores has it.
func Merge(records []audit.Record, cores []journal.Coredump, coreInfo CoreInfo) []Violation {
	sorted := append([]audit.Record(nil), records...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	var out []Violation
	m := NewMerger(cores, coreInfo, func(v Violation) error { out = append(out, v); return nil })
	for _, r := range sorted {
		_ = m.Add(r)
	}
	_ = m.Flush()
	return out
}

// Horizon is how far out of time order records of different sources may arrive at a Merger, and how
// long it holds a violation for other sources' copies of the same record.
const Horizon = time.Second

// Merger does Merge's work on a stream of records in (roughly) time order — several sources merged by
// time — handing each violation on once nothing more can join it. It holds only the violations of the
// last Horizon and the window's coredumps, whatever the number of records.
type Merger struct {
	cores    []journal.Coredump // SIGSYS coredumps, oldest first
	used     []bool
	coreInfo CoreInfo
	pending  []*Violation // oldest first
	byKey    map[recordKey]*Violation
	newest   time.Time
	emit     func(Violation) error
	nextCore int // cores before this index were matched or emitted
	// killsOut are the record keys of the kills handed on: a journal re-imports the kernel's ring buffer
	// each time journald starts, so a kill's kernel-log copy can come minutes after the first, past the
	// Horizon. Kills are few; logged calls (floods) are not remembered. Bounded.
	killsOut map[recordKey]bool
}

const maxKillsOut = 1 << 16

// NewMerger starts a merge; emit receives the violations oldest first.
func NewMerger(cores []journal.Coredump, coreInfo CoreInfo, emit func(Violation) error) *Merger {
	m := &Merger{coreInfo: coreInfo, byKey: map[recordKey]*Violation{}, emit: emit, killsOut: map[recordKey]bool{}}
	for _, c := range cores {
		if c.Signal == journal.SIGSYS {
			m.cores = append(m.cores, c)
		}
	}
	sort.SliceStable(m.cores, func(i, j int) bool { return m.cores[i].Time.Before(m.cores[j].Time) })
	m.used = make([]bool, len(m.cores))
	return m
}

// Add takes one record.
func (m *Merger) Add(r audit.Record) error {
	k := keyOf(r.Serial, r.Time, r.PID)
	if r.Serial != 0 {
		if v, ok := m.byKey[k]; ok {
			addSource(v, r.Source)
			fillHost(v, r)
			return nil
		}
		if m.killsOut[k] {
			return nil // a late copy of a kill already handed on
		}
	} else if v := sameCall(m.pending, r); v != nil {
		addSource(v, r.Source)
		fillHost(v, r)
		return nil
	}
	v := &Violation{Time: r.Time, Node: r.Node, Machine: r.Machine, Serial: r.Serial, PID: r.PID, UID: r.UID, Comm: r.Comm,
		Exe: r.Exe, Arch: r.Arch, Syscall: r.Syscall, Name: r.Name, Compat: r.Compat, Action: r.Action,
		Code: r.Code, Sig: r.Sig, Sources: []string{r.Source}}
	if r.Serial != 0 {
		m.byKey[k] = v
	}
	// Insert in time order (sources are merged roughly by time; a record may come a little late).
	i := len(m.pending)
	for i > 0 && m.pending[i-1].Time.After(v.Time) {
		i--
	}
	m.pending = append(m.pending, nil)
	copy(m.pending[i+1:], m.pending[i:])
	m.pending[i] = v
	if v.Time.After(m.newest) {
		m.newest = v.Time
	}
	return m.release(m.newest.Add(-Horizon))
}

// Flush hands on everything still held.
func (m *Merger) Flush() error { return m.release(time.Time{}) }

// release hands on the violations (and unmatched coredumps) older than before; a zero before releases all.
func (m *Merger) release(before time.Time) error {
	all := before.IsZero()
	for len(m.pending) > 0 && (all || m.pending[0].Time.Before(before)) {
		v := m.pending[0]
		m.pending = m.pending[1:]
		if v.Serial != 0 {
			k := keyOf(v.Serial, v.Time, v.PID)
			delete(m.byKey, k)
			if v.Action.IsKill() {
				if len(m.killsOut) >= maxKillsOut {
					m.killsOut = map[recordKey]bool{}
				}
				m.killsOut[k] = true
			}
		}
		// Coredumps whose reach ([t-1s, t+3s)) ended before this violation stand alone: emit them first.
		if err := m.coresBefore(v.Time.Add(-3 * time.Second)); err != nil {
			return err
		}
		m.attach(v)
		sort.Strings(v.Sources)
		if err := m.emit(*v); err != nil {
			return err
		}
	}
	if all {
		return m.coresBefore(time.Time{})
	}
	// A coredump that no record within its reach can join any more stands alone.
	return m.coresBefore(before.Add(-3 * time.Second))
}

// attach gives a kill the coredump of its process: same pid, within the coredump's 1-s resolution.
func (m *Merger) attach(v *Violation) {
	if !v.Action.IsKill() {
		return
	}
	for i := m.nextCore; i < len(m.cores); i++ {
		c := m.cores[i]
		if m.used[i] || c.PID != v.PID || !c.Host.Compatible(v.Host()) {
			continue
		}
		if d := v.Time.Sub(c.Time); d >= -time.Second && d < 3*time.Second {
			m.used[i] = true
			m.joinCore(v, &m.cores[i])
			return
		}
	}
}

func (m *Merger) joinCore(v *Violation, c *journal.Coredump) {
	v.Coredump = c
	if v.Machine == "" && v.Node == "" {
		v.Node, v.Machine = c.Host.Hostname, c.Host.MachineID
	}
	addSource(v, "coredump")
	v.Unit, v.UserUnit, v.Manager = unitOf(*c)
	if v.Unit != "" {
		v.How = Attribution{Method: ByCoredump, Invocation: c.Invocation, Detail: fmt.Sprintf("systemd-coredump's entry for pid %d names the unit", c.PID)}
	}
	if v.Exe == "" {
		v.Exe = c.Exe
	}
}

// coresBefore emits the unmatched coredumps older than t (all, for a zero t) as violations of their own.
func (m *Merger) coresBefore(t time.Time) error {
	for m.nextCore < len(m.cores) && (t.IsZero() || m.cores[m.nextCore].Time.Before(t)) {
		i := m.nextCore
		m.nextCore++
		if m.used[i] {
			continue
		}
		m.used[i] = true
		c := &m.cores[i]
		v := &Violation{Time: c.Time, CoarseTime: true, PID: c.PID, UID: uint32(c.UID), Comm: c.Comm, Exe: c.Exe,
			Syscall: -1, Action: audit.ActionKillProcess, Sig: c.Signal}
		if m.coreInfo == nil || c.Filename == "" {
		} else if si, ok := m.coreInfo(c); ok && si.IsSeccomp() {
			v.Arch, v.Syscall = syscalls.Arch(si.Arch), si.Syscall
			v.Name, _ = syscalls.Name(v.Arch, si.Syscall)
			v.Sources = append(v.Sources, "core-file")
		}
		m.joinCore(v, c)
		sort.Strings(v.Sources)
		if err := m.emit(*v); err != nil {
			return err
		}
	}
	return nil
}

// sameCall finds a violation of the same call for a record without a serial (a copied or reformatted
// log may lose it): same pid, arch and syscall within a second.
func sameCall(vs []*Violation, r audit.Record) *Violation {
	for _, v := range vs {
		if !v.Host().Compatible(journal.Host{Hostname: r.Node, MachineID: r.Machine}) {
			continue
		}
		if v.PID == r.PID && v.Arch == r.Arch && v.Syscall == r.Syscall && v.Code == r.Code {
			if d := v.Time.Sub(r.Time); d > -time.Second && d < time.Second {
				return v
			}
		}
	}
	return nil
}

// fillHost completes a violation's host from another source's copy of its record.
func fillHost(v *Violation, r audit.Record) {
	if v.Node == "" {
		v.Node = r.Node
	}
	if v.Machine == "" {
		v.Machine = r.Machine
	}
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

// UniqueCores drops the second copy of a coredump entry (read both by the unit query and the window query).
func UniqueCores(cs []journal.Coredump) []journal.Coredump {
	seen := map[string]bool{}
	var out []journal.Coredump
	for _, c := range cs {
		k := fmt.Sprintf("%s/%d/%d", c.BootID, c.PID, c.EntryTime.UnixMicro())
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}
