package diagnose

import (
	"fmt"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// WatchFilter is what watch is asked to show: --unit, --syscall and --action.
type WatchFilter struct {
	Unit    string // a glob of unit names; "" every unit
	Syscall string // one call's name; "" every call
	Action  string // "kill", "log" (SystemCallLog=) or "all"
}

// Check refuses an action or a syscall name watch does not know.
func (f WatchFilter) Check() error {
	switch f.Action {
	case "kill", "log", "all":
	default:
		return fmt.Errorf("--action %q: want kill, log or all", f.Action)
	}
	if f.Syscall != "" && !syscalls.IsSyscall(f.Syscall) {
		return fmt.Errorf("--syscall: unknown syscall %q", f.Syscall)
	}
	return nil
}

// Pass reports whether v is one the filter asks for.
func (f WatchFilter) Pass(v evidence.Violation) bool {
	switch {
	case f.Action == "kill" && !v.Action.IsKill(), f.Action == "log" && v.Action != audit.ActionLog:
		return false
	case f.Syscall != "" && v.Name != f.Syscall:
		return false
	case f.Unit != "":
		ok, _ := path.Match(f.Unit, v.Unit)
		return ok
	}
	return true
}

// WatchUnits is where watch reads each host's units and chooses its table (unit.Fleet).
type WatchUnits interface {
	Load(h journal.Host, name string, user bool, manager string) (*Unit, error)
	Choose(h journal.Host, u *Unit) (unit.Choice, error)
}

// FilterCacheFor is how long watch keeps a unit's filter: a burst of kills reads the unit once, and an
// admin editing it sees the edit a few seconds later.
const FilterCacheFor = 3 * time.Second

// Watch holds watch's decisions over a stream of violations: which pass the filter, which repeat one
// already shown (counted for the summary), and the diagnosis of each first one with its unit's filter.
// Safe for concurrent use.
type Watch struct {
	Filter WatchFilter
	Units  WatchUnits
	Table  syscalls.Table   // when a host's table cannot be chosen: this machine's
	Host   syscalls.Arch    // this machine's native ABI
	Now    func() time.Time // the clock of delays and the filter cache; nil: time.Now
	// Show prints a first violation, delayMS after it happened (0: a replay).
	Show func(f WatchFinding, delayMS int64)

	mu        sync.Mutex
	jobs      chan watchJob
	worked    chan struct{}
	seen      map[watchFold]int
	filters   map[watchUnit]watchCache
	kernel    uint32
	overflows int
}

// watchFold is what repeats fold on: one unit's same call with the same action (a struct, not a joined
// string: a delegated cgroup may be named "a|b.service").
type watchFold struct {
	watchUnit
	syscall, arch string
	action        string
}

// watchUnit is one unit of one host.
type watchUnit struct {
	host, machine string
	unit          string
	user          bool
}

type watchCache struct {
	f    *fixes.Filter
	u    *Unit
	when time.Time
}

// Admit counts v and reports whether it is to be shown: it passes the filter and is the first of its
// (host, unit, call, arch, action). A unit-less violation counts under "unknown".
func (w *Watch) Admit(v evidence.Violation) bool {
	if !w.Filter.Pass(v) {
		return false
	}
	name := v.Unit
	if name == "" {
		name = "unknown"
	}
	k := watchFold{watchUnit{v.Node, v.Machine, name, v.UserUnit}, v.Name, v.Arch.String(), v.Action.String()}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[watchFold]int{}
	}
	w.seen[k]++
	return w.seen[k] == 1
}

// Lost counts what the host dropped before it was read: the kernel's lost records and netlink overflows.
func (w *Watch) Lost(kernel uint32, overflows int) {
	w.mu.Lock()
	w.kernel += kernel
	w.overflows += overflows
	w.mu.Unlock()
}

// UnitCount is one unit's line of watch's summary (and its --json shape).
type UnitCount struct {
	Host      string         `json:"host,omitempty"`
	MachineID string         `json:"machine_id,omitempty"`
	Unit      string         `json:"unit"`
	UserUnit  bool           `json:"user_unit"`
	Syscalls  map[string]int `json:"syscalls"`
	Total     int            `json:"total"`
}

// WatchSummary is what watch says at the end: every admitted violation counted per unit, by host
// (hostname/machine id), unit and system before user; and what was lost.
type WatchSummary struct {
	Units     []UnitCount
	Kernel    uint32 // records the kernel dropped
	Overflows int    // netlink receive-buffer overflows
}

// Summary is the counts so far.
func (w *Watch) Summary() WatchSummary {
	w.mu.Lock()
	per := map[watchUnit]*UnitCount{}
	for k, n := range w.seen {
		if per[k.watchUnit] == nil {
			per[k.watchUnit] = &UnitCount{Host: k.host, MachineID: k.machine, Unit: k.unit, UserUnit: k.user, Syscalls: map[string]int{}}
		}
		per[k.watchUnit].Syscalls[k.syscall] += n
		per[k.watchUnit].Total += n
	}
	s := WatchSummary{Kernel: w.kernel, Overflows: w.overflows}
	w.mu.Unlock()
	for _, c := range per {
		s.Units = append(s.Units, *c)
	}
	l := s.Units
	sort.Slice(l, func(i, j int) bool {
		if l[i].Host != l[j].Host || l[i].MachineID != l[j].MachineID {
			return l[i].Host+"/"+l[i].MachineID < l[j].Host+"/"+l[j].MachineID
		}
		if l[i].Unit != l[j].Unit {
			return l[i].Unit < l[j].Unit
		}
		return !l[i].UserUnit && l[j].UserUnit
	})
	return s
}

