package evidence

import (
	"fmt"
	"sort"
	"time"

	"github.com/sysdiag/sysdiag/journal"
)

// ByForwarded: the coredump entry of a container's own systemd-coredump names the unit, and was joined
// to the kill record by executable and second (its pid is the container's, the record's the host's).
const ByForwarded Method = "coredump-forwarded"

// A core forwarded into a system container (systemd ≥ 255, COREDUMP_FORWARDED=1) names the process by
// its pid in the container, read back through the container's procfs: its NSpid: has that pid alone,
// and the host's pid — the kernel's audit record's pid= — is nowhere in the entry. Such an entry joins
// the SIGSYS kill record of the same executable in the same second, on a compatible host, when that
// pairing is unique both ways; two kills of one program in one second with two such entries are not
// guessed at. An entry without COREDUMP_FORWARDED (a journal export that dropped the field) whose pid no
// kill record names is joined by the same rule.

// forwardSlack: COREDUMP_TIMESTAMP is the second (%t) the kernel started the dump, just after the
// record: a kill in the last moments of a second may dump in the next one.
const forwardSlack = 250 * time.Millisecond

// maxSecondKills bounds the kills a second's loose coredumps are compared with; past it they are not
// joined by executable (a flood of one program's kills is no place for a unique pairing).
const maxSecondKills = 256

// loose reports whether the coredump names no host pid: NSpid: absent or the entry's pid alone. Its pid
// is the host's for an entry of the host's own process, the container's for a forwarded one.
func loose(c *journal.Coredump) bool {
	switch len(c.NSPids) {
	case 0:
		return true
	case 1:
		return c.NSPids[0] == c.PID
	}
	return false
}

// ContainerPID reports whether the coredump's pid is a container's with no host pid beside it: a
// forwarded entry (COREDUMP_FORWARDED=1) whose NSpid: is absent or its pid alone. No kill record can be
// joined to it by pid (a record with that number is another process of the host): only by
// executable and second (FitsByExe, PairByExe).
func ContainerPID(c journal.Coredump) bool { return c.Forwarded && loose(&c) }

// pidJoinable reports whether a kill record may be joined to the coredump by pid.
func pidJoinable(c *journal.Coredump) bool { return !(c.Forwarded && loose(c)) }

// sameProgram: the record's executable is the coredump's (COREDUMP_EXE), or, where either lacks it,
// the command names are equal.
func sameProgram(exe, comm string, c *journal.Coredump) bool {
	if exe != "" && c.Exe != "" {
		return exe == c.Exe
	}
	return comm != "" && comm == c.Comm
}

// inSecond: a record at t is in the second of the coredump's timestamp (or just before it: forwardSlack).
func inSecond(t time.Time, c *journal.Coredump) bool {
	s := c.Time.Truncate(time.Second)
	return !t.Before(s.Add(-forwardSlack)) && t.Before(s.Add(time.Second))
}

// FitsByExe reports whether the kill v and the coredump c may be one process's by the rule for
// coredumps whose pid no record carries: a SIGSYS kill of the same executable (comm where either lacks
// it) in the coredump's second, on a compatible host. It says nothing of uniqueness: PairByExe does.
func FitsByExe(v Violation, c journal.Coredump) bool {
	return v.Action.IsKill() && sameProgram(v.Exe, v.Comm, &c) && inSecond(v.Time, &c) && c.Host.Compatible(v.Host())
}

// TieByExe joins the coredump c to the kill v by executable and second: the unit from c, the call from
// v's record, and How saying so.
func TieByExe(v *Violation, c *journal.Coredump) {
	v.Coredump = c
	if v.Machine == "" && v.Node == "" {
		v.Node, v.Machine = c.Host.Hostname, c.Host.MachineID
	}
	addSource(v, "coredump")
	v.Unit, v.UserUnit, v.Manager = unitOf(*c)
	what := program(v.Exe, v.Comm)
	if v.Exe == "" {
		v.Exe = c.Exe
	}
	sec := c.Time.UTC().Format("15:04:05 UTC")
	if c.Forwarded {
		v.How = Attribution{Method: ByForwarded, Invocation: c.Invocation, Detail: fmt.Sprintf(
			"coredump forwarded into the container, joined by executable and second: the container's systemd-coredump entry "+
				"(COREDUMP_FORWARDED=1) for its pid %d names the unit; the record's pid %d is the host's, and it is the only SIGSYS kill "+
				"of %s at %s, that entry the only one of it", c.PID, v.PID, what, sec)}
	} else {
		v.How = Attribution{Method: ByForwarded, Invocation: c.Invocation, Detail: fmt.Sprintf(
			"coredump of pid %d, which no kill record names (a container's pid; the entry lacks COREDUMP_FORWARDED), joined by "+
				"executable and second: the record's pid %d, the only SIGSYS kill of %s at %s, that entry the only one of it",
			c.PID, v.PID, what, sec)}
	}
	if v.Unit == "" {
		v.How.Method = ""
		v.How.Detail += "; but the entry names no unit"
	}
}

