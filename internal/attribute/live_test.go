package attribute

import (
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/cgroup"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// lateClock is the injected clock: seconds from liveT0.
type lateClock struct {
	mu sync.Mutex
	t  time.Time
}

var liveT0 = time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)

func liveAt(s float64) time.Time { return liveT0.Add(time.Duration(s * float64(time.Second))) }

func (c *lateClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *lateClock) set(s float64)  { c.mu.Lock(); c.t = liveAt(s); c.mu.Unlock() }

func liveKill(pid int, exe string, s float64) evidence.Violation {
	return evidence.Violation{PID: pid, Exe: exe, Comm: "probe", Time: liveAt(s), Action: audit.ActionKillProcess, Syscall: 93, Name: "fchown", Serial: uint64(pid)}
}

// newTestLate is a queue on a fake clock at 0 whose output is collected.
func newTestLate(cfg LateConfig) (*Late, *lateClock, *[]evidence.Violation) {
	clk := &lateClock{}
	clk.set(0)
	cfg.Now = clk.Now
	var out []evidence.Violation
	return NewLate(cfg, func(v evidence.Violation) { out = append(out, v) }), clk, &out
}

// A kill whose process was gone waits; its coredump entry, arriving 2.5 s later, ties it at once.
func TestLateCoredumpAt2500ms(t *testing.T) {
	l, clk, out := newTestLate(LateConfig{})
	v := liveKill(100, "/usr/bin/a", 0)
	TieCgroup(&v, cgroup.Unit{}, "pid 100 was gone before its cgroup could be read")
	if !l.Hold(&v) {
		t.Fatal("an untied kill must wait")
	}
	clk.set(2.4)
	l.Tick()
	l.Coredump(journal.Coredump{PID: 999, Signal: journal.SIGSYS, Unit: "other.service", Time: liveT0}) // another process
	l.Coredump(journal.Coredump{PID: 100, Signal: 11, Unit: "segv.service", Time: liveT0})              // not a seccomp death
	if len(*out) != 0 {
		t.Fatalf("decided before its entry: %+v", *out)
	}
	clk.set(2.5)
	l.Coredump(journal.Coredump{PID: 100, Signal: journal.SIGSYS, Unit: "a.service", Invocation: "i1", Time: liveT0})
	if len(*out) != 1 {
		t.Fatalf("want the kill tied when the entry arrived, got %d", len(*out))
	}
	got := (*out)[0]
	if got.Unit != "a.service" || got.How.Method != evidence.ByCoredump || got.How.Invocation != "i1" || !strings.Contains(got.How.Detail, "pid 100") {
		t.Errorf("tied %q by %+v", got.Unit, got.How)
	}
	clk.set(3)
	l.Tick()
	if len(*out) != 1 || l.Waiting() != 0 {
		t.Errorf("the kill came out again: %d, %d waiting", len(*out), l.Waiting())
	}
}

// A coredump entry that arrived before the record (a late journal source) ties the kill as it arrives.
func TestLateCoredumpBeforeTheRecord(t *testing.T) {
	l, _, out := newTestLate(LateConfig{})
	l.Coredump(journal.Coredump{PID: 40177, NSPids: []int{40177, 212}, Signal: journal.SIGSYS, UserUnit: "app.service", Unit: "user@1000.service", Time: liveT0})
	l.Coredump(journal.Coredump{PID: 300, NSPids: []int{300, 7}, Signal: journal.SIGSYS, Unit: "c.service", Time: liveT0})
	v := liveKill(40177, "/usr/bin/a", 0.2)
	if l.Hold(&v) {
		t.Fatal("a kill its coredump already tied must not wait")
	}
	if v.Unit != "app.service" || !v.UserUnit || v.Manager != "user@1000.service" || v.How.Method != evidence.ByCoredump {
		t.Errorf("%q user=%v manager=%q %+v", v.Unit, v.UserUnit, v.Manager, v.How)
	}
	// Pid 300 is the host's pid in c.service's entry (NSpid 300/7): a record of pid 7 is another process.
	w := liveKill(7, "/usr/bin/c", 0.2)
	if !l.Hold(&w) {
		t.Error("a container pid's number must not match the host pid of another entry")
	}
	if len(*out) != 0 {
		t.Errorf("out %+v", *out)
	}
}

