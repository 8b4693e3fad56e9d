package evidence

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// forwardedCore is a container's entry as systemd ≥ 255 forwards it (research: §2b of the container
// notes; the field list of src/coredump/coredump.c forward_coredump_to_container): COREDUMP_FORWARDED=1,
// COREDUMP_PID the container's pid, NSpid: that pid alone (read in the container's procfs),
// COREDUMP_BY_PIDFD present but empty, COREDUMP_CGROUP/UNIT relative to the container's PID 1,
// COREDUMP_TIMESTAMP the host's %t in whole seconds, _MACHINE_ID the container's.
func forwardedCore(t testing.TB, at time.Time, pid int, exe, unit string, forwarded bool) journal.Coredump {
	t.Helper()
	p := strconv.Itoa(pid)
	f := journal.Fields{
		"MESSAGE_ID":           journal.MessageCoredump,
		"PRIORITY":             "2",
		"__REALTIME_TIMESTAMP": strconv.FormatInt(at.Add(300*time.Millisecond).UnixMicro(), 10),
		"COREDUMP_TIMESTAMP":   strconv.FormatInt(at.Truncate(time.Second).UnixMicro(), 10),
		"COREDUMP_PID":         p,
		"COREDUMP_UID":         "0",
		"COREDUMP_GID":         "0",
		"COREDUMP_SIGNAL":      "31",
		"COREDUMP_SIGNAL_NAME": "SIGSYS",
		"COREDUMP_RLIMIT":      "18446744073709551615",
		"COREDUMP_HOSTNAME":    "host1",
		"COREDUMP_DUMPABLE":    "1",
		"COREDUMP_BY_PIDFD":    "",
		"COREDUMP_UNIT":        unit,
		"COREDUMP_SLICE":       "system.slice",
		"COREDUMP_CGROUP":      "/system.slice/" + unit,
		"COREDUMP_PROC_CGROUP": "0::/testbed.slice/sysdiag-testbed.scope/system.slice/" + unit + "\n",
		"COREDUMP_EXE":         exe,
		"COREDUMP_COMM":        exe[strings.LastIndexByte(exe, '/')+1:],
		"COREDUMP_ROOT":        "/",
		"COREDUMP_PROC_STATUS": "Name:\tprobe\nTgid:\t" + p + "\nPid:\t" + p + "\nPPid:\t1\nNStgid:\t" + p + "\nNSpid:\t" + p + "\nNSpgid:\t" + p + "\nNSsid:\t" + p + "\n",
		"COREDUMP_ENVIRON":     "LANG=C.UTF-8\nINVOCATION_ID=inv-" + unit + "\n",
		"COREDUMP_FILENAME":    "/var/lib/systemd/coredump/core.probe.0.b00t." + p + ".1000000.zst",
		"MESSAGE":              "Process " + p + " (probe) of user 0 dumped core.",
		"_HOSTNAME":            "host1",
		"_MACHINE_ID":          "c0ffee00c0ffee00c0ffee00c0ffee00",
		"_BOOT_ID":             "b00t",
	}
	if forwarded {
		f["COREDUMP_FORWARDED"] = "1"
	}
	c, err := journal.ParseCoredump(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Forwarded != forwarded {
		t.Fatalf("Forwarded = %v", c.Forwarded)
	}
	return c
}

// hostKill is the kernel's record on the host (audit.log: no node=, no machine id): pid= the host's.
func hostKill(at time.Time, serial uint64, pid int, exe string, nr int) audit.Record {
	name, _ := syscalls.Name(syscalls.ArchX86_64, nr)
	return audit.Record{Source: "audit.log", Time: at, Serial: serial, PID: pid, Comm: exe[strings.LastIndexByte(exe, '/')+1:], Exe: exe,
		Arch: syscalls.ArchX86_64, Syscall: nr, Name: name, Action: audit.ActionKillProcess, Code: uint32(audit.ActionKillProcess), Sig: journal.SIGSYS}
}

const joinedHow = "coredump forwarded into the container, joined by executable and second"

var s0 = time.Date(2026, 12, 8, 9, 30, 15, 0, time.UTC)

// The main case: the container's entry names pid 89, the host's record pid 8161. One violation with the
// record's call and the entry's unit, saying how.
func TestMergeForwardedByExeAndSecond(t *testing.T) {
	at := s0.Add(420 * time.Millisecond)
	vs := Merge([]audit.Record{hostKill(at, 5, 8161, "/opt/bin/probe", 93)}, []journal.Coredump{forwardedCore(t, at, 89, "/opt/bin/probe", "ct-main.service", true)}, nil)
	if len(vs) != 1 {
		t.Fatalf("%d violations: %+v", len(vs), vs)
	}
	v := vs[0]
	if v.Unit != "ct-main.service" || v.Name != "fchown" || v.PID != 8161 || v.Coredump == nil || v.Coredump.PID != 89 || v.CoarseTime ||
		!v.Time.Equal(at) || strings.Join(v.Sources, ",") != "audit.log,coredump" {
		t.Errorf("violation %+v", v)
	}
	if v.How.Method != ByForwarded || v.How.Invocation != "inv-ct-main.service" || !strings.Contains(v.How.Detail, joinedHow) ||
		!strings.Contains(v.How.Detail, "pid 89") || !strings.Contains(v.How.Detail, "pid 8161") {
		t.Errorf("how %+v", v.How)
	}
	if v.Host().MachineID != "c0ffee00c0ffee00c0ffee00c0ffee00" {
		t.Errorf("host %+v: want the entry's, the record names none", v.Host())
	}
}

func TestMergeForwardedCases(t *testing.T) {
	exeA, exeB := "/opt/bin/probe-a", "/opt/bin/probe-b"
	type want struct {
		unit    string // "" not joined
		howPart string // in the kill's How.Detail
	}
	for _, c := range []struct {
		name  string
		recs  []audit.Record
		cores []journal.Coredump
		want  []want // per record, by serial order
	}{
		{"two units in one second, two programs",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 9001, exeA, 93), hostKill(s0.Add(130*time.Millisecond), 2, 9002, exeB, 167)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeB, "ct-b.service", true), forwardedCore(t, s0, 91, exeA, "ct-a.service", true)},
			[]want{{"ct-a.service", joinedHow}, {"ct-b.service", joinedHow}}},
		{"two kills of one program in one second, two entries: not guessed",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 9001, exeA, 93), hostKill(s0.Add(700*time.Millisecond), 2, 9002, exeA, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", true), forwardedCore(t, s0, 91, exeA, "ct-c.service", true)},
			[]want{{"", "would be a guess"}, {"", "would be a guess"}}},
		{"two kills, one entry (the other forward failed): not guessed",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 9001, exeA, 93), hostKill(s0.Add(700*time.Millisecond), 2, 9002, exeA, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", true)},
			[]want{{"", "2 SIGSYS kills"}, {"", "2 SIGSYS kills"}}},
		{"one kill, two entries of its program: not guessed",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 9001, exeA, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", true), forwardedCore(t, s0, 91, exeA, "ct-c.service", true)},
			[]want{{"", "2 coredump entries"}}},
		{"the record just before the entry's second (the dump began in the next)",
			[]audit.Record{hostKill(s0.Add(-100*time.Millisecond), 1, 9001, exeA, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", true)},
			[]want{{"ct-a.service", joinedHow}}},
		{"the record a second after the entry's: not the same second",
			[]audit.Record{hostKill(s0.Add(1100*time.Millisecond), 1, 9001, exeA, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", true)},
			[]want{{"", ""}}},
		{"another program",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 9001, exeB, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", true)},
			[]want{{"", ""}}},
		{"a host process with the container's pid number, another program: no pid join",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 90, exeB, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", true)},
			[]want{{"", ""}}},
		{"no COREDUMP_FORWARDED (an export that dropped it), no record of its pid",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 9001, exeA, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", false)},
			[]want{{"ct-a.service", "which no kill record names"}}},
		{"no COREDUMP_FORWARDED, a record of its pid: the pid join, as ever",
			[]audit.Record{hostKill(s0.Add(100*time.Millisecond), 1, 90, exeA, 93), hostKill(s0.Add(200*time.Millisecond), 2, 9001, exeA, 93)},
			[]journal.Coredump{forwardedCore(t, s0, 90, exeA, "ct-a.service", false)},
			[]want{{"ct-a.service", "systemd-coredump's entry for pid 90 names the unit"}, {"", ""}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				var vs []Violation
				if stream {
					vs = mergeStream(t, c.recs, c.cores)
				} else {
					vs = Merge(c.recs, c.cores, nil)
				}
				bySerial := map[uint64]Violation{}
				alone := 0
				for _, v := range vs {
					if v.Serial == 0 {
						alone++
						if v.Coredump == nil || !v.CoarseTime || v.Known() {
							t.Errorf("a coredump alone: %+v", v)
						}
						continue
					}
					bySerial[v.Serial] = v
				}
				joined := 0
				for i, w := range c.want {
					v, ok := bySerial[uint64(i+1)]
					if !ok {
						t.Fatalf("no violation of record %d: %+v", i+1, vs)
					}
					if v.Unit != w.unit || (w.unit == "") != (v.Coredump == nil) || !strings.Contains(v.How.Detail, w.howPart) {
						t.Errorf("stream %v, record %d: unit %q, how %+v; want %q, %q", stream, i+1, v.Unit, v.How, w.unit, w.howPart)
					}
					if w.unit != "" {
						joined++
					}
				}
				if joined+alone != len(c.cores) {
					t.Errorf("stream %v: %d joined, %d coredumps alone, of %d", stream, joined, alone, len(c.cores))
				}
			}
		})
	}
}

// Across hosts: the entry of one container (its machine id) and a record from another host's journal.
func TestMergeForwardedOtherHost(t *testing.T) {
	r := hostKill(s0.Add(100*time.Millisecond), 1, 9001, "/opt/bin/probe", 93)
	r.Machine = "aaaa0000aaaa0000aaaa0000aaaa0000"
	vs := Merge([]audit.Record{r}, []journal.Coredump{forwardedCore(t, s0, 90, "/opt/bin/probe", "ct-a.service", true)}, nil)
	if len(vs) != 2 {
		t.Fatalf("a record of another host joined: %+v", vs)
	}
}

// The comm stands in for a missing exe.
func TestMergeForwardedByComm(t *testing.T) {
	r := hostKill(s0.Add(100*time.Millisecond), 1, 9001, "/opt/bin/probe", 93)
	r.Exe = ""
	vs := Merge([]audit.Record{r}, []journal.Coredump{forwardedCore(t, s0, 90, "/opt/bin/probe", "ct-a.service", true)}, nil)
	if len(vs) != 1 || vs[0].Unit != "ct-a.service" || vs[0].Exe != "/opt/bin/probe" || !strings.Contains(vs[0].How.Detail, "comm probe") {
		t.Fatalf("%+v", vs)
	}
}

// In a stream the first kill of a second waits for the second's other records: a second kill of its
// program 800 ms later, arriving after a newer record (within the Horizon), makes the pairing ambiguous.
func TestMergerForwardedWaitsForTheSecond(t *testing.T) {
	k1 := hostKill(s0.Add(100*time.Millisecond), 1, 9001, "/opt/bin/probe", 93)
	other := hostKill(s0.Add(1200*time.Millisecond), 3, 7000, "/usr/bin/other", 41)
	other.Action, other.Code = audit.ActionLog, uint32(audit.ActionLog)
	k2 := hostKill(s0.Add(900*time.Millisecond), 2, 9002, "/opt/bin/probe", 93)
	cores := []journal.Coredump{forwardedCore(t, s0, 90, "/opt/bin/probe", "ct-a.service", true)}
	var out []Violation
	m := NewMerger(cores, nil, func(v Violation) error { out = append(out, v); return nil })
	for _, r := range []audit.Record{k1, other, k2} {
		if err := m.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) != 0 {
		t.Fatalf("handed on before the second was complete: %+v", out)
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, v := range out {
		if v.Serial != 0 && v.Action.IsKill() && (v.Unit != "" || !strings.Contains(v.How.Detail, "2 SIGSYS kills")) {
			t.Errorf("%+v", v)
		}
	}
	if len(out) != 4 || len(m.seconds) != 0 {
		t.Errorf("%d violations, %d seconds indexed after Flush", len(out), len(m.seconds))
	}
	for i := 1; i < len(out); i++ {
		if !out[i].CoarseTime && out[i].Time.Before(out[i-1].Time) {
			t.Errorf("out of order: %v after %v", out[i].Time, out[i-1].Time)
		}
	}
}

func TestPairByExe(t *testing.T) {
	mk := func(r audit.Record) Violation {
		return Violation{Time: r.Time, PID: r.PID, Exe: r.Exe, Comm: r.Comm, Action: r.Action, Syscall: r.Syscall}
	}
	kills := []Violation{mk(hostKill(s0.Add(100*time.Millisecond), 1, 9001, "/a", 93)), mk(hostKill(s0.Add(200*time.Millisecond), 2, 9002, "/b", 93)),
		mk(hostKill(s0.Add(300*time.Millisecond), 3, 9003, "/b", 93))}
	cores := []journal.Coredump{forwardedCore(t, s0, 90, "/b", "b.service", true), forwardedCore(t, s0, 91, "/a", "a.service", true)}
	pairs, why := PairByExe(kills, cores)
	if len(pairs) != 1 || pairs[0] != 1 || why[1] == "" || why[2] == "" || why[0] != "" {
		t.Fatalf("pairs %v, why %v", pairs, why)
	}
	if !ContainerPID(cores[0]) || ContainerPID(forwardedCore(t, s0, 90, "/b", "b.service", false)) {
		t.Error("ContainerPID")
	}
}

// FuzzForwarded: kills of a few programs on a few hosts, in time order within the Horizon, and
// forwarded entries: the Merger joins exactly the pairs the plain quadratic rule (PairByExe over
// everything) makes unique, each kill and entry at most once, and holds nothing after Flush.
func FuzzForwarded(f *testing.F) {
	f.Add([]byte{3, 0, 0, 1, 0, 0, 1, 5, 0, 2, 9, 1, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0})
	f.Fuzz(runForwardedCase)
}

func runForwardedCase(t *testing.T, data []byte) {
	{
		if len(data) < 1 || len(data) > 2048 {
			return
		}
		exes := []string{"/p0", "/p1", "/p2"}
		hosts := []string{"", "m1", "m2"}
		nCores := int(data[0]) % 6
		data = data[1:]
		var cores []journal.Coredump
		for i := 0; i < nCores && len(data) >= 2; i++ {
			c := forwardedCore(t, s0.Add(time.Duration(data[0]%4)*time.Second), 100+i, exes[int(data[1])%3], fmt.Sprintf("u%d.service", i), data[1]&16 == 0)
			c.Host.MachineID = hosts[int(data[1]>>2)%3]
			c.Filename = fmt.Sprintf("c%d", i)
			cores = append(cores, c)
			data = data[2:]
		}
		var recs []audit.Record
		clock := s0.Add(-time.Second)
		for i := 0; len(data) >= 2; i++ {
			clock = clock.Add(time.Duration(data[0]%8) * 100 * time.Millisecond)
			r := hostKill(clock.Add(-time.Duration(data[1]>>6)*100*time.Millisecond), uint64(i+1), 5000+i, exes[int(data[1])%3], 93)
			r.Machine = hosts[int(data[1]>>2)%3]
			recs = append(recs, r)
			data = data[2:]
		}
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
		if len(m.seconds) != 0 || len(m.pending) != 0 {
			t.Fatalf("held after Flush: %d seconds, %d pending", len(m.seconds), len(m.pending))
		}
		kills := make([]Violation, len(recs))
		for i, r := range recs {
			kills[i] = Violation{Time: r.Time, Machine: r.Machine, PID: r.PID, Exe: r.Exe, Comm: r.Comm, Action: r.Action}
		}
		pairs, _ := PairByExe(kills, cores)
		seen := map[string]bool{}
		for _, v := range out {
			if v.Coredump != nil {
				if seen[v.Coredump.Filename] {
					t.Fatalf("entry %s twice", v.Coredump.Filename)
				}
				seen[v.Coredump.Filename] = true
			}
			if v.Serial == 0 {
				continue
			}
			j, want := pairs[int(v.Serial)-1]
			got := v.Coredump != nil
			if got != want || got && v.Coredump.Filename != cores[j].Filename {
				t.Fatalf("record %d: joined %v (%+v), the plain rule %v (entry %d)\nrecords %+v\nentries %+v", v.Serial, got, v.Coredump, want, j, recs, cores)
			}
			if got && (v.How.Method != ByForwarded || v.Unit != cores[j].Unit) {
				t.Fatalf("record %d: %+v", v.Serial, v.How)
			}
		}
		if len(seen) != len(cores) {
			t.Fatalf("%d of %d entries handed on", len(seen), len(cores))
		}
	}
}
