package attribute

import (
	"container/heap"
	"sort"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// MaxJournalPIDs is how many pids of untied kills postmortem and events ask the journal about (the
// journal-pid rule of Attribute): one query each.
const MaxJournalPIDs = 256

// Limits bound what a Store keeps of a window's kills one by one. Every count stays exact past
// them: a kill not kept is still counted, under its unit's call or its untied group.
type Limits struct {
	// JournalPIDs: the first so many pids of untied kills, whose kills attribution may tie by the
	// process's own journal entries (0: no journal is read, or its pids are another namespace's).
	JournalPIDs int
	// PerPID: kills kept per such pid (a process dies of its first kill, or has a few threads killed:
	// more kills of one pid are the number reused).
	PerPID int
	// PerUnit: a unit's kills kept beyond the earliest of each call and of each invocation.
	PerUnit int
	// Examples: kills tied to no unit listed one by one (the earliest).
	Examples int
	// Groups: (host, program, call) groups of untied kills counted apart; kills past them are counted
	// in one "other" group.
	Groups int
}

// DefaultLimits are the post-mortem's.
var DefaultLimits = Limits{JournalPIDs: MaxJournalPIDs, PerPID: 64, PerUnit: 64, Examples: 100, Groups: 1000}

// Store holds a window's kills for the post-mortem in memory bounded by what the evidence finds,
// not by how many kills there are. Add keeps in full, for Attribute, only the kills its rules
// can use: those near a SIGSYS exit of the facts' runs (any, tied or not: a tied one explains its
// exit), and up to Limits.PerPID of each of the first Limits.JournalPIDs untied pids. A kill of a
// manager's main pid away from every exit is tied at once, by Attribute on it alone (there,
// its rules need nothing else). Every other kill is filed at once: under its unit (which keeps the
// earliest kill of each call and of each invocation, a few more, and exact counts), or counted in the
// untied groups (host, program, call), the earliest few kept as examples. Attribute ties what was kept
// and files it the same way.
type Store struct {
	lim      Limits
	runs     []Run
	exits    []time.Time // every SIGSYS exit of the runs, sorted
	mainPIDs map[int]bool
	foreign  bool // the journal's pids are not the kernel's: no pid ties anything

	seq     int                  // arrival order: the tie-break of equal times, as a stable sort by time gives
	pending []evidence.Violation // kept for attribution, in arrival order
	pendSeq []int                // their seq
	jpids   map[int]bool         // the untied pids the journal is asked about
	perPID  map[int]int          // kills kept per pid
	units   map[UnitKey]*unitTally
	untied  untiedTally
}

// held is a kept kill and when it arrived.
type held struct {
	v   evidence.Violation
	seq int
}

// NewStore makes a store for a window whose facts (the runs' exits and main pids; their
// processes come later) are known before its kills are read.
func NewStore(f Facts, lim Limits) *Store {
	s := &Store{lim: lim, runs: f.Runs, mainPIDs: map[int]bool{}, foreign: f.ForeignPIDs, jpids: map[int]bool{}, perPID: map[int]int{},
		units: map[UnitKey]*unitTally{}, untied: untiedTally{groups: map[untiedKey]*untiedCount{}}}
	for _, r := range f.Runs {
		s.exits = append(s.exits, r.Exits...)
		if r.MainPID != 0 {
			s.mainPIDs[r.MainPID] = true
		}
	}
	sort.Slice(s.exits, func(i, j int) bool { return s.exits[i].Before(s.exits[j]) })
	return s
}

// Add takes one violation of the window; logged calls (SystemCallLog=) are not kills and are left out.
func (s *Store) Add(v evidence.Violation) {
	if !v.Action.IsKill() {
		return
	}
	s.seq++
	if s.attributable(&v) {
		s.pending = append(s.pending, v)
		s.pendSeq = append(s.pendSeq, s.seq)
		return
	}
	s.file(held{v, s.seq})
}

// attributable says whether Attribute may use v later (tie it by its pid's journal entries,
// or count it against an exit); a main pid's kill it ties at once.
func (s *Store) attributable(v *evidence.Violation) bool {
	near := s.nearExit(v.Time)
	if v.Unit != "" || s.foreign {
		return near // tied kills matter only to exits; foreign pids tie nothing
	}
	journal := s.jpids[v.PID]
	if !journal && len(s.jpids) < s.lim.JournalPIDs {
		s.jpids[v.PID], journal = true, true
	}
	if near {
		return true
	}
	if s.mainPIDs[v.PID] {
		// No exit reaches it: of Attribute's rules only the main pid's and the journal's can tie it, and
		// the main pid's needs only the runs.
		one := []evidence.Violation{*v}
		Attribute(one, Facts{Runs: s.runs})
		if *v = one[0]; v.Unit != "" {
			return false
		}
	}
	if journal && s.perPID[v.PID] < s.lim.PerPID {
		s.perPID[v.PID]++
		return true
	}
	return false
}

// nearExit: some exit at t has t-exitBefore ≤ x ≤ t+exitAfter, i.e. t in [x-exitAfter, x+exitBefore].
func (s *Store) nearExit(x time.Time) bool {
	lo := x.Add(-exitAfter)
	i := sort.Search(len(s.exits), func(i int) bool { return !s.exits[i].Before(lo) })
	return i < len(s.exits) && !s.exits[i].After(x.Add(exitBefore))
}

// Pending are the kills kept for attribution, in arrival order (ProcessesOf reads their pids): the
// store's own slice, to read, not to keep.
func (s *Store) Pending() []evidence.Violation { return s.pending }

// Attribute ties the kills kept for it (Attribute with f: the store's facts and the
// processes of the pending pids) and files them. Call it once, after the last Add.
func (s *Store) Attribute(f Facts) {
	// The examples filed so far fit no exit, no main pid and no pid asked about: with no runs,
	// Attribute only says what it says of every untied kill (another namespace's pids).
	ex := make([]evidence.Violation, len(s.untied.examples))
	for i, h := range s.untied.examples {
		ex[i] = h.v
	}
	Attribute(ex, Facts{ForeignPIDs: f.ForeignPIDs})
	for i := range ex {
		s.untied.examples[i].v = ex[i]
	}
	Attribute(s.pending, f)
	s.settle()
}

// settle files the pending kills as they stand.
func (s *Store) settle() {
	for i, v := range s.pending {
		s.file(held{v, s.pendSeq[i]})
	}
	s.pending, s.pendSeq = nil, nil
}

func (s *Store) file(h held) {
	if h.v.Unit == "" {
		s.untied.add(h, s.lim)
		return
	}
	k := UnitKey{h.v.Node, h.v.Machine, h.v.Unit, h.v.UserUnit}
	t := s.units[k]
	if t == nil {
		t = &unitTally{calls: map[callKey]*callTally{}, first: map[callKey]held{}, invs: map[string]held{}}
		s.units[k] = t
	}
	t.add(h, s.lim)
}

// Units are the kept kills of each unit, oldest first.
func (s *Store) Units() map[UnitKey][]evidence.Violation {
	s.settle()
	by := map[UnitKey][]evidence.Violation{}
	for k, t := range s.units {
		by[k] = t.kept()
	}
	return by
}

// Kills is how many kills of the unit the store took, kept or not.
func (s *Store) Kills(k UnitKey) int {
	if t := s.units[k]; t != nil {
		return t.kills
	}
	return 0
}

// Call is how often the unit's call of v (its name, arch, number and action) was killed in all, and
// first and last when; ok false when the store took none.
func (s *Store) Call(k UnitKey, v evidence.Violation) (count int, first, last time.Time, ok bool) {
	c := s.units[k].callOf(callKeyOf(v))
	if c == nil {
		return 0, time.Time{}, time.Time{}, false
	}
	return c.count, c.first, c.last, true
}

// Untied are the kills tied to no unit: how many in all, counted by group (host, program and call;
// most kills first, the "other" group last), and the earliest Limits.Examples of them, oldest first.
func (s *Store) Untied() (total int, groups []UntiedGroup, examples []evidence.Violation) {
	s.settle()
	groups, examples = s.untied.report()
	return s.untied.total, groups, examples
}

// UnitKey names a unit on a host.
type UnitKey struct {
	Host    string // hostname (node=, _HOSTNAME); "" this host, or unknown
	Machine string // machine id, where the evidence names it
	Unit    string
	User    bool
}

// HostOf is the key's host.
func (k UnitKey) HostOf() journal.Host { return journal.Host{Hostname: k.Host, MachineID: k.Machine} }

// callKey is one distinct call, as diagnose.Fold tells them apart.
type callKey struct {
	name   string
	arch   syscalls.Arch
	action audit.Action
	nr     int
}

func callKeyOf(v evidence.Violation) callKey { return callKey{v.Name, v.Arch, v.Action, v.Syscall} }

type callTally struct {
	count       int
	first, last time.Time
}

func (c *callTally) add(t time.Time) {
	if c.count == 0 || t.Before(c.first) {
		c.first = t
	}
	if c.count == 0 || t.After(c.last) {
		c.last = t
	}
	c.count++
}

// unitTally is one unit's kills: every count, and the kills the diagnosis reads — the earliest of
// each call (its finding) and of each invocation (diagnose.InvocationsOf), and the first PerUnit others.
type unitTally struct {
	kills  int
	calls  map[callKey]*callTally
	first  map[callKey]held
	invs   map[string]held
	others []held
}

func (t *unitTally) add(h held, lim Limits) {
	t.kills++
	k := callKeyOf(h.v)
	c := t.calls[k]
	if c == nil {
		c = &callTally{}
		t.calls[k] = c
	}
	c.add(h.v.Time)
	kept := false
	if f, ok := t.first[k]; !ok || earlier(h, f) {
		t.first[k], kept = h, true
	}
	if id := invocationOf(h.v); id != "" {
		if f, ok := t.invs[id]; !ok || earlier(h, f) {
			t.invs[id], kept = h, true
		}
	}
	if !kept && len(t.others) < lim.PerUnit {
		t.others = append(t.others, h)
	}
}

// kept are the unit's kept kills, each once, oldest first (equal times in arrival order).
func (t *unitTally) kept() []evidence.Violation {
	seen := map[int]bool{}
	var hs []held
	keep := func(h held) {
		if !seen[h.seq] {
			seen[h.seq] = true
			hs = append(hs, h)
		}
	}
	for _, h := range t.first {
		keep(h)
	}
	for _, h := range t.invs {
		keep(h)
	}
	for _, h := range t.others {
		keep(h)
	}
	sortHeld(hs)
	out := make([]evidence.Violation, len(hs))
	for i, h := range hs {
		out[i] = h.v
	}
	return out
}

// invocationOf is the invocation a kill names, as diagnose.InvocationsOf reads it.
func invocationOf(v evidence.Violation) string {
	if v.How.Invocation != "" {
		return v.How.Invocation
	}
	if v.Coredump != nil {
		return v.Coredump.Invocation
	}
	return ""
}

func earlier(a, b held) bool {
	return a.v.Time.Before(b.v.Time) || a.v.Time.Equal(b.v.Time) && a.seq < b.seq
}

func sortHeld(hs []held) { sort.Slice(hs, func(i, j int) bool { return earlier(hs[i], hs[j]) }) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// UntiedGroup counts the window's kills that no evidence ties to a unit, of one program and call on
// one host. The group marked Other counts those past the limit on groups, whatever they were.
type UntiedGroup struct {
	Host      string `json:"host"`
	MachineID string `json:"machine_id,omitempty"`
	Exe       string `json:"exe"`
	Syscall   string `json:"syscall"`
	Number    int    `json:"number"`
	Arch      string `json:"arch"`
	AuditArch string `json:"audit_arch"`
	Count     int    `json:"count"`
	First     string `json:"first"`
	Last      string `json:"last"`
	Other     bool   `json:"other,omitempty"`
}

type untiedKey struct {
	host, machine, exe string
	arch               syscalls.Arch
	nr                 int
}

type untiedCount struct {
	callTally
	name  string
	known bool
}

// untiedTally counts the untied kills by group and keeps the earliest Limits.Examples of them.
type untiedTally struct {
	total    int
	groups   map[untiedKey]*untiedCount
	other    callTally
	examples heldHeap // the latest on top
}

func (u *untiedTally) add(h held, lim Limits) {
	u.total++
	v := h.v
	k := untiedKey{v.Node, v.Machine, v.Exe, v.Arch, v.Syscall}
	g := u.groups[k]
	switch {
	case g != nil:
	case len(u.groups) < lim.Groups:
		g = &untiedCount{name: v.Name, known: v.Known()}
		u.groups[k] = g
	default:
		u.other.add(v.Time)
	}
	if g != nil {
		g.add(v.Time)
	}
	switch {
	case len(u.examples) < lim.Examples:
		heap.Push(&u.examples, h)
	case len(u.examples) > 0 && earlier(h, u.examples[0]):
		u.examples[0] = h
		heap.Fix(&u.examples, 0)
	}
}

// report is the groups, most kills first, the "other" group last; and the examples, oldest first.
func (u *untiedTally) report() ([]UntiedGroup, []evidence.Violation) {
	gs := []UntiedGroup{}
	for k, g := range u.groups {
		ug := UntiedGroup{Host: k.host, MachineID: k.machine, Exe: k.exe, Syscall: g.name, Number: k.nr, Count: g.count,
			First: stamp(g.first), Last: stamp(g.last)}
		if g.known {
			ug.Arch, ug.AuditArch = k.arch.String(), k.arch.Hex()
		}
		gs = append(gs, ug)
	}
	sort.Slice(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		switch {
		case a.Count != b.Count:
			return a.Count > b.Count
		case a.First != b.First:
			return a.First < b.First
		case a.Host != b.Host:
			return a.Host < b.Host
		case a.MachineID != b.MachineID:
			return a.MachineID < b.MachineID
		case a.Exe != b.Exe:
			return a.Exe < b.Exe
		case a.AuditArch != b.AuditArch:
			return a.AuditArch < b.AuditArch
		}
		return a.Number < b.Number
	})
	if u.other.count > 0 {
		gs = append(gs, UntiedGroup{Other: true, Count: u.other.count, First: stamp(u.other.first), Last: stamp(u.other.last)})
	}
	hs := append([]held(nil), u.examples...)
	sortHeld(hs)
	ex := make([]evidence.Violation, len(hs))
	for i, h := range hs {
		ex[i] = h.v
	}
	return gs, ex
}

// heldHeap is a max-heap by time: its top is the latest example, the one a earlier kill replaces.
type heldHeap []held

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return earlier(h[j], h[i]) }
func (h heldHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)        { *h = append(*h, x.(held)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// callOf is the tally of one call of the unit; nil for a nil tally.
func (t *unitTally) callOf(k callKey) *callTally {
	if t == nil {
		return nil
	}
	return t.calls[k]
}