// A kill without a coredump (core_pattern "core", or a pipe to another helper) is tied by its unit's
// SIGSYS exit entry when its wait ends — the rule why uses.
func TestLateTiedByExit(t *testing.T) {
	var asked []string
	l, clk, out := newTestLate(LateConfig{
		Programs: func(_ journal.Host, unit string, _ bool) []string {
			asked = append(asked, unit)
			return []string{"/usr/bin/b"}
		},
	})
	v := liveKill(200, "/usr/bin/b", 0)
	TieCgroup(&v, cgroup.Unit{}, "pid 200 was gone before its cgroup could be read")
	if !l.Hold(&v) {
		t.Fatal("must wait")
	}
	clk.set(0.4)
	l.Exit(journal.UnitExit{Time: liveAt(0.3), Unit: "b.service", InvocationID: "inv-b", ExitCode: "killed", ExitStatus: journal.SIGSYS})
	l.Exit(journal.UnitExit{Time: liveAt(0.3), Unit: "c.service", InvocationID: "inv-c", ExitCode: "exited", ExitStatus: 1}) // not SIGSYS
	clk.set(2.9)
	l.Tick()
	if len(*out) != 0 {
		t.Fatalf("decided before its wait ended: %+v", *out)
	}
	clk.set(3)
	l.Tick()
	if len(*out) != 1 {
		t.Fatalf("want one kill out at 3 s, got %d", len(*out))
	}
	got := (*out)[0]
	if got.Unit != "b.service" || got.How.Method != evidence.ByMainExit || got.How.Invocation != "inv-b" {
		t.Errorf("tied %q by %+v", got.Unit, got.How)
	}
	if strings.Join(asked, ",") != "b.service" {
		t.Errorf("programs asked for %v", asked)
	}
}

// Untied at 3 s, with the reasons: the cgroup read's and the wait's.
func TestLateUntiedAt3s(t *testing.T) {
	l, clk, out := newTestLate(LateConfig{ForeignPIDs: true, Processes: func(journal.Host, int, time.Time, time.Time) []journal.Process {
		t.Error("the journal was asked about a pid of another namespace")
		return nil
	}})
	v := liveKill(300, "/usr/bin/c", 0)
	TieCgroup(&v, cgroup.Unit{}, "pid 300 was gone before its cgroup could be read")
	l.Hold(&v)
	clk.set(2.999)
	l.Tick()
	if len(*out) != 0 {
		t.Fatal("out before 3 s")
	}
	clk.set(3)
	l.Tick()
	if len(*out) != 1 {
		t.Fatalf("want it out at 3 s, got %d", len(*out))
	}
	got := (*out)[0]
	if got.Unit != "" || got.How.Method != "" {
		t.Errorf("tied by nothing, yet %q %+v", got.Unit, got.How)
	}
	for _, want := range []string{"pid 300 was gone before its cgroup could be read", "another PID namespace", "no coredump entry, SIGSYS exit entry or journal entry of pid 300 tied it within 3s"} {
		if !strings.Contains(got.How.Detail, want) {
			t.Errorf("detail %q lacks %q", got.How.Detail, want)
		}
	}
}

// The process's own journal entries, asked for when the wait ends, tie it (journal-pid).
func TestLateTiedByTheProcessesOwnEntries(t *testing.T) {
	type ask struct {
		host         journal.Host
		pid          int
		since, until time.Time
	}
	var asks []ask
	l, clk, out := newTestLate(LateConfig{Processes: func(h journal.Host, pid int, since, until time.Time) []journal.Process {
		asks = append(asks, ask{h, pid, since, until})
		return []journal.Process{{PID: pid, Exe: "/usr/bin/d", Unit: "d.service", Invocation: "inv-d", First: liveAt(-60), Last: liveAt(-1)}}
	}})
	v := liveKill(400, "/usr/bin/d", 0)
	v.Node = "web1"
	l.Hold(&v)
	clk.set(3)
	l.Tick()
	if len(*out) != 1 || (*out)[0].Unit != "d.service" || (*out)[0].How.Method != evidence.ByJournalPID || (*out)[0].How.Invocation != "inv-d" {
		t.Fatalf("out %+v", *out)
	}
	if len(asks) != 1 || asks[0].pid != 400 || asks[0].host.Hostname != "web1" || !asks[0].since.Equal(liveAt(0).Add(-ProcessLookback)) || !asks[0].until.Equal(liveAt(1)) {
		t.Errorf("asked %+v", asks)
	}
}

