package evidence

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// mergeStream feeds records to a Merger in the order given and returns what it hands on.
func mergeStream(t testing.TB, recs []audit.Record, cores []journal.Coredump) []Violation {
	t.Helper()
	var out []Violation
	m := NewMerger(cores, nil, func(v Violation) error { out = append(out, v); return nil })
	for _, r := range recs {
		if err := m.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPairs checks the merge of sameSecond's records: one violation per serial, with both sources, oldest first.
func checkPairs(t *testing.T, recs []audit.Record, vs []Violation) {
	t.Helper()
	want := map[uint64]time.Time{}
	for _, r := range recs {
		want[r.Serial] = r.Time
	}
	if len(vs) != len(want) {
		t.Fatalf("%d violations, want %d", len(vs), len(want))
	}
	for i, v := range vs {
		if i > 0 && v.Time.Before(vs[i-1].Time) {
			t.Fatalf("violation %d (%v) handed on after a newer one (%v)", i, v.Time, vs[i-1].Time)
		}
		at, ok := want[v.Serial]
		if !ok || !at.Equal(v.Time) || !slices.Equal(v.Sources, []string{"audit.log", "journal-audit"}) {
			t.Fatalf("violation %d: %+v", i, v)
		}
		delete(want, v.Serial)
	}
}

// 200 000 records of one second in reverse and in random order: the order that was quadratic
// (a record was inserted by scanning back through all held).
func TestMergerOutOfOrderSameSecond(t *testing.T) {
	recs := sameSecond(200000, 7)
	t.Run("shuffled", func(t *testing.T) { checkPairs(t, recs, mergeStream(t, recs, nil)) })
	slices.SortStableFunc(recs, func(a, b audit.Record) int { return b.Time.Compare(a.Time) })
	t.Run("reversed", func(t *testing.T) { checkPairs(t, recs, mergeStream(t, recs, nil)) })
}

// 50 000 records without serials, 25 000 calls seen by two sources, within one second and shuffled:
// each finds its copy by its call, not by a scan of all held.
func TestMergerWithoutSerials(t *testing.T) {
	recs := sameSecond(50000, 3)
	for i := range recs {
		recs[i].PID = 1000 + int(recs[i].Serial) // one call per pid: copies join, calls stay apart
		recs[i].Serial = 0
	}
	vs := mergeStream(t, recs, nil)
	if len(vs) != 25000 {
		t.Fatalf("%d violations, want 25000", len(vs))
	}
	pids := map[int]bool{}
	for i, v := range vs {
		if i > 0 && v.Time.Before(vs[i-1].Time) || !slices.Equal(v.Sources, []string{"audit.log", "journal-audit"}) || pids[v.PID] {
			t.Fatalf("violation %d: %+v", i, v)
		}
		pids[v.PID] = true
	}
}

// A record without a serial joins the oldest violation of its call within a second (whether that
// has a serial or not), of a compatible host.
func TestMergerWithoutSerialJoinsTheOldest(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	call := audit.Record{PID: 5, Arch: syscalls.ArchX86_64, Syscall: 93, Action: audit.ActionLog, Code: uint32(audit.ActionLog)}
	at := func(ms int, serial uint64, node, src string) audit.Record {
		r := call
		r.Time, r.Serial, r.Node, r.Source = t0.Add(time.Duration(ms)*time.Millisecond), serial, node, src
		return r
	}
	vs := mergeStream(t, []audit.Record{
		at(500, 11, "web2", "audit.log"), // another host's
		at(700, 13, "web1", "audit.log"),
		at(100, 10, "web1", "audit.log"),                // older, arrived later
		at(900, 0, "web1.example.com", "journal-audit"), // joins 10, not the nearer 13 nor web2's 11
		at(1200, 12, "web1", "audit.log"),               // hands 10 on
		at(1300, 0, "", "kmsg"),                         // any host's: the oldest held is 11
	}, nil)
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%d %s %v", v.Serial, v.Node, v.Sources))
	}
	want := []string{"10 web1 [audit.log journal-audit]", "11 web2 [audit.log kmsg]", "13 web1 [audit.log]", "12 web1 [audit.log]"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// Cloned VMs: two hosts' kills with the same serial, millisecond and pid are two violations; copies
// with the other spelling of a host's name, or with no host, join their host's.
func TestMergeNodes(t *testing.T) {
	tm := time.Date(2026, 12, 2, 13, 0, 0, 500e6, time.UTC)
	kill := func(src, node, machine string, syscall int) audit.Record {
		return audit.Record{Source: src, Node: node, Machine: machine, Time: tm, Serial: 77, PID: 42, Arch: syscalls.ArchX86_64,
			Syscall: syscall, Action: audit.ActionKillProcess, Code: uint32(audit.ActionKillProcess)}
	}
	for _, c := range []struct {
		name string
		recs []audit.Record
		want []string // per violation: node, machine, sources
	}{
		{"two nodes, two calls", []audit.Record{kill("audit.log", "web1", "", 93), kill("audit.log", "web2", "", 41)},
			[]string{"web1 [audit.log]", "web2 [audit.log]"}},
		{"two nodes, one call", []audit.Record{kill("audit.log", "web1", "", 93), kill("audit.log", "web2", "", 93)},
			[]string{"web1 [audit.log]", "web2 [audit.log]"}},
		{"short and FQDN", []audit.Record{kill("audit.log", "web1", "", 93), kill("journal-audit", "WEB1.example.com", "m1", 93)},
			[]string{"web1 m1 [audit.log journal-audit]"}},
		{"a copy without a host", []audit.Record{kill("kmsg", "", "", 93), kill("audit.log", "web1", "", 93), kill("journal-audit", "web1.example.com", "m1", 93)},
			[]string{"web1 m1 [audit.log journal-audit kmsg]"}},
		{"one name, two machine ids", []audit.Record{kill("journal-audit", "web1", "m1", 93), kill("journal-kernel", "web1", "m2", 93)},
			[]string{"web1 m1 [journal-audit]", "web1 m2 [journal-kernel]"}},
		{"one serial, two calls of one host", []audit.Record{kill("audit.log", "web1", "", 93), kill("kmsg", "web1", "", 41)},
			[]string{"web1 [audit.log]", "web1 [kmsg]"}},
		{"two nodes and a copy of each", []audit.Record{kill("audit.log", "web1", "", 93), kill("audit.log", "web2", "", 93),
			kill("journal-audit", "web2.example.com", "m2", 93), kill("journal-audit", "web1.example.com", "m1", 93)},
			[]string{"web1 m1 [audit.log journal-audit]", "web2 m2 [audit.log journal-audit]"}},
		{"numeric node", []audit.Record{kill("audit.log", "10.0.0.1", "", 93), kill("audit.log", "10.0.0.2", "", 93),
			kill("journal-audit", "web1.example.com", "m1", 93)},
			[]string{"10.0.0.1 m1 [audit.log journal-audit]", "10.0.0.2 [audit.log]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, v := range mergeStream(t, c.recs, nil) {
				got = append(got, fmt.Sprintf("%s %v", v.Node, v.Sources))
				if v.Machine != "" {
					got[len(got)-1] = fmt.Sprintf("%s %s %v", v.Node, v.Machine, v.Sources)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// A late kernel-log copy of a kill handed on is dropped for that host only: another host's kill with
// the same serial, millisecond and pid, coming as late, is a kill of its own.
func TestMergeLateCopyOfAKillPerHost(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	k := audit.Record{PID: 5, Time: t0, Serial: 77, Action: audit.ActionKillProcess, Syscall: 93, Source: "audit.log", Node: "web1"}
	later := audit.Record{PID: 6, Time: t0.Add(time.Minute), Serial: 78, Action: audit.ActionKillProcess, Syscall: 93, Source: "audit.log", Node: "web1"}
	copy1, other := k, k
	copy1.Source, copy1.Node = "journal-kernel", "web1.example.com"
	other.Node = "web2"
	vs := mergeStream(t, []audit.Record{k, later, copy1, other}, nil)
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%s %d %v", v.Node, v.PID, v.Sources))
	}
	// other comes after the later kill: it is handed on at once, out of time order (past the Horizon).
	want := []string{"web1 5 [audit.log]", "web2 5 [audit.log]", "web1 6 [audit.log]"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestSameHost(t *testing.T) {
	h := func(name, id string) journal.Host { return journal.Host{Hostname: name, MachineID: id} }
	for _, c := range []struct {
		a, b journal.Host
		want bool
	}{
		{h("", ""), h("web1", "m1"), true},
		{h("web1", ""), h("web1", ""), true},
		{h("web1", ""), h("web2", ""), false},
		{h("web1", ""), h("web1.example.com", ""), true},
		{h("Web1", ""), h("web1.example.com", "m1"), true},
		{h("web1.a.example", ""), h("web1.b.example", ""), true}, // only the first label is compared
		{h("web1", ""), h("web10", ""), false},
		{h("web1", "m1"), h("web1", "m2"), false},
		{h("web1", "m1"), h("web2", "m1"), false},
		{h("", "m1"), h("", "m2"), false},
		{h("", "m1"), h("web2", ""), true},
		{h("10.0.0.1", ""), h("10.0.0.2", ""), false},
		{h("10.0.0.1", ""), h("10.0.0.1", ""), true},
		{h("10.0.0.1", ""), h("web1", ""), true},
		{h("fe80::1", ""), h("fe80::2", ""), false},
		{h("::ffff:10.0.0.1", ""), h("10.0.0.1", ""), true},
		{h("10.0.0.1", ""), h("10.0.0.1.example", ""), true}, // not an address: first label "10"
	} {
		if got := sameHost(c.a, c.b); got != c.want {
			t.Errorf("sameHost(%+v, %+v) = %v", c.a, c.b, got)
		}
		if got := sameHost(c.b, c.a); got != c.want {
			t.Errorf("sameHost(%+v, %+v) = %v", c.b, c.a, got)
		}
	}
}

// A crafted log of one record (serial, millisecond, pid and call) on 50 000 hosts, each followed by a
// copy from the FQDN: each record is compared with at most maxHosts others, so the merge stays linear;
// the first maxHosts hosts' copies join, the later ones stand alone.
func TestMergerManyHosts(t *testing.T) {
	for _, serial := range []uint64{77, 0} {
		t.Run(fmt.Sprint("serial ", serial), func(t *testing.T) {
			const n = 50000
			tm := time.Date(2026, 12, 2, 13, 0, 0, 500e6, time.UTC)
			recs := make([]audit.Record, 0, 2*n)
			for i := range n {
				r := audit.Record{Source: fmt.Sprint("a", i), Node: fmt.Sprint("web", i), Time: tm, Serial: serial, PID: 42,
					Arch: syscalls.ArchX86_64, Syscall: 93, Action: audit.ActionKillProcess, Code: uint32(audit.ActionKillProcess)}
				recs = append(recs, r)
				r.Source, r.Node = fmt.Sprint("b", i), fmt.Sprint("web", i, ".example.com")
				recs = append(recs, r)
			}
			vs := mergeStream(t, recs, nil)
			seen, joined := 0, 0
			for _, v := range vs {
				seen += len(v.Sources)
				if len(v.Sources) == 2 {
					joined++
					if v.Sources[0][1:] != v.Sources[1][1:] {
						t.Fatalf("two hosts' records joined: %+v", v)
					}
				}
			}
			if seen != 2*n || joined != maxHosts {
				t.Errorf("%d records in %d violations, %d joined; want %d records, %d joined", seen, len(vs), joined, 2*n, maxHosts)
			}
		})
	}
}
