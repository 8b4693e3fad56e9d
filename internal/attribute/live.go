package attribute

// The live half, for watch and trial: a record is tied as it arrives, by its process's cgroup (Cgroups,
// TieCgroup); a kill whose cgroup could not be read waits a little (Late) for the journal entries that
// tie it the way why ties it — systemd-coredump's entry, the manager's SIGSYS exit entry, the process's
// own entries — and then goes through Attribute with those facts. The clock and /proc come in.

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"sync"
	"time"

	"github.com/sysdiag/sysdiag/internal/cgroup"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

const (
	// LateCap bounds the kills waiting at once: past it, a kill is handed on at once, untied, and says so.
	LateCap = 256
	// LateReach is how long a kill whose process was gone waits for the entries that tie it: systemd
	// writes a SIGSYS exit at most exitBefore after the kill, systemd-coredump its entry within about as
	// long.
	LateReach = 3 * time.Second
	// ProcessLookback is how far back a waiting kill's process's own journal entries are looked for.
	ProcessLookback = 24 * time.Hour

	cgroupFresh = time.Second      // a flood of one process's records reads its cgroup once a second
	cgroupKept  = 30 * time.Second // a pid's answer outlives its process this long (pids are not reused within seconds)
	cgroupMax   = 4096             // answers kept

	liveKeep    = 30 * time.Second // kills decided, coredumps and exits are remembered this long after they arrived
	liveKillMax = 512              // … at most this many kills
	liveCoreMax = 1024             // … coredumps
	liveExitMax = 512              // … and exits
)

// Cgroups reads a process's cgroup at the moment its record arrives: while its core is being dumped the
// process still exists. Answers are kept a while per pid, bounded: a flood of records of one process
// (SystemCallLog=) reads it once a second, and records that arrive after their process exited still find
// its unit.
type Cgroups struct {
	proc    fs.FS
	now     func() time.Time
	foreign bool

	mu    sync.Mutex
	cache map[int]cgroupRead
}

type cgroupRead struct {
	u  cgroup.Unit
	at time.Time
}

// NewCgroups reads cgroups from proc (os.DirFS("/proc") on a host). initialNS says sysdiag runs in the
// kernel's initial PID namespace, whose pids the audit records name; outside it /proc/PID is another
// process, and nothing is read. now nil is time.Now.
func NewCgroups(proc fs.FS, now func() time.Time, initialNS bool) *Cgroups {
	if now == nil {
		now = time.Now
	}
	return &Cgroups{proc: proc, now: now, foreign: !initialNS, cache: map[int]cgroupRead{}}
}

// Read returns the unit of pid's cgroup, or no unit and why not.
func (c *Cgroups) Read(pid int) (cgroup.Unit, string) {
	switch {
	case pid <= 0:
		return cgroup.Unit{}, "the record names no process"
	case c.foreign:
		return cgroup.Unit{}, fmt.Sprintf("sysdiag runs in another PID namespace than the kernel's records: pid %d here is another process, so no cgroup was read", pid)
	case c.proc == nil:
		return cgroup.Unit{}, "no /proc to read the cgroup of pid " + strconv.Itoa(pid) + " in"
	}
	now := c.now()
	c.mu.Lock()
	e, cached := c.cache[pid]
	c.mu.Unlock()
	if cached && now.Sub(e.at) < cgroupFresh {
		return e.u, noUnit(e.u, pid)
	}
	raw, err := fs.ReadFile(c.proc, strconv.Itoa(pid)+"/cgroup")
	if err != nil {
		// Gone: records of a flood can arrive after their process exited. A recent answer still holds.
		if cached && now.Sub(e.at) < cgroupKept {
			return e.u, noUnit(e.u, pid)
		}
		return cgroup.Unit{}, fmt.Sprintf("pid %d was gone before its cgroup could be read", pid)
	}
	u := cgroup.FromProcFile(raw)
	c.mu.Lock()
	if len(c.cache) >= cgroupMax {
		for p, r := range c.cache {
			if now.Sub(r.at) >= cgroupKept {
				delete(c.cache, p)
			}
		}
		if len(c.cache) >= cgroupMax {
			c.cache = map[int]cgroupRead{}
		}
	}
	c.cache[pid] = cgroupRead{u, now}
	c.mu.Unlock()
	return u, noUnit(u, pid)
}