// A kill its cgroup tied explains its unit's exit entry: an untied kill of the same moment is not
// given to that unit.
func TestLateTiedKillExplainsItsExit(t *testing.T) {
	l, clk, out := newTestLate(LateConfig{})
	a := liveKill(500, "/usr/bin/e", 0)
	TieCgroup(&a, cgroup.Unit{Name: "e.service"}, "")
	if a.How.Method != evidence.ByCgroup || l.Hold(&a) {
		t.Fatalf("a kill the cgroup tied is handed on at once: %+v", a.How)
	}
	b := liveKill(501, "/usr/bin/e", 0.1)
	l.Hold(&b)
	l.Exit(journal.UnitExit{Time: liveAt(0.2), Unit: "e.service", InvocationID: "inv-e", ExitCode: "dumped", ExitStatus: journal.SIGSYS})
	clk.set(3)
	l.Tick()
	if len(*out) != 1 || (*out)[0].Unit != "" {
		t.Errorf("the exit is e.service's tied kill's, not this one's: %+v", *out)
	}
}

// Past the cap a kill does not wait: it is handed on at once, saying why.
func TestLateQueueOverflow(t *testing.T) {
	l, clk, out := newTestLate(LateConfig{})
	for i := range LateCap {
		v := liveKill(1000+i, "/usr/bin/f", 0)
		if !l.Hold(&v) {
			t.Fatalf("kill %d did not wait", i)
		}
	}
	v := liveKill(5000, "/usr/bin/f", 0)
	if l.Hold(&v) {
		t.Fatal("the 257th kill waited")
	}
	if v.Unit != "" || !strings.Contains(v.How.Detail, "256 kills were already waiting") {
		t.Errorf("overflow: %q %+v", v.Unit, v.How)
	}
	if l.Waiting() != LateCap {
		t.Errorf("%d waiting", l.Waiting())
	}
	log := liveKill(6000, "/usr/bin/f", 0)
	log.Action = audit.ActionLog
	if l.Hold(&log) {
		t.Error("a logged call waited")
	}
	clk.set(3)
	l.Tick()
	if len(*out) != LateCap || l.Waiting() != 0 {
		t.Errorf("%d out, %d waiting", len(*out), l.Waiting())
	}
}

// Flush decides what still waits when watch ends.
func TestLateFlush(t *testing.T) {
	l, clk, out := newTestLate(LateConfig{})
	v := liveKill(700, "/usr/bin/g", 0)
	l.Hold(&v)
	clk.set(1)
	got := l.Flush()
	if len(got) != 1 || len(*out) != 0 || !strings.Contains(got[0].How.Detail, "watch stopped") {
		t.Errorf("flush %+v, out %d", got, len(*out))
	}
	if l.Flush() != nil {
		t.Error("flushed twice")
	}
}

// countingFS is /proc that counts its opens.
type countingFS struct {
	fstest.MapFS
	opens int
}

func (c *countingFS) Open(name string) (fs.File, error)    { c.opens++; return c.MapFS.Open(name) }
func (c *countingFS) ReadFile(name string) ([]byte, error) { c.opens++; return c.MapFS.ReadFile(name) }