func program(exe, comm string) string {
	if exe != "" {
		return exe
	}
	return "comm " + comm
}

// ambiguous says why a kill and a coredump that fit each other were not joined.
func ambiguous(kills, cores int, exe, comm string, c *journal.Coredump) string {
	return fmt.Sprintf("not joined to a coredump by executable and second: %d SIGSYS kills of %s and %d coredump entries whose pid "+
		"no record carries (forwarded into a container) fit %s — which is which would be a guess",
		kills, program(exe, comm), cores, c.Time.UTC().Format("15:04:05 UTC"))
}

// PairByExe pairs kills with coredumps whose pid no record carries (ContainerPID, or loose ones the
// caller knows no record names) by executable and second, where the pairing is unique both ways: for a
// kill exactly one coredump fits (FitsByExe), and for that coredump exactly one kill. It returns, by kill
// index, the core index joined, and for kills that fit several or share their core, why not. For the
// small sets a live follower holds (quadratic in them); the Merger does the same with per-second indexes.
func PairByExe(kills []Violation, cores []journal.Coredump) (pairs map[int]int, why map[int]string) {
	pairs, why = map[int]int{}, map[int]string{}
	coreFits := make([]int, len(cores))
	for j := range cores {
		for i := range kills {
			if FitsByExe(kills[i], cores[j]) {
				coreFits[j]++
			}
		}
	}
	for i := range kills {
		n, at := 0, -1
		for j := range cores {
			if FitsByExe(kills[i], cores[j]) {
				n++
				at = j
			}
		}
		switch {
		case n == 0:
		case n == 1 && coreFits[at] == 1:
			pairs[i] = at
		case n == 1:
			why[i] = ambiguous(coreFits[at], 1, kills[i].Exe, kills[i].Comm, &cores[at])
		default:
			why[i] = ambiguous(1, n, kills[i].Exe, kills[i].Comm, &cores[at])
		}
	}
	return pairs, why
}

// second is what the Merger knows of one second (COREDUMP_TIMESTAMP) with loose coredumps: their
// indexes, how many are not yet used or handed on, and the kills that could be theirs (records in
// [S-1s, S+1s), to see both a pid that names a loose entry and the kills of its second).
type second struct {
	cores    []int
	left     int
	kills    []secondKill
	overflow bool // more than maxSecondKills: no pairing
}

type secondKill struct {
	at        time.Time
	pid       int
	exe, comm string
	host      journal.Host
	ownCore   bool // a coredump within reach carries its pid: the pid join takes it
}

func secondOf(t time.Time) int64 { return t.Unix() }

// indexLoose builds the per-second index of loose coredumps (m.cores sorted).
func (m *Merger) indexLoose() {
	for i := range m.cores {
		c := &m.cores[i]
		if !loose(c) {
			continue
		}
		if m.seconds == nil {
			m.seconds = map[int64]*second{}
		}
		s := secondOf(c.Time)
		sec := m.seconds[s]
		if sec == nil {
			sec = &second{}
			m.seconds[s] = sec
		}
		sec.cores = append(sec.cores, i)
		sec.left++
	}
}

// consume marks core i used (joined or handed on alone) and drops its second once all are.
func (m *Merger) consume(i int) {
	m.used[i] = true
	if m.seconds == nil || !loose(&m.cores[i]) {
		return
	}
	s := secondOf(m.cores[i].Time)
	if sec := m.seconds[s]; sec != nil {
		if sec.left--; sec.left <= 0 {
			delete(m.seconds, s)
		}
	}
}

// candidateSeconds are the seconds whose loose coredumps a kill at t may be joined to.
func candidateSeconds(t time.Time) [2]int64 {
	s := secondOf(t)
	if !t.Add(forwardSlack).Before(time.Unix(s+1, 0)) {
		return [2]int64{s, s + 1}
	}
	return [2]int64{s, s}
}

