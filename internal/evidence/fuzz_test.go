package evidence

import (
	"reflect"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

var fuzzHosts = []journal.Host{{}, {Hostname: "web1"}, {Hostname: "web1.example.com", MachineID: "m1"}, {Hostname: "WEB2"},
	{Hostname: "web2", MachineID: "m2"}, {Hostname: "10.0.0.1"}, {MachineID: "m1"}, {Hostname: "web1", MachineID: "m3"}}

// fuzzInput derives coredumps and records from fuzz bytes. Each record gets its own Source ("r0",
// "r1", …) so that the violations tell which records they took. Times lie on a 250 ms grid (and a
// microsecond off it) so that serials, milliseconds and calls collide. In order mode the records come
// at most 750 ms behind the newest, within the Horizon; otherwise in any order.
func fuzzInput(data []byte) (inOrder bool, cores []journal.Coredump, recs []audit.Record) {
	if len(data) < 2 {
		return true, nil, nil
	}
	if len(data) > 4<<10 {
		data = data[:4<<10] // the reference merge is quadratic
	}
	t0 := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	inOrder = data[0]&1 == 0
	nCores := int(data[0]>>1) % 4
	data = data[1:]
	for i := 0; i < nCores && len(data) >= 2; i++ {
		h := fuzzHosts[int(data[1]>>4)%len(fuzzHosts)]
		c := journal.Coredump{PID: 1 + int(data[0])%3, Signal: journal.SIGSYS, Filename: "c" + strconv.Itoa(i),
			Time: t0.Add(time.Duration(data[0]>>2) * 250 * time.Millisecond).Truncate(time.Second), Unit: "u.service", Host: h}
		switch data[1] >> 2 & 3 { // NSpid: none; a container's process (the outer pid another's number); in the reader's namespace; the host's own entry
		case 1:
			c.NSPids = []int{1 + c.PID%3, c.PID}
		case 2:
			c.NSPids = []int{c.PID}
		case 3:
			c.NSPids = []int{c.PID, 9}
		}
		cores = append(cores, c)
		data = data[2:]
	}
	clock := t0
	for i := 0; len(data) >= 4; i++ {
		b0, b1, b2, b3 := data[0], data[1], data[2], data[3]
		data = data[4:]
		var at time.Time
		if inOrder {
			clock = clock.Add(time.Duration(b3>>1&3) * 250 * time.Millisecond)
			at = clock.Add(-time.Duration(b1&3) * 250 * time.Millisecond)
		} else {
			at = t0.Add(time.Duration(b1&63) * 250 * time.Millisecond)
		}
		if b1&64 != 0 {
			at = at.Add(time.Microsecond)
		}
		h := fuzzHosts[int(b2)%len(fuzzHosts)]
		r := audit.Record{Source: "r" + strconv.Itoa(i), Node: h.Hostname, Machine: h.MachineID, Time: at,
			Serial: uint64(b0 & 3), PID: 1 + int(b0>>2)%3, Arch: syscalls.ArchX86_64, Syscall: 41, Action: audit.ActionLog}
		if b0&32 != 0 {
			r.Syscall = 93
		}
		if b3&1 != 0 {
			r.Action = audit.ActionKillProcess
		}
		if b0&64 != 0 {
			r.Arch = syscalls.ArchI386
		}
		r.Code = uint32(r.Action)
		recs = append(recs, r)
	}
	return inOrder, cores, recs
}

func FuzzMerger(f *testing.F) {
	// Seeds in testdata/fuzz/FuzzMerger: two nodes' kills with one serial, a late copy of a kill, copies
	// without serials, coredumps.
	f.Fuzz(func(t *testing.T, data []byte) {
		inOrder, cores, recs := fuzzInput(data)
		byLabel := map[string]int{}
		for i, r := range recs {
			byLabel[r.Source] = i
		}
		type out struct {
			v  Violation
			at int // records added before it was handed on
		}
		var got []out
		added := 0
		m := NewMerger(cores, nil, func(v Violation) error { got = append(got, out{v, added}); return nil })
		for _, r := range recs {
			if err := m.Add(r); err != nil {
				t.Fatal(err)
			}
			added++
		}
		if err := m.Flush(); err != nil {
			t.Fatal(err)
		}
		if len(m.pending) != 0 || len(m.byKey) != 0 || len(m.calls) != 0 {
			t.Fatalf("held after Flush: %d pending, %d keys, %d calls", len(m.pending), len(m.byKey), len(m.calls))
		}

		// Every record is in exactly one violation, or is a late copy of a kill handed on before it came.
		in := make([]int, len(recs))
		for i := range in {
			in[i] = -1
		}
		coreSeen := map[string]bool{}
		var last time.Time
		for vi, o := range got {
			v := o.v
			if !sort.StringsAreSorted(v.Sources) {
				t.Fatalf("violation %d: sources not sorted: %v", vi, v.Sources)
			}
			if v.Coredump != nil {
				if want := fuzzAuditPID(v.Coredump); len(v.Sources) > 1 && v.PID != want {
					t.Fatalf("violation %d of pid %d took the coredump of pid %d (NSpid %v)", vi, v.PID, v.Coredump.PID, v.Coredump.NSPids)
				}
				if coreSeen[v.Coredump.Filename] {
					t.Fatalf("coredump %s in two violations", v.Coredump.Filename)
				}
				coreSeen[v.Coredump.Filename] = true
			}
			if !v.CoarseTime {
				if inOrder && v.Time.Before(last) {
					t.Fatalf("violation %d at %v handed on after one at %v", vi, v.Time, last)
				}
				last = v.Time
			}
			members := 0
			for _, s := range v.Sources {
				i, ok := byLabel[s]
				if !ok {
					continue // coredump
				}
				members++
				if in[i] >= 0 {
					t.Fatalf("record %d in violations %d and %d", i, in[i], vi)
				}
				in[i] = vi
				r := recs[i]
				if !sameHost(recHost(r), v.Host()) {
					t.Fatalf("record %d (%+v) in violation %d of another host: %+v", i, r, vi, v)
				}
				if r.Serial != 0 && (v.Serial == 0 || recordKeyOf(r) != violationKey(&v)) {
					t.Fatalf("record %d (%+v) in violation %d of another record: %+v", i, r, vi, v)
				}
				if r.Serial == 0 && (callKey{r.PID, r.Arch, r.Syscall, r.Code} != callKey{v.PID, v.Arch, v.Syscall, v.Code} ||
					r.Time.Sub(v.Time) >= time.Second || v.Time.Sub(r.Time) >= time.Second) {
					t.Fatalf("record %d (%+v) in violation %d of another call: %+v", i, r, vi, v)
				}
			}
			if members == 0 && !v.CoarseTime {
				t.Fatalf("violation %d of no record: %+v", vi, v)
			}
		}
		if len(coreSeen) != len(cores) {
			t.Fatalf("%d of %d coredumps handed on", len(coreSeen), len(cores))
		}
		for i, r := range recs {
			if in[i] >= 0 {
				continue
			}
			late := false
			for _, o := range got {
				if o.at < i && o.v.Serial != 0 && o.v.Action.IsKill() && violationKey(&o.v) == recordKeyOf(r) && sameHost(o.v.Host(), recHost(r)) {
					late = true
				}
			}
			if !late {
				t.Fatalf("record %d (%+v) in no violation", i, r)
			}
		}

		// And it hands on what the plain (quadratic) merge does, in the same order.
		want := refMerge(recs, cores)
		if len(want) != len(got) {
			t.Fatalf("%d violations, the reference %d", len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(want[i], got[i].v) {
				t.Fatalf("violation %d:\n got %+v\nwant %+v", i, got[i].v, want[i])
			}
		}
	})
}

// refMerge is Merger with its indexes replaced by scans of everything held, kept in time order by
// insertion: the merge as it was before the indexes, with today's identity (key and host).
func refMerge(recs []audit.Record, cores []journal.Coredump) []Violation {
	var out []Violation
	m := NewMerger(cores, nil, func(v Violation) error { out = append(out, v); return nil })
	type kill struct {
		k recordKey
		h journal.Host
	}
	var (
		pending []*Violation // by time, then arrival
		created []*Violation // by arrival
		gone    = map[*Violation]bool{}
		kills   []kill
		newest  time.Time
	)
	release := func(before time.Time) {
		for len(pending) > 0 && (before.IsZero() || pending[0].Time.Before(before)) {
			v := pending[0]
			pending = pending[1:]
			gone[v] = true
			m.coresBefore(v.Time.Add(-3 * time.Second))
			m.attach(v)
			if v.Serial != 0 && v.Action.IsKill() {
				kills = append(kills, kill{violationKey(v), v.Host()})
			}
			sort.Strings(v.Sources)
			m.emit(*v)
		}
		if before.IsZero() {
			m.coresBefore(time.Time{})
		} else {
			m.coresBefore(before.Add(-3 * time.Second))
		}
	}
	add := func(r audit.Record) {
		join := func(v *Violation) { addSource(v, r.Source); fillHost(v, r) }
		if r.Serial != 0 {
			for _, v := range created {
				if !gone[v] && v.Serial != 0 && violationKey(v) == recordKeyOf(r) && sameHost(v.Host(), recHost(r)) {
					join(v)
					return
				}
			}
			for _, k := range kills {
				if k.k == recordKeyOf(r) && sameHost(k.h, recHost(r)) {
					return
				}
			}
		} else {
			for _, v := range pending {
				d := v.Time.Sub(r.Time)
				if v.PID == r.PID && v.Arch == r.Arch && v.Syscall == r.Syscall && v.Code == r.Code && d > -time.Second && d < time.Second &&
					sameHost(v.Host(), recHost(r)) {
					join(v)
					return
				}
			}
		}
		v := &Violation{Time: r.Time, Node: r.Node, Machine: r.Machine, Serial: r.Serial, PID: r.PID, UID: r.UID, Comm: r.Comm,
			Exe: r.Exe, Arch: r.Arch, Syscall: r.Syscall, Name: r.Name, Compat: r.Compat, Action: r.Action,
			Code: r.Code, Sig: r.Sig, Sources: []string{r.Source}}
		created = append(created, v)
		i := len(pending)
		for i > 0 && pending[i-1].Time.After(v.Time) {
			i--
		}
		pending = slices.Insert(pending, i, v)
		if v.Time.After(newest) {
			newest = v.Time
		}
		release(newest.Add(-Horizon))
	}
	for _, r := range recs {
		add(r)
	}
	release(time.Time{})
	return out
}

// fuzzAuditPID is the pid of a kill record that may join the coredump: the outermost NSpid when the entry
// is of a container's process (NSpid: ends at COREDUMP_PID and starts elsewhere), else COREDUMP_PID.
func fuzzAuditPID(c *journal.Coredump) int {
	if n := len(c.NSPids); n >= 2 && c.NSPids[n-1] == c.PID && c.NSPids[0] != c.PID {
		return c.NSPids[0]
	}
	return c.PID
}

func recHost(r audit.Record) journal.Host {
	return journal.Host{Hostname: r.Node, MachineID: r.Machine}
}