func TestCgroupsCache(t *testing.T) {
	proc := &countingFS{MapFS: fstest.MapFS{
		"100/cgroup": {Data: []byte("0::/system.slice/a.service\n")},
		"101/cgroup": {Data: []byte("0::/user.slice/user-1000.slice/user@1000.service/app.slice/b.service\n")},
		"102/cgroup": {Data: []byte("0::/init.slice\n")},
	}}
	clk := &lateClock{}
	clk.set(0)
	c := NewCgroups(proc, clk.Now, true)

	if u, why := c.Read(100); u.Name != "a.service" || why != "" {
		t.Errorf("100: %+v %q", u, why)
	}
	if u, _ := c.Read(101); u.Name != "b.service" || !u.User || u.Manager != "user@1000.service" {
		t.Errorf("101: %+v", u)
	}
	if u, why := c.Read(102); u.Name != "" || !strings.Contains(why, "names no unit") {
		t.Errorf("102: %+v %q", u, why)
	}
	if u, why := c.Read(999); u.Name != "" || why != "pid 999 was gone before its cgroup could be read" {
		t.Errorf("never there: %+v %q", u, why)
	}

	// A flood of one process's records reads its cgroup once a second.
	n := proc.opens
	clk.set(0.5)
	c.Read(100)
	if proc.opens != n {
		t.Error("read again within a second")
	}
	proc.MapFS["100/cgroup"] = &fstest.MapFile{Data: []byte("0::/system.slice/moved.service\n")}
	clk.set(1.5)
	if u, _ := c.Read(100); u.Name != "moved.service" || proc.opens == n {
		t.Errorf("not read again after a second: %+v", u)
	}

	// The process vanishes: its recent answer holds for 30 s, then it is gone.
	delete(proc.MapFS, "100/cgroup")
	clk.set(20)
	if u, why := c.Read(100); u.Name != "moved.service" || why != "" {
		t.Errorf("vanished at 20 s: %+v %q", u, why)
	}
	clk.set(32)
	if u, why := c.Read(100); u.Name != "" || !strings.Contains(why, "gone") {
		t.Errorf("vanished at 32 s: %+v %q", u, why)
	}

	// Bounded.
	big := fstest.MapFS{}
	for i := range cgroupMax + 10 {
		big[strconv.Itoa(10000+i)+"/cgroup"] = &fstest.MapFile{Data: []byte("0::/system.slice/x.service\n")}
	}
	c = NewCgroups(big, clk.Now, true)
	for i := range cgroupMax + 10 {
		c.Read(10000 + i)
	}
	if len(c.cache) > cgroupMax {
		t.Errorf("cache holds %d answers, over %d", len(c.cache), cgroupMax)
	}
}

// Outside the initial PID namespace /proc/PID is another process: nothing is read.
func TestCgroupsForeignNamespace(t *testing.T) {
	proc := &countingFS{MapFS: fstest.MapFS{"100/cgroup": {Data: []byte("0::/system.slice/a.service\n")}}}
	c := NewCgroups(proc, nil, false)
	u, why := c.Read(100)
	if u.Name != "" || proc.opens != 0 || !strings.Contains(why, "another PID namespace") {
		t.Errorf("%+v %q, %d opens", u, why, proc.opens)
	}
}

func TestTieCgroup(t *testing.T) {
	v := liveKill(100, "", 0)
	TieCgroup(&v, cgroup.Unit{Name: "b.service", User: true, Manager: "user@1000.service"}, "")
	if v.Unit != "b.service" || !v.UserUnit || v.Manager != "user@1000.service" || v.How.Method != evidence.ByCgroup {
		t.Errorf("%+v", v)
	}
	w := liveKill(100, "", 0)
	w.Unit, w.How = "c.service", evidence.Attribution{Method: evidence.ByCoredump}
	TieCgroup(&w, cgroup.Unit{Name: "b.service"}, "")
	if w.Unit != "c.service" || w.How.Method != evidence.ByCoredump {
		t.Errorf("a tied violation was retied: %+v", w)
	}
	x := liveKill(100, "", 0)
	TieCgroup(&x, cgroup.Unit{}, "gone")
	if x.Unit != "" || x.How.Detail != "gone" {
		t.Errorf("%+v", x.How)
	}
}

// The manager's ExecMainPID of the exit's invocation ties the main process's kill (main-pid) where the
// exit alone fits two kills.
func TestLateTiedByMainPID(t *testing.T) {
	var asked []string
	l, clk, out := newTestLate(LateConfig{MainPID: func(_ journal.Host, unit string, _ bool) (int, string) {
		asked = append(asked, unit)
		if unit == "m.service" {
			return 10, "inv-m"
		}
		return 11, "an older invocation"
	}})
	for _, pid := range []int{10, 11} {
		v := liveKill(pid, "/usr/bin/m", 0)
		l.Hold(&v)
	}
	l.Exit(journal.UnitExit{Time: liveAt(0.5), Unit: "m.service", InvocationID: "inv-m", ExitCode: "killed", ExitStatus: journal.SIGSYS})
	l.Exit(journal.UnitExit{Time: liveAt(0.5), Unit: "n.service", InvocationID: "inv-n", ExitCode: "killed", ExitStatus: journal.SIGSYS})
	clk.set(3)
	l.Tick()
	if len(*out) != 2 {
		t.Fatalf("%d out", len(*out))
	}
	byPID := map[int]evidence.Violation{}
	for _, v := range *out {
		byPID[v.PID] = v
	}
	if v := byPID[10]; v.Unit != "m.service" || v.How.Method != evidence.ByMainPID || v.How.Invocation != "inv-m" {
		t.Errorf("pid 10: %q %+v", v.Unit, v.How)
	}
	// n.service's manager names another invocation's main pid: pid 11 is left to the exit rule, and the
	// n.service exit is the one left for it.
	if v := byPID[11]; v.Unit != "n.service" || v.How.Method != evidence.ByMainExit {
		t.Errorf("pid 11: %q %+v", v.Unit, v.How)
	}
	if strings.Join(asked, ",") != "m.service,n.service" {
		t.Errorf("asked %v", asked)
	}
}

