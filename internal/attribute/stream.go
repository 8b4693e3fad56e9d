package attribute

import (
	"fmt"
	"sort"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// StreamLimits bound what a Stream holds at once.
type StreamLimits struct {
	// Kills and Held: the kills, and the violations in all (a logged call after a held kill waits for
	// it: the order is kept), held at once. Past either, the held kills are handed on unmatched against
	// the exits, with the reason in How.Detail.
	Kills, Held int
	// JournalPIDs: the first so many pids of untied kills are asked about (the journal-pid rule).
	JournalPIDs int
}

// DefaultStreamLimits are events'.
var DefaultStreamLimits = StreamLimits{Kills: 4096, Held: 1 << 16, JournalPIDs: MaxJournalPIDs}

// lateBy is how much older than the violation before it the merge may hand one on: evidence.Merger holds
// a coredump without a record for its reach (3 s), and its time is truncated to the second.
const lateBy = 4 * time.Second

// Stream ties a window's violations to units as they come, by Attribute's rules, and hands them on in
// the order they came. A kill a manager's SIGSYS exit could claim (main-exit) is held, with every
// violation after it, until the stream has moved past every exit that could be its or that of a kill
// held with it; then Attribute's exit rule runs on what is held, as it would on the whole window, and
// the held violations go on. Every other violation goes on at once: the main-pid and journal-pid rules
// need only the violation and the facts (a pid's own journal entries are asked for when its first
// untied kill comes). Logged calls are handed on as they came.
//
// It expects the violations oldest first, as evidence.Collect gives them.
type Stream struct {
	jr    journal.Querier // nil: no journal-pid rule
	since time.Time       // a pid's entries are asked from here
	lim   StreamLimits
	emit  func(evidence.Violation) error

	facts    Facts
	exits    []exitAt      // every exit of the facts' runs, by time
	mainPIDs map[int][]int // the runs (indices into facts.Runs) by main pid
	asked    map[int]bool  // pids whose journal entries were asked for
	procs    map[int][]journal.Process
	pidRuns  map[int][]int // the runs the main-pid and journal-pid rules may name for a pid, in facts order

	hold    []evidence.Violation
	kills   int       // kills in hold
	active  bool      // a held stretch is open: horizon is its end
	horizon time.Time // the latest time a kill can fit an exit that fits a kill of the stretch
	spoiled bool      // the stretch outgrew the limits: its kills go on unmatched against exits
}

type exitAt struct {
	t   time.Time
	run int
}

// NewStream reads the SIGSYS exits of window w (a little past its ends: an exit comes after its kill)
// from jr, and starts a stream that hands the window's violations, tied, to emit. programs names the
// units' executables (nil: unknown); foreign says the journal's pids are not the kernel's (then no pid
// ties anything).
func NewStream(jr journal.Querier, w audit.Window, programs Programs, foreign bool, lim StreamLimits, emit func(evidence.Violation) error) (*Stream, error) {
	ew := w
	if !ew.Since.IsZero() {
		ew.Since = ew.Since.Add(-exitAfter)
	}
	if !ew.Until.IsZero() {
		ew.Until = ew.Until.Add(exitBefore)
	}
	exits, err := KilledExits(jr, ew, nil)
	if err != nil {
		return nil, err
	}
	return newStream(jr, w.Since, Facts{Runs: RunsOf(exits, programs), ForeignPIDs: foreign}, lim, emit), nil
}

func newStream(jr journal.Querier, since time.Time, f Facts, lim StreamLimits, emit func(evidence.Violation) error) *Stream {
	s := &Stream{jr: jr, since: since, lim: lim, emit: emit, facts: f, mainPIDs: map[int][]int{}, asked: map[int]bool{},
		procs: map[int][]journal.Process{}, pidRuns: map[int][]int{}}
	s.facts.Runs = append([]Run(nil), f.Runs...)
	s.facts.Processes = nil // asked for pid by pid
	for i, r := range s.facts.Runs {
		for _, t := range r.Exits {
			s.exits = append(s.exits, exitAt{t, i})
		}
		if r.MainPID != 0 {
			s.mainPIDs[r.MainPID] = append(s.mainPIDs[r.MainPID], i)
		}
	}
	sort.SliceStable(s.exits, func(i, j int) bool { return s.exits[i].t.Before(s.exits[j].t) })
	return s
}

// Add takes the next violation.
func (s *Stream) Add(v evidence.Violation) error {
	if v.Action.IsKill() {
		s.byPID(&v)
	}
	if s.active && v.Time.After(s.horizon.Add(lateBy)) {
		if err := s.release(); err != nil {
			return err
		}
	}
	end, near := s.reach(v)
	if near {
		if !s.active || end.After(s.horizon) {
			s.horizon = end
		}
		s.active = true
	}
	switch {
	case !s.active:
		return s.emit(v)
	case s.spoiled:
		if near && v.Unit == "" {
			note(&v, s.overflowNote())
		}
		return s.emit(v)
	}
	s.hold = append(s.hold, v)
	if v.Action.IsKill() {
		s.kills++
	}
	if s.kills > s.lim.Kills || len(s.hold) > s.lim.Held {
		return s.overflow()
	}
	return nil
}

// Flush hands on what is held: call it after the last Add.
func (s *Stream) Flush() error { return s.release() }

// byPID ties an untied kill by its pid: the manager's main pid, or the process's own journal entries
// (asked for once per pid, for the first JournalPIDs pids).
func (s *Stream) byPID(v *evidence.Violation) {
	if v.Unit != "" {
		return
	}
	if s.jr != nil && !s.facts.ForeignPIDs && !s.asked[v.PID] && len(s.asked) < s.lim.JournalPIDs {
		s.asked[v.PID] = true
		procs := journal.Processes(pidEntries(s.jr, v.PID, s.since, v.Time))
		s.facts.Runs = withRunsOf(procs, s.facts.Runs)
		s.procs[v.PID] = procs
		idx := append([]int(nil), s.mainPIDs[v.PID]...)
		for _, p := range procs {
			if r := runOf(s.facts.Runs, p); r != nil {
				idx = append(idx, s.runIndex(r))
			}
		}
		sort.Ints(idx)
		s.pidRuns[v.PID] = uniqInts(idx)
	}
	runs, ok := s.pidRuns[v.PID]
	if !ok {
		runs = s.mainPIDs[v.PID]
	}
	f := Facts{ForeignPIDs: s.facts.ForeignPIDs, Processes: s.procs[v.PID]}
	for _, i := range runs {
		f.Runs = append(f.Runs, s.facts.Runs[i])
	}
	one := []evidence.Violation{*v}
	byPIDs(one, f)
	*v = one[0]
}

func (s *Stream) runIndex(r *Run) int {
	for i := range s.facts.Runs {
		if &s.facts.Runs[i] == r {
			return i
		}
	}
	return -1
}

// reach says whether a kill at v's time fits some exit by time (the exit's rule checks the rest), and
// the latest time a kill can fit the latest such exit.
func (s *Stream) reach(v evidence.Violation) (time.Time, bool) {
	if !v.Action.IsKill() {
		return time.Time{}, false
	}
	x := v.Time
	// The last exit at or before x+exitBefore; it fits when it is at or after x-exitAfter.
	i := sort.Search(len(s.exits), func(i int) bool { return s.exits[i].t.After(x.Add(exitBefore)) }) - 1
	if i < 0 || s.exits[i].t.Before(x.Add(-exitAfter)) {
		return time.Time{}, false
	}
	return s.exits[i].t.Add(exitAfter), true
}

// release runs the exit rule on what is held, with the runs whose exits its kills can reach, and hands
// it on.
func (s *Stream) release() error {
	hold := s.hold
	s.hold, s.kills, s.active, s.spoiled = nil, 0, false, false
	if len(hold) == 0 {
		return nil
	}
	lo, hi := hold[0].Time, hold[0].Time
	for _, v := range hold {
		if v.Time.Before(lo) {
			lo = v.Time
		}
		if v.Time.After(hi) {
			hi = v.Time
		}
	}
	i := sort.Search(len(s.exits), func(i int) bool { return !s.exits[i].t.Before(lo.Add(-exitAfter)) })
	var idx []int
	for ; i < len(s.exits) && !s.exits[i].t.After(hi.Add(exitBefore)); i++ {
		idx = append(idx, s.exits[i].run)
	}
	sort.Ints(idx)
	f := Facts{ForeignPIDs: s.facts.ForeignPIDs}
	for _, i := range uniqInts(idx) {
		f.Runs = append(f.Runs, s.facts.Runs[i])
	}
	byExits(hold, f)
	for _, v := range hold {
		if err := s.emit(v); err != nil {
			return err
		}
	}
	return nil
}

// overflow hands on what is held unmatched against the exits, and what comes until the stretch ends: a
// kill may be tied by an exit only when every kill the exit could be is known.
func (s *Stream) overflow() error {
	hold := s.hold
	s.hold, s.kills, s.spoiled = nil, 0, true
	for _, v := range hold {
		if _, near := s.reach(v); near && v.Unit == "" {
			note(&v, s.overflowNote())
		}
		if err := s.emit(v); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stream) overflowNote() string {
	return fmt.Sprintf("not matched against the manager's SIGSYS exits: more than %d kills or %d violations came within their reach, more than sysdiag holds at once", s.lim.Kills, s.lim.Held)
}

func uniqInts(s []int) []int {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