func noUnit(u cgroup.Unit, pid int) string {
	if u.Name != "" {
		return ""
	}
	return fmt.Sprintf("the cgroup of pid %d names no unit", pid)
}

// TieCgroup ties v to u, the unit its process's cgroup named when the record arrived; with no unit it
// notes why (Cgroups.Read's answer). A violation already tied is left as it is.
func TieCgroup(v *evidence.Violation, u cgroup.Unit, why string) {
	if v.Unit != "" {
		return
	}
	if u.Name == "" {
		if why != "" {
			note(v, why)
		}
		return
	}
	v.Unit, v.UserUnit, v.Manager = u.Name, u.User, u.Manager
	v.How = evidence.Attribution{Method: evidence.ByCgroup, Detail: fmt.Sprintf("the cgroup of pid %d, read while it still existed", v.PID)}
}

// LateConfig is what Late needs from the host.
type LateConfig struct {
	Now   func() time.Time // time.Now when nil
	Reach time.Duration    // how long a kill waits; LateReach when 0
	Cap   int              // how many kills wait at once; LateCap when 0
	// ForeignPIDs: the journal's pids are not the records' (see Facts): no pid ties anything.
	ForeignPIDs bool
	// Processes reads what process pid of host wrote to the journal itself in [since, until]
	// (sources.Facts.Processes); nil: not asked.
	Processes func(host journal.Host, pid int, since, until time.Time) []journal.Process
	// Programs names a unit's executables, for the exit rule (nil: unknown).
	Programs func(h journal.Host, unit string, user bool) []string
	// MainPID asks the manager of host h for the unit's ExecMainPID and the invocation it belongs to
	// (the latest; kept after it exits), for the main-pid rule; nil or 0: not known.
	MainPID func(h journal.Host, unit string, user bool) (pid int, invocation string)
}

// Late holds the kills whose process's cgroup could not be read until the journal ties them: a
// systemd-coredump entry of the process ties it as soon as it arrives; at the end of its wait, the kill
// goes through Attribute with the SIGSYS exit entries that arrived meanwhile, the process's own journal
// entries, and the kills decided a little before it (a kill already tied explains its unit's exit). What
// comes out says how it was tied, or why not. One queue, bounded, not a goroutine per kill.
type Late struct {
	cfg LateConfig
	out func(evidence.Violation)

	decide sync.Mutex // one decision at a time (Tick, Flush): the lookups are not made concurrently

	mu      sync.Mutex
	pending []lateKill // waiting, oldest first
	kills   []lateKill // decided, remembered with when
	cores   []lateCore
	exits   []lateExit
}

type lateKill struct {
	v  evidence.Violation
	at time.Time // deadline while waiting; when decided after
}

type lateCore struct {
	c  journal.Coredump
	at time.Time
}

type lateExit struct {
	e  journal.UnitExit
	at time.Time
}

// NewLate makes the queue; out receives each kill that waited, once decided (from the goroutine that
// called Coredump or Tick, never while Late's lock is held).
func NewLate(cfg LateConfig, out func(evidence.Violation)) *Late {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Reach <= 0 {
		cfg.Reach = LateReach
	}
	if cfg.Cap <= 0 {
		cfg.Cap = LateCap
	}
	return &Late{cfg: cfg, out: out}
}