// A container's systemd-coredump receives the host's core forwarded (systemd ≥ 255): its entry names the
// container's pid only (COREDUMP_FORWARDED=1, NSpid one value). Watch ties the kill by executable and
// second, as the merger does — and not when two kills of one program in that second fit one entry.
func TestLateForwardedCoredump(t *testing.T) {
	l, clk, out := newTestLate(LateConfig{})
	a := liveKill(40177, "/usr/bin/a", 0.1)
	b1, b2 := liveKill(40200, "/usr/bin/b", 0.2), liveKill(40201, "/usr/bin/b", 0.3)
	for _, v := range []*evidence.Violation{&a, &b1, &b2} {
		TieCgroup(v, cgroup.Unit{}, "the record is another host's")
		if !l.Hold(v) {
			t.Fatal("an untied kill must wait")
		}
	}
	clk.set(0.8)
	// Pid 212 is the container's: a record of pid 212 would be another process.
	l.Coredump(journal.Coredump{PID: 212, NSPids: []int{212}, Forwarded: true, Exe: "/usr/bin/a", Signal: journal.SIGSYS, Unit: "a.service", Time: liveT0})
	l.Coredump(journal.Coredump{PID: 213, NSPids: []int{213}, Forwarded: true, Exe: "/usr/bin/b", Signal: journal.SIGSYS, Unit: "b.service", Time: liveT0})
	if len(*out) != 1 || (*out)[0].PID != 40177 || (*out)[0].Unit != "a.service" || (*out)[0].How.Method != evidence.ByForwarded {
		t.Fatalf("want a's kill tied by the forwarded entry, got %+v", *out)
	}
	clk.set(3.5)
	l.Tick()
	for _, v := range (*out)[1:] {
		if v.Unit != "" {
			t.Errorf("two kills of /usr/bin/b in one second and one entry: %d tied to %q (%+v)", v.PID, v.Unit, v.How)
		}
	}
	if len(*out) != 3 {
		t.Errorf("want all three out, got %d", len(*out))
	}
}

// Two containers' kills of one program in one second: one tied at once by its cgroup, the other waiting.
// The one forwarded entry that arrives fits both: it ties neither (a guess), as the merger would not.
func TestLateForwardedCountsDecidedKills(t *testing.T) {
	l, clk, out := newTestLate(LateConfig{})
	k1 := liveKill(40100, "/usr/bin/foo", 0.1)
	TieCgroup(&k1, cgroup.Unit{Name: "a.service"}, "")
	if l.Hold(&k1) {
		t.Fatal("a kill tied by its cgroup must not wait")
	}
	k2 := liveKill(40200, "/usr/bin/foo", 0.2)
	TieCgroup(&k2, cgroup.Unit{}, "pid 40200 was gone before its cgroup could be read")
	if !l.Hold(&k2) {
		t.Fatal("must wait")
	}
	clk.set(0.5)
	l.Coredump(journal.Coredump{PID: 7, NSPids: []int{7}, Forwarded: true, Exe: "/usr/bin/foo", Signal: journal.SIGSYS, Unit: "a.service", Time: liveT0})
	clk.set(3.5)
	l.Tick()
	if len(*out) != 1 || (*out)[0].PID != 40200 || (*out)[0].Unit != "" {
		t.Fatalf("the entry fits two kills of /usr/bin/foo in that second: want k2 untied, got %+v", *out)
	}
}
