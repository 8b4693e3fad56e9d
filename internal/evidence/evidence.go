// Package evidence merges what the sources found — SECCOMP records from audit.log, the journal and the
// kernel log, systemd-coredump entries, core files — into violations: one per kill or logged call, with
// every source that saw it. It is pure: the caller reads the sources.
package evidence

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path"
	"sort"
	"strings"
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

// recordKey names one record across sources: its serial, millisecond and pid, and, as a guard against a
// reused serial, the call (arch, syscall, action). Not its host: an audisp-remote node= and a
// journal-remote _HOSTNAME may spell one host differently (short and FQDN), and a copy may lack the host
// (it is filled in from the other on the merge). So a key names candidates, and a record joins one only
// on a compatible host (sameHost): two hosts' records with one serial, time and pid stay apart.
type recordKey struct {
	serial  uint64
	ms      int64
	pid     int
	arch    syscalls.Arch
	syscall int
	action  audit.Action
}

func keyOf(serial uint64, t time.Time, pid int, arch syscalls.Arch, syscall int, action audit.Action) recordKey {
	return recordKey{serial, t.UnixMilli(), pid, arch, syscall, action}
}

func recordKeyOf(r audit.Record) recordKey {
	return keyOf(r.Serial, r.Time, r.PID, r.Arch, r.Syscall, r.Action)
}

func violationKey(v *Violation) recordKey {
	return keyOf(v.Serial, v.Time, v.PID, v.Arch, v.Syscall, v.Action)
}

// callKey is what sameCall compares, but for the host and the time: a record without a serial joins a
// violation of the same call within a second.
type callKey struct {
	pid     int
	arch    syscalls.Arch
	syscall int
	code    uint32
}

// sameHost reports whether two copies of a record may come from one host. Where both name a machine
// id, the ids must be equal; where both name a host, the names' first labels must be, case aside:
// audisp-remote's node= is often the short name and journal-remote's _HOSTNAME the FQDN. A side that
// names neither is any host. An IP address (audisp's name_format=numeric) is compared whole with another
// address, and not at all with a name. A clone that kept its machine id but not its name, or its name
// but not its id, is another host. Stricter than journal.Host.Compatible (where equal machine ids are
// enough), and looser on spelling (which needs equal names).
func sameHost(a, b journal.Host) bool { return hostOf(a).sameAs(hostOf(b)) }

// hostID is a journal.Host as sameHost compares it, computed once per record and violation.
type hostID struct {
	name    string // the hostname's first label in lower case, or an IP address; "" none
	ip      bool   // name is an IP address
	machine string
}

func hostOf(h journal.Host) hostID {
	name := h.Hostname
	if name == "" {
		return hostID{machine: h.MachineID}
	}
	if name[0] >= '0' && name[0] <= '9' || strings.IndexByte(name, ':') >= 0 {
		if ip, err := netip.ParseAddr(name); err == nil {
			return hostID{name: ip.Unmap().String(), ip: true, machine: h.MachineID}
		}
	}
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	return hostID{name: strings.ToLower(name), machine: h.MachineID}
}

func (a hostID) sameAs(b hostID) bool {
	if a.machine != "" && b.machine != "" && a.machine != b.machine {
		return false
	}
	return a.name == "" || b.name == "" || a.ip != b.ip || a.name == b.name
}

func recordHost(r audit.Record) hostID {
	return hostOf(journal.Host{Hostname: r.Node, MachineID: r.Machine})
}

// Merge joins records and coredumps into violations, oldest first. The same record read from several
// sources (the same serial, millisecond, pid and call, on hosts that may be one: sameHost) is one
// violation; a SIGSYS coredump joins the kill record of the same pid within its 1-second timestamp
// resolution; a coredump with no record becomes a violation of its own, with the syscall from its core
// file when cores has it.
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
//
// A record costs O(log n) for n violations held, whatever order the records come in, with or without
// serials; plus a step for each held violation of another host that its key (without a serial: its
// call within a second) also names, at most maxHosts.
type Merger struct {
	cores    []journal.Coredump // SIGSYS coredumps, oldest first
	used     []bool
	coreInfo CoreInfo
	pending  heldHeap            // by time, then arrival: handed on in this order
	byKey    map[recordKey]*held // the held violations with a serial, by key: lists by arrival (held.sameKey)
	// calls are all held violations by call, trees ordered by time, then arrival: for the records
	// without a serial. Built when the first comes.
	calls    map[callKey]*held
	seq      uint64     // arrival number of the next violation
	prio     *rand.Rand // the trees' priorities
	newest   time.Time
	emit     func(Violation) error
	nextCore int // cores before this index were matched or emitted
	// killsOut are the record keys (and hosts) of the kills handed on: a journal re-imports the kernel's
	// ring buffer each time journald starts, so a kill's kernel-log copy can come minutes after the first,
	// past the Horizon. Kills are few; logged calls (floods) are not remembered. Bounded: maxKillsOut
	// hosts in all (nKillsOut), maxHosts under one key.
	killsOut  map[recordKey][]hostID
	nKillsOut int
	// seconds index the coredumps that name no host pid (a container's forwarded entries: loose) by
	// their second, with the kills that may be theirs (forwarded.go); nil when there are none.
	seconds map[int64]*second
}