// Hold takes a violation as it arrives (after TieCgroup). An untied kill waits: Hold says true, and it
// comes out through out later. Everything else is the caller's to hand on at once (false): a logged
// call, a tied kill (a coredump entry that arrived first may tie it here), and a kill when the queue is
// full, noted so. Kills are remembered a while either way: a tied kill explains its unit's exit entry.
func (l *Late) Hold(v *evidence.Violation) bool {
	if !v.Action.IsKill() {
		return false
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	if v.Unit == "" {
		if c, ok := coreFor(*v, l.cores); ok {
			tieCoredump(v, c)
		}
	}
	if v.Unit != "" {
		l.remember(*v, now)
		return false
	}
	if len(l.pending) >= l.cfg.Cap {
		note(v, fmt.Sprintf("%d kills were already waiting for the entries that tie a kill, so this one did not wait", l.cfg.Cap))
		l.remember(*v, now)
		return false
	}
	l.pending = append(l.pending, lateKill{*v, now.Add(l.cfg.Reach)})
	return true
}

// Waiting is how many kills wait.
func (l *Late) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// Coredump takes a SIGSYS coredump entry as it arrives: the waiting kill of its process is tied at once.
func (l *Late) Coredump(c journal.Coredump) {
	if c.Signal != journal.SIGSYS {
		return
	}
	now := l.cfg.Now()
	var tied []evidence.Violation
	l.mu.Lock()
	l.prune(now)
	if len(l.cores) >= liveCoreMax {
		l.cores = append(l.cores[:0], l.cores[1:]...)
	}
	l.cores = append(l.cores, lateCore{c, now})
	if evidence.ContainerPID(c) {
		// The waiting kills, then the decided ones: an entry that also fits a decided kill of its
		// program and second (tied by its cgroup, or by this entry already) ties none.
		kills := make([]evidence.Violation, 0, len(l.pending)+len(l.kills))
		for _, k := range l.pending {
			kills = append(kills, k.v)
		}
		for _, k := range l.kills {
			kills = append(kills, k.v)
		}
		pairs := forwardedPairs(kills, l.cores)
		rest := l.pending[:0]
		for i, k := range l.pending {
			if fc, ok := pairs[i]; ok && fc.Unit+fc.UserUnit != "" { // an entry naming no unit ends no wait
				evidence.TieByExe(&k.v, &fc)
				l.remember(k.v, now)
				tied = append(tied, k.v)
				continue
			}
			rest = append(rest, k)
		}
		for i := len(rest); i < len(l.pending); i++ {
			l.pending[i] = lateKill{}
		}
		l.pending = rest
	}
	for i := 0; i < len(l.pending); i++ {
		v := l.pending[i].v
		if !coreFits(v, c) {
			continue
		}
		if !tieCoredump(&v, c) {
			break // names no unit: the kill waits on for other entries
		}
		l.pending = append(l.pending[:i], l.pending[i+1:]...)
		l.remember(v, now)
		tied = append(tied, v)
		break // one process, one kill
	}
	l.mu.Unlock()
	for _, v := range tied {
		l.out(v)
	}
}

// Exit takes a manager's exit entry as it arrives; only SIGSYS deaths are kept.
func (l *Late) Exit(e journal.UnitExit) {
	if !e.Killed() {
		return
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	if len(l.exits) >= liveExitMax {
		l.exits = append(l.exits[:0], l.exits[1:]...)
	}
	l.exits = append(l.exits, lateExit{e, now})
}

// Tick decides the kills whose wait has ended, and hands them to out.
func (l *Late) Tick() {
	l.decide.Lock()
	defer l.decide.Unlock()
	now := l.cfg.Now()
	due := l.take(func(k lateKill) bool { return !now.Before(k.at) })
	if len(due) == 0 {
		return
	}
	reach := l.cfg.Reach
	for _, v := range l.settle(due, now, func(v evidence.Violation) string {
		return fmt.Sprintf("no coredump entry, SIGSYS exit entry or journal entry of pid %d tied it within %s", v.PID, reach)
	}) {
		l.out(v)
	}
}

// Flush decides every waiting kill now, with what has arrived (watch is ending), and returns them.
func (l *Late) Flush() []evidence.Violation {
	l.decide.Lock()
	defer l.decide.Unlock()
	now := l.cfg.Now()
	all := l.take(func(lateKill) bool { return true })
	if len(all) == 0 {
		return nil
	}
	return l.settle(all, now, func(evidence.Violation) string {
		return "watch stopped before the entries that tie a kill could arrive"
	})
}

// Run ticks at each tick until ctx ends.
func (l *Late) Run(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			l.Tick()
		}
	}
}