// WatchQueue is how many first violations wait for the diagnosing worker; past it, they are shown
// undiagnosed.
const WatchQueue = 1024

// Start runs the worker that diagnoses the live first violations Handle gives it: diagnosing reads the
// unit (D-Bus, files) and builds BPF, off the record loop, so a slow manager never stalls the reading of
// records (the kernel drops what is not read). Drain waits for it.
func (w *Watch) Start() {
	w.jobs, w.worked = make(chan watchJob, WatchQueue), make(chan struct{})
	go func() {
		defer close(w.worked)
		for j := range w.jobs {
			w.Show(w.Explain(j.v, true), j.delay)
		}
	}()
}

// watchJob is a first violation for the worker, and how long after it happened it was read.
type watchJob struct {
	v     evidence.Violation
	delay int64
}

// Drain lets the worker show what it holds, and stops it.
func (w *Watch) Drain() {
	close(w.jobs)
	<-w.worked
}

// Handle shows v, already attributed, when Admit lets it through: a replay (not live) diagnosed at once,
// in order; a live one by the worker, or — when the worker is behind — at once, without the diagnosis.
func (w *Watch) Handle(v evidence.Violation, live bool) {
	switch {
	case !w.Admit(v): // filtered out, or folded: counted, shown in the summary
	case !live:
		w.Show(w.Explain(v, true), 0)
	default:
		j := watchJob{v, w.now().Sub(v.Time).Milliseconds()}
		select {
		case w.jobs <- j:
		default:
			w.Show(w.Explain(v, false), j.delay)
		}
	}
}

// WatchFinding is one first violation as watch shows it.
type WatchFinding struct {
	Finding
	V         evidence.Violation
	Diagnosed bool   // its unit's filter was looked at
	Fix       *Fix   // the smallest fix, verified as why's; nil for none
	Note      string // when there is no fix: why not ("" says nothing)
}

// NotDiagnosed is the note of a violation shown without its diagnosis: watch fell behind.
const NotDiagnosed = "not diagnosed: too many new violations at once"

// Explain is v — a first violation, already attributed — with its groups in its host's table and, when
// diag, the line of its unit that blocked it and the fix: the same answer why gives.
func (w *Watch) Explain(v evidence.Violation, diag bool) WatchFinding {
	wf := WatchFinding{Finding: Finding{Violation: ViolationOf(v, w.tableFor(v))}, V: v, Diagnosed: diag}
	if !diag {
		wf.Note = NotDiagnosed
		return wf
	}
	f, u, why := w.filterFor(v)
	if f != nil {
		wf.Groups = GroupNames(v, f.Table) // the groups of the host's own systemd
	}
	foreign := v.Node != "" || v.Machine != ""
	switch {
	case f != nil && v.Known():
		host := w.Host
		if foreign {
			host = 0 // another host's: "native" from its record (HostArch)
		}
		res := Diagnose(u, f, f.Table, "", &Evidence{Violations: []evidence.Violation{v}, Host: host})
		if len(res.Violations) == 1 {
			wf.BlockedBy = res.Violations[0].BlockedBy
		}
		wf.Fix = res.Fix
	case v.Unit == "" && foreign:
		wf.Note = "unit unknown (no coredump entry of that host names it)"
	case v.Unit == "":
		wf.Note = "unit unknown (the process was gone before its cgroup could be read)"
	default:
		wf.Note = why
	}
	return wf
}

func (w *Watch) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// filterFor is v's unit's filter for its host's systemd, cached for FilterCacheFor; why says, when there
// is none, what is missing.
func (w *Watch) filterFor(v evidence.Violation) (*fixes.Filter, *Unit, string) {
	if v.Unit == "" {
		return nil, nil, ""
	}
	k := watchUnit{v.Node, v.Machine, v.Unit, v.UserUnit}
	w.mu.Lock()
	c, ok := w.filters[k]
	w.mu.Unlock()
	if ok && w.now().Sub(c.when) < FilterCacheFor {
		return c.f, c.u, ""
	}
	h := v.Host()
	u, err := w.Units.Load(h, v.Unit, v.UserUnit, v.Manager)
	if unit.IsNoTree(err) {
		return nil, nil, fmt.Sprintf("no copy of host %s's unit files (--root %s=DIR): no line, no fix", unit.HostLabel(h), unit.HostKey(h))
	}
	if err != nil || u == nil {
		return nil, nil, ""
	}
	ch, err := w.Units.Choose(h, u)
	if err != nil {
		ch = unit.Choice{Table: w.Table}
	}
	f := fixes.Build(ch.Table, u.Assigns, ch.Known)
	w.mu.Lock()
	if w.filters == nil {
		w.filters = map[watchUnit]watchCache{}
	}
	w.filters[k] = watchCache{f, u, w.now()}
	w.mu.Unlock()
	return f, u, ""
}

// tableFor is the table of v's host, for its groups when its unit's filter is not read: the host's
// --systemd-version, else the version its journal names, else its tree's, else this machine's.
func (w *Watch) tableFor(v evidence.Violation) syscalls.Table {
	ch, err := w.Units.Choose(v.Host(), nil)
	if err != nil {
		return w.Table
	}
	return ch.Table
}