const maxKillsOut = 1 << 16

// maxHosts bounds the violations of other hosts that a record is compared with: those held under its
// key (without a serial: of its call within a second), and the kills handed on under its key. Past it a
// record's copies may not join it: a fleet of clones does not log one serial, millisecond and pid on
// this many hosts at once, a crafted log may.
const maxHosts = 64

// NewMerger starts a merge; emit receives the violations oldest first.
func NewMerger(cores []journal.Coredump, coreInfo CoreInfo, emit func(Violation) error) *Merger {
	m := &Merger{coreInfo: coreInfo, byKey: map[recordKey]*held{}, emit: emit, killsOut: map[recordKey][]hostID{},
		prio: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	for _, c := range cores {
		if c.Signal == journal.SIGSYS {
			m.cores = append(m.cores, c)
		}
	}
	sort.SliceStable(m.cores, func(i, j int) bool { return m.cores[i].Time.Before(m.cores[j].Time) })
	m.used = make([]bool, len(m.cores))
	m.indexLoose()
	return m
}

// Add takes one record.
func (m *Merger) Add(r audit.Record) error {
	host := recordHost(r)
	var k recordKey
	if r.Serial != 0 {
		k = recordKeyOf(r)
		for h := m.byKey[k]; h != nil; h = h.sameKey {
			if h.host.sameAs(host) {
				h.join(r)
				return nil
			}
		}
		for _, kh := range m.killsOut[k] {
			if kh.sameAs(host) {
				return nil // a late copy of a kill already handed on
			}
		}
	} else if h := m.sameCall(r, host); h != nil {
		h.join(r)
		return nil
	}
	v := &Violation{Time: r.Time, Node: r.Node, Machine: r.Machine, Serial: r.Serial, PID: r.PID, UID: r.UID, Comm: r.Comm,
		Exe: r.Exe, Arch: r.Arch, Syscall: r.Syscall, Name: r.Name, Compat: r.Compat, Action: r.Action,
		Code: r.Code, Sig: r.Sig, Sources: []string{r.Source}}
	h := newHeld(v, host, m.seq, m.prio.Uint64())
	m.seq++
	if r.Serial != 0 {
		if last := m.byKey[k]; last == nil {
			m.byKey[k] = h
		} else {
			n := 1
			for ; last.sameKey != nil; n++ {
				last = last.sameKey
			}
			if n < maxHosts { // past it, no copy can join this one
				last.sameKey = h
			}
		}
	}
	if m.calls != nil {
		c := callOf(v)
		m.calls[c] = m.calls[c].insert(h)
	}
	m.noteKill(v, host)
	heap.Push(&m.pending, h)
	if v.Time.After(m.newest) {
		m.newest = v.Time
	}
	return m.release(m.newest.Add(-Horizon))
}

// sameCall finds a violation of the same call for a record without a serial (a copied or reformatted
// log may lose it): same host, pid, arch, syscall and code within a second; the oldest if several.
func (m *Merger) sameCall(r audit.Record, host hostID) *held {
	if m.calls == nil {
		m.calls = map[callKey]*held{}
		for _, it := range m.pending {
			c := callOf(it.h.v)
			m.calls[c] = m.calls[c].insert(it.h)
		}
	}
	return m.calls[callKey{r.PID, r.Arch, r.Syscall, r.Code}].first(
		instantOf(r.Time.Add(-time.Second)), instantOf(r.Time.Add(time.Second)), func(h *held) bool { return h.host.sameAs(host) })
}

func callOf(v *Violation) callKey { return callKey{v.PID, v.Arch, v.Syscall, v.Code} }

// Flush hands on everything still held.
func (m *Merger) Flush() error { return m.release(time.Time{}) }

// release hands on the violations (and unmatched coredumps) older than before; a zero before releases all.
func (m *Merger) release(before time.Time) error {
	all := before.IsZero()
	until := instantOf(before)
	for len(m.pending) > 0 && (all || m.pending[0].at.before(until)) {
		if !all && m.holdFor(m.pending[0].h.v, until) {
			break // a loose coredump of its program waits for every record of its second
		}
		h := heap.Pop(&m.pending).(*held)
		v := h.v
		m.forget(h)
		// Coredumps whose reach ([t-1s, t+3s)) ended before this violation stand alone: emit them first.
		if err := m.coresBefore(v.Time.Add(-3 * time.Second)); err != nil {
			return err
		}
		m.attach(v)
		if v.Serial != 0 && v.Action.IsKill() {
			// Remembered with its host as handed on: a coredump may have named it.
			if m.nKillsOut >= maxKillsOut {
				m.killsOut, m.nKillsOut = map[recordKey][]hostID{}, 0
			}
			k := violationKey(v)
			if len(m.killsOut[k]) < maxHosts {
				m.killsOut[k] = append(m.killsOut[k], hostOf(v.Host()))
				m.nKillsOut++
			}
		}
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

// forget drops a violation handed on from the indexes.
func (m *Merger) forget(h *held) {
	v := h.v
	if v.Serial != 0 {
		k := violationKey(v)
		if first := m.byKey[k]; first == h && h.sameKey == nil {
			delete(m.byKey, k)
		} else if first == h {
			m.byKey[k] = h.sameKey
		} else {
			for p := first; p != nil; p = p.sameKey {
				if p.sameKey == h {
					p.sameKey = h.sameKey
					break
				}
			}
		}
		h.sameKey = nil
	}
	if m.calls != nil {
		c := callOf(v)
		if t := m.calls[c].remove(h); t != nil {
			m.calls[c] = t
		} else {
			delete(m.calls, c)
		}
	}
}

// attach gives a kill the coredump of its process: same pid, within the coredump's 1-s resolution; else
// a coredump that names no host pid, by executable and second when that pairing is unique (attachLoose).
func (m *Merger) attach(v *Violation) {
	if !v.Action.IsKill() {
		return
	}
	for i := m.nextCore; i < len(m.cores); i++ {
		c := m.cores[i]
		if v.Time.Sub(c.Time) < -time.Second {
			break // this coredump and all later ones are out of reach
		}
		if m.used[i] || !pidJoinable(&c) || AuditPID(c) != v.PID || !c.Host.Compatible(v.Host()) {
			continue
		}
		if d := v.Time.Sub(c.Time); d >= -time.Second && d < 3*time.Second {
			m.consume(i)
			m.joinCore(v, &m.cores[i])
			return
		}
	}
	m.attachLoose(v)
}

// auditPID is the pid a kill record of the coredump's process carries. The kernel writes the audit
// record's pid= in the initial pid namespace (audit_log_task: task_tgid_nr), while COREDUMP_PID is the pid
// in the namespace of the systemd-coredump that logged the entry: in a system container with its own
// systemd-coredump (a core forwarded into it, or relayed), the container's pid. When the entry's NSpid:
// pairs that pid with an outer one, the record names the outer one, and only that: a record with the
// container's pid number is another process of the host.
func AuditPID(c journal.Coredump) int {
	if hp, ok := c.HostPID(); ok {
		return hp
	}
	return c.PID
}

// CoredumpUnit is the unit a coredump entry names (for a user unit: the user unit, user, its manager)
// and how that ties the kill joined to it by pid — the merger's rule, and watch's late wait's.
func CoredumpUnit(c journal.Coredump) (unit string, user bool, manager string, how Attribution) {
	unit, user, manager = unitOf(c)
	how = Attribution{Method: ByCoredump, Invocation: c.Invocation, Detail: fmt.Sprintf("systemd-coredump's entry for pid %d names the unit", c.PID)}
	if hp, ok := c.HostPID(); ok {
		how.Detail = fmt.Sprintf("systemd-coredump's entry for pid %d names the unit (matched by the NSpid pair %d/%d: the record's pid is the host's)",
			c.PID, hp, c.PID)
	}
	return unit, user, manager, how
}

func (m *Merger) joinCore(v *Violation, c *journal.Coredump) {
	v.Coredump = c
	if v.Machine == "" && v.Node == "" {
		v.Node, v.Machine = c.Host.Hostname, c.Host.MachineID
	}
	addSource(v, "coredump")
	var how Attribution
	v.Unit, v.UserUnit, v.Manager, how = CoredumpUnit(*c)
	if v.Unit != "" {
		v.How = how
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
		m.consume(i)
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