// take removes the waiting kills that due says are due, oldest first.
func (l *Late) take(due func(lateKill) bool) []evidence.Violation {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []evidence.Violation
	rest := l.pending[:0]
	for _, k := range l.pending {
		if due(k) {
			out = append(out, k.v)
		} else {
			rest = append(rest, k)
		}
	}
	for i := len(rest); i < len(l.pending); i++ {
		l.pending[i] = lateKill{}
	}
	l.pending = rest
	return out
}

// settle ties the due kills with what has arrived — a coredump entry, else Attribute over the exits, the
// processes' own entries and the kills around them — notes why on those it leaves untied, and remembers
// them.
func (l *Late) settle(due []evidence.Violation, now time.Time, why func(evidence.Violation) string) []evidence.Violation {
	l.mu.Lock()
	l.prune(now)
	cores := make([]lateCore, len(l.cores))
	copy(cores, l.cores)
	exits := make([]journal.UnitExit, 0, len(l.exits))
	for _, e := range l.exits {
		exits = append(exits, e.e)
	}
	vs := make([]evidence.Violation, 0, len(l.kills)+len(l.pending)+len(due))
	for _, k := range l.kills {
		vs = append(vs, k.v)
	}
	for _, k := range l.pending {
		vs = append(vs, k.v)
	}
	l.mu.Unlock()

	off := len(vs)
	for i := range due {
		if c, ok := coreFor(due[i], cores); ok {
			tieCoredump(&due[i], c)
		}
	}
	// A container's forwarded entries, by executable and second, unique among the due and waiting kills.
	pairs := forwardedPairs(append(append([]evidence.Violation{}, due...), vs...), cores) // and the waiting and decided ones: unique among all
	for i := range due {
		if fc, ok := pairs[i]; ok && due[i].Unit == "" {
			evidence.TieByExe(&due[i], &fc)
		}
	}
	vs = append(vs, due...)
	f := Facts{ForeignPIDs: l.cfg.ForeignPIDs, Runs: RunsOf(exits, l.cfg.Programs)}
	if !f.ForeignPIDs && l.cfg.MainPID != nil {
		for i := range f.Runs {
			r := &f.Runs[i]
			if pid, inv := l.cfg.MainPID(r.Host, r.Unit, r.User); pid > 0 && inv == r.Invocation {
				r.MainPID = pid
			}
		}
	}
	if !f.ForeignPIDs && l.cfg.Processes != nil {
		asked := map[string]bool{}
		for _, v := range due {
			k := v.Machine + "/" + v.Node + "/" + strconv.Itoa(v.PID)
			if v.Unit != "" || asked[k] {
				continue
			}
			asked[k] = true
			f.Processes = append(f.Processes, l.cfg.Processes(v.Host(), v.PID, v.Time.Add(-ProcessLookback), v.Time.Add(time.Second))...)
		}
		f.Runs = liveRunsOf(f.Processes, f.Runs)
	}
	Attribute(vs, f)
	out := vs[off:]
	for i := range out {
		if out[i].Unit == "" {
			note(&out[i], why(out[i]))
		}
	}
	l.mu.Lock()
	for _, v := range out {
		l.remember(v, now)
	}
	l.mu.Unlock()
	return out
}