// noteKill files a new kill under the seconds with loose coredumps it may concern.
func (m *Merger) noteKill(v *Violation, host hostID) {
	if len(m.seconds) == 0 || !v.Action.IsKill() {
		return
	}
	s := secondOf(v.Time)
	var own, ownDone bool
	for _, k := range [2]int64{s, s + 1} {
		sec := m.seconds[k]
		if sec == nil || sec.left <= 0 || sec.overflow {
			continue
		}
		if len(sec.kills) == maxSecondKills {
			sec.overflow, sec.kills = true, nil
			continue
		}
		if !ownDone {
			own, ownDone = m.hasOwnCore(v), true
		}
		sec.kills = append(sec.kills, secondKill{at: v.Time, pid: v.PID, exe: v.Exe, comm: v.Comm, host: v.Host(), ownCore: own})
	}
}

// hasOwnCore: a coredump that may be joined by pid lies within reach of the kill (at most maxHosts looked at).
func (m *Merger) hasOwnCore(v *Violation) bool {
	lo := v.Time.Add(-3 * time.Second)
	i := sort.Search(len(m.cores), func(i int) bool { return m.cores[i].Time.After(lo) })
	for n := 0; i < len(m.cores) && n < maxHosts; i, n = i+1, n+1 {
		c := &m.cores[i]
		if v.Time.Sub(c.Time) < -time.Second {
			break
		}
		if pidJoinable(c) && AuditPID(*c) == v.PID && c.Host.Compatible(v.Host()) {
			return true
		}
	}
	return false
}

// holdFor reports whether the kill v must wait before it is handed on: a loose coredump of its program
// in a second it may belong to is unpaired, and not every record of that second has come (until: what
// the Horizon promises has come).
func (m *Merger) holdFor(v *Violation, until instant) bool {
	if len(m.seconds) == 0 || !v.Action.IsKill() || v.Exe == "" && v.Comm == "" {
		return false
	}
	cs := candidateSeconds(v.Time)
	for k, s := range cs {
		if k == 1 && s == cs[0] {
			break
		}
		sec := m.seconds[s]
		if sec == nil || !until.before(instant{s + 1, 0}) {
			continue
		}
		for n, i := range sec.cores {
			if n == maxHosts {
				break
			}
			if !m.used[i] && sameProgram(v.Exe, v.Comm, &m.cores[i]) {
				return true
			}
		}
	}
	return false
}

// attachLoose joins a kill that no coredump took by pid to a loose coredump by executable and second,
// when the pairing is unique both ways; when it is not, How.Detail says why.
func (m *Merger) attachLoose(v *Violation) {
	if len(m.seconds) == 0 || v.Exe == "" && v.Comm == "" {
		return
	}
	cand, n := -1, 0
	cs := candidateSeconds(v.Time)
	for k, s := range cs {
		if k == 1 && s == cs[0] {
			break
		}
		sec := m.seconds[s]
		if sec == nil {
			continue
		}
		for looked, i := range sec.cores {
			if looked == maxHosts {
				break
			}
			c := &m.cores[i]
			if m.used[i] || !FitsByExe(*v, *c) || !c.Forwarded && m.pidRecorded(sec, c) {
				continue
			}
			n++
			cand = i
		}
	}
	if n == 0 {
		return
	}
	c := &m.cores[cand]
	if n > 1 {
		v.How.Detail = ambiguous(1, n, v.Exe, v.Comm, c)
		return
	}
	sec := m.seconds[secondOf(c.Time)]
	if sec.overflow {
		v.How.Detail = fmt.Sprintf("not joined to a coredump by executable and second: more than %d kills in %s", maxSecondKills, c.Time.UTC().Format("15:04:05 UTC"))
		return
	}
	kills := 0
	for _, k := range sec.kills {
		if !k.ownCore && sameProgram(k.exe, k.comm, c) && inSecond(k.at, c) && c.Host.Compatible(k.host) {
			kills++
		}
	}
	if kills != 1 {
		v.How.Detail = ambiguous(max(kills, 1), 1, v.Exe, v.Comm, c)
		return
	}
	m.consume(cand)
	TieByExe(v, c)
}

// pidRecorded: a kill record of the coredump's pid came in its reach (an entry without
// COREDUMP_FORWARDED is then the host's, joined by pid or not at all).
func (m *Merger) pidRecorded(sec *second, c *journal.Coredump) bool {
	for _, k := range sec.kills {
		if k.pid == c.PID && c.Host.Compatible(k.host) {
			return true
		}
	}
	return false
}