// liveRunsOf adds an open-ended run for each invocation a process wrote in that no run names.
func liveRunsOf(procs []journal.Process, runs []Run) []Run {
	have := map[string]bool{}
	key := func(h journal.Host, unit string, user bool, inv string) string {
		return fmt.Sprintf("%s/%s/%s/%t/%s", h.MachineID, h.Hostname, unit, user, inv)
	}
	for _, r := range runs {
		have[key(r.Host, r.Unit, r.User, r.Invocation)] = true
	}
	for _, p := range procs {
		if k := key(p.Host, p.Unit, p.User, p.Invocation); p.Unit != "" && !have[k] {
			have[k] = true
			runs = append(runs, Run{Unit: p.Unit, User: p.User, Invocation: p.Invocation, Running: true, Host: p.Host})
		}
	}
	return runs
}

// remember keeps a decided kill for a while; l.mu is held.
func (l *Late) remember(v evidence.Violation, now time.Time) {
	if len(l.kills) >= liveKillMax {
		l.kills = append(l.kills[:0], l.kills[1:]...)
	}
	l.kills = append(l.kills, lateKill{v, now})
}

// prune forgets what arrived longer than liveKeep ago; l.mu is held.
func (l *Late) prune(now time.Time) {
	old := now.Add(-liveKeep)
	i := 0
	for i < len(l.kills) && l.kills[i].at.Before(old) {
		i++
	}
	l.kills = append(l.kills[:0], l.kills[i:]...)
	i = 0
	for i < len(l.cores) && l.cores[i].at.Before(old) {
		i++
	}
	l.cores = append(l.cores[:0], l.cores[i:]...)
	i = 0
	for i < len(l.exits) && l.exits[i].at.Before(old) {
		i++
	}
	l.exits = append(l.exits[:0], l.exits[i:]...)
}

// coreFor finds the coredump entry of v's process among cores.
func coreFor(v evidence.Violation, cores []lateCore) (journal.Coredump, bool) {
	for _, c := range cores {
		if coreFits(v, c.c) {
			return c.c, true
		}
	}
	return journal.Coredump{}, false
}

// forwardedPairs pairs kills with the coredump entries among cores that a container's systemd-coredump
// received forwarded from the host (they name the container's pid, never the record's) by executable
// and second, where the pairing is unique both ways (evidence.PairByExe): kill index → its entry.
func forwardedPairs(kills []evidence.Violation, cores []lateCore) map[int]journal.Coredump {
	var fw []journal.Coredump
	for _, c := range cores {
		if evidence.ContainerPID(c.c) {
			fw = append(fw, c.c)
		}
	}
	if len(fw) == 0 || len(kills) == 0 {
		return nil
	}
	pairs, _ := evidence.PairByExe(kills, fw)
	out := make(map[int]journal.Coredump, len(pairs))
	for i, j := range pairs {
		out[i] = fw[j]
	}
	return out
}

// coreFits: the coredump is of v's process — its pid as the audit record names it (the NSpid pair's
// host pid for a container's process), its host, within the coredump's one-second resolution (the rule
// evidence.Merger joins them by).
func coreFits(v evidence.Violation, c journal.Coredump) bool {
	if evidence.ContainerPID(c) {
		return false // a container's entry names its own pid: a record with that number is another process
	}
	if evidence.AuditPID(c) != v.PID || !c.Host.Compatible(v.Host()) {
		return false
	}
	d := v.Time.Sub(c.Time)
	return d >= -time.Second && d < 3*time.Second
}

// tieCoredump ties v to the unit c names, as evidence.Merger does; false when c names none.
func tieCoredump(v *evidence.Violation, c journal.Coredump) bool {
	unit, user, manager, how := evidence.CoredumpUnit(c)
	if unit == "" {
		return false
	}
	v.Unit, v.UserUnit, v.Manager, v.How = unit, user, manager, how
	if v.Node == "" && v.Machine == "" {
		v.Node, v.Machine = c.Host.Hostname, c.Host.MachineID
	}
	return true
}
