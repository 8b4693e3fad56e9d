package trial

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/cgroup"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/syscalls"
)

// fastClock keeps a trial's time a thousand times faster than the wall's: --for 30s is 30 ms, the wait
// after the unit stopped 1 ms.
type fastClock struct{ base, wall time.Time }

func newFastClock() fastClock { return fastClock{time.Unix(1796306400, 0), time.Now()} }

func (c fastClock) Now() time.Time { return c.base.Add(time.Since(c.wall) * 1000) }
func (c fastClock) After(d time.Duration) <-chan time.Time {
	return time.After(d / 1000)
}

// fakeSystem is a manager, its unit and the records its runs leave, in memory. The unit has a deny list
// (base) and makes the calls of runs[n] on its nth start; its filter is what systemd would make of base
// and the drop-ins in place: with the trial's drop-in, nothing is denied and the calls of its
// SystemCallLog= are logged; else a call the deny list names — after the fix's "SystemCallFilter=a b"
// took names off it and the tightening's "~@g" put groups on — kills the unit: it dies on that call.
type fakeSystem struct {
	mu     sync.Mutex
	t      *testing.T
	files  *fakeFiles
	table  syscalls.Table
	clock  Clock
	unit   string
	base   string
	runs   [][]string
	daemon bool // the unit stays active after its calls (else it exits)
	states map[string]string
	deps   map[string][]string
	pulls  []string // what a start of the unit pulls in (active after it)
	calls  []string // what was asked, in order
	// at each reload: the files then
	reloads []map[string]string
	refuse  map[string]error // a call refused once ("reload", "start d.service")
	feed    chan Record
	starts  int
	result  string
	lost    Lost
	// starting is told each start, before the unit runs (nil: nothing)
	starting func(n int)
	// ownLog are the calls the unit's own SystemCallLog= logs under its real filter
	ownLog []string
	// slow is how long (wall time) each reload takes
	slow time.Duration
}

const (
	unitName  = "d.service"
	etcDir    = "/etc/systemd/system/d.service.d/"
	fixFile   = etcDir + "zz-sysdiag.conf"
	tightFile = etcDir + TightenName
	exe       = "/usr/bin/d"
)

func newSystem(t *testing.T, base string, runs ...[]string) *fakeSystem {
	v, err := syscalls.ParseVersion("252.39")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeSystem{t: t, files: newFiles(nil), table: syscalls.Select(v), clock: newFastClock(), unit: unitName, base: base, runs: runs,
		states: map[string]string{unitName: "inactive"}, deps: map[string][]string{}, refuse: map[string]error{}}
}

func (s *fakeSystem) call(c string) error {
	s.calls = append(s.calls, c)
	err := s.refuse[c]
	delete(s.refuse, c)
	return err
}

func (s *fakeSystem) Reload(ctx context.Context) error {
	time.Sleep(s.slow)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := map[string]string{}
	for p, b := range s.files.m {
		now[p] = string(b)
	}
	s.reloads = append(s.reloads, now)
	return s.call("reload")
}

func (s *fakeSystem) Job(ctx context.Context, op, unit string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.call(op + " " + unit); err != nil {
		return err
	}
	switch op {
	case "restart":
		s.states[unit] = "active"
	case "stop":
		s.states[unit] = "inactive"
	case "reset-failed":
		if s.states[unit] == "failed" {
			s.states[unit] = "inactive"
		}
	}
	return nil
}

func (s *fakeSystem) ActiveState(ctx context.Context, unit string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[unit]
}

func (s *fakeSystem) Result(ctx context.Context, unit string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result
}

func (s *fakeSystem) Deps(ctx context.Context, unit string) map[string][]string { return s.deps }

func (s *fakeSystem) Follow(ctx context.Context, quiet bool) (Feed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.call("follow"); err != nil {
		return Feed{}, err
	}
	s.feed = make(chan Record, 4096)
	f := Feed{Records: s.feed, Name: "the fake's records"}
	if !quiet {
		f.Lost = func() Lost { return s.lost }
	}
	return f, nil
}

// expand is a filter line's names, groups expanded.
func (s *fakeSystem) expand(value string) []string {
	var out []string
	for _, n := range strings.Fields(value) {
		if g, ok := s.table.Group(n); ok {
			out = append(out, g.Expanded...)
		} else {
			out = append(out, n)
		}
	}
	return out
}

func (s *fakeSystem) inTrial() bool {
	_, ok := s.files.m[DropinPath(s.unit, false, "")]
	return ok
}

// filter is what the unit runs under: denied (a kill), and logged.
func (s *fakeSystem) filter() (deny, log map[string]bool, inverted bool) {
	deny, log = map[string]bool{}, map[string]bool{}
	for _, n := range s.expand(strings.TrimPrefix(s.base, "~")) {
		deny[n] = true
	}
	if trial, ok := s.files.m[DropinPath(s.unit, false, "")]; ok {
		for _, l := range strings.Split(string(trial), "\n") {
			if v, ok := strings.CutPrefix(l, "SystemCallLog="); ok {
				inverted = strings.HasPrefix(v, "~")
				for _, n := range s.expand(strings.TrimPrefix(v, "~")) {
					log[n] = true
				}
			}
		}
		return map[string]bool{}, log, inverted
	}
	var names []string
	for p := range s.files.m {
		if strings.HasPrefix(p, etcDir) {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	for _, p := range names {
		for _, l := range strings.Split(string(s.files.m[p]), "\n") {
			v, ok := strings.CutPrefix(l, "SystemCallFilter=")
			if !ok {
				continue
			}
			on := strings.HasPrefix(v, "~")
			for _, n := range s.expand(strings.TrimPrefix(v, "~")) {
				if on {
					deny[n] = true
				} else {
					delete(deny, n)
				}
			}
		}
	}
	return deny, log, false
}

func (s *fakeSystem) Start(ctx context.Context, unit string) (<-chan struct{}, error) {
	s.mu.Lock()
	if err := s.call("start " + unit); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.starts++
	n := s.starts
	hook := s.starting
	s.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pulls {
		s.states[p] = "active"
	}
	calls := s.runs[min(n, len(s.runs))-1]
	deny, log, inverted := s.filter()
	host := syscalls.HostArch()
	rec := func(name string, a audit.Action, u string) Record {
		nr, _ := syscalls.Number(host, name)
		r := audit.Record{Source: "netlink", Time: s.clock.Now(), PID: 100 + n, Comm: "d", Exe: exe, Arch: host, Syscall: nr, Name: name, Action: a}
		if a.IsKill() {
			r.Sig = 31
		}
		return Record{Rec: r, Unit: cgroup.Unit{Name: u}}
	}
	// Another unit's record, at the same time: never the trial's.
	s.feed <- rec("swapoff", audit.ActionKillProcess, "other.service")
	s.states[unit], s.result = "inactive", "success"
	if s.daemon {
		s.states[unit] = "active"
	}
	for _, c := range calls {
		if deny[c] {
			s.feed <- rec(c, audit.ActionKillProcess, unit)
			s.states[unit], s.result = "failed", "signal"
			break
		}
		if log[c] != inverted || !s.inTrial() && slices.Contains(s.ownLog, c) {
			s.feed <- rec(c, audit.ActionLog, unit)
		}
	}
	done := make(chan struct{})
	close(done)
	return done, nil
}

func (s *fakeSystem) env(says *[]string) Env {
	return Env{Host: Host{s, s.files}, Starter: s, Source: s, Clock: s.clock, Root: fstest.MapFS{},
		Load: func() (*Subject, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.calls = append(s.calls, "load")
			u := &diagnose.Unit{Name: s.unit, Files: []string{"/etc/systemd/system/d.service"}}
			u.Version, u.HaveVer = s.table.Requested, true
			for i, l := range strings.Split(s.base, "\n") {
				d, v, _ := strings.Cut(l, "=")
				if v == "" {
					d, v = "SystemCallFilter", l
				}
				u.Assigns = append(u.Assigns, fixes.Assignment{Directive: d, Value: v, File: "/etc/systemd/system/d.service", Line: 5 + i})
			}
			return &Subject{Unit: u, Table: s.table, TableNote: "test", Programs: []string{exe}, Home: "/root"}, nil
		},
		Say: func(l string) {
			if says != nil {
				*says = append(*says, l)
			}
		}}
}

func opts() RunOptions {
	return RunOptions{Unit: unitName, Verify: 10 * time.Second, Rounds: 3}
}

func findingNames(a *Answer) []string {
	var out []string
	for _, f := range a.Findings {
		out = append(out, f.Syscall)
	}
	return out
}

func hasNote(a *Answer, sub string) bool { return anyHas(a.Notes, sub) }

const trialDropin = "/run/systemd/system/d.service.d/" + DropinName

// A trial of an inactive unit: the source followed before the reload and the start; every call the
// filter would have blocked, each once, another unit's record left out; one fix for them all; then the
// drop-in removed and the unit stopped, as before.
func TestRunAnswer(t *testing.T) {
	s := newSystem(t, "~@swap @debug", []string{"read", "swapon", "ptrace", "swapon", "openat"})
	var says []string
	a, err := Run(context.Background(), s.env(&says), opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := findingNames(a); strings.Join(got, " ") != "swapon ptrace" || a.Records != 3 || len(a.Calls) != 2 || a.Calls[0].Count != 2 {
		t.Errorf("findings %v, records %d, calls %+v", got, a.Records, a.Calls)
	}
	if a.Fix == nil || strings.Join(a.Fix.Allow, " ") != "swapon ptrace" || a.Fix.DropinPath != fixFile || a.Fix.Written {
		t.Fatalf("fix %+v", a.Fix)
	}
	want := []string{"load", "follow", "reload", "start d.service", "reload", "stop d.service"}
	if !slices.Equal(s.calls, want) {
		t.Errorf("calls %v, want %v", s.calls, want)
	}
	// At the trial's reload its drop-in was there, with the state to come back to; at the restore's, gone.
	if st, ok := StateOf(s.reloads[0][trialDropin]); !ok || st != "inactive" {
		t.Errorf("the trial's drop-in at its reload: %q", s.reloads[0][trialDropin])
	}
	if _, ok := s.reloads[1][trialDropin]; ok || len(s.files.m) != 0 {
		t.Errorf("left: %v", s.files.m)
	}
	if a.Restored != "drop-in removed, manager reloaded, d.service stopped (it was inactive before the trial); as before the trial (d.service inactive)" {
		t.Errorf("restored: %s", a.Restored)
	}
	if a.Source != "the fake's records" || a.Seconds <= 0 || len(a.Unseen) != 0 || a.Tighten != nil || a.Failed {
		t.Errorf("answer %+v", a)
	}
	if !anyHas(says, "trial of d.service started (the fake's records; ") || !anyHas(says, "trial: the unit runs without its syscall filter") {
		t.Errorf("said %q", says)
	}

	// A running unit is restarted under its real filter; records lost are said.
	s = newSystem(t, "~@swap", []string{"read"})
	s.states[unitName] = "active"
	s.lost = Lost{Kernel: 3}
	a, err = Run(context.Background(), s.env(nil), opts())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.Restored, "d.service running again under its real filter; as before the trial (d.service active)") || s.calls[len(s.calls)-1] != "restart d.service" {
		t.Errorf("restored %q, calls %v", a.Restored, s.calls)
	}
	if a.Fix != nil || !hasNote(a, "the filter is right") || !hasNote(a, "records were lost during the trial (kernel backlog: 3") || a.Lost.Kernel != 3 {
		t.Errorf("fix %v, notes %q", a.Fix, a.Notes)
	}
}

// --write: a kill under the fix (a path the trial did not exercise) is added to it and tried again; the
// fix that held stays written.
func TestRunWriteRounds(t *testing.T) {
	s := newSystem(t, "~@swap @debug", []string{"read", "ptrace"}, []string{"getpid", "ptrace", "swapon"}, []string{"getpid", "ptrace", "swapon"})
	s.ownLog = []string{"getpid"} // logged, not a kill: never added to the fix
	var says []string
	o := opts()
	o.Write = true
	a, err := Run(context.Background(), s.env(&says), o)
	if err != nil {
		t.Fatal(err)
	}
	if a.Failed || a.Rounds != 2 || a.Fix == nil || !a.Fix.Written || strings.Join(a.Fix.Allow, " ") != "ptrace swapon" ||
		!strings.Contains(a.Verified, "without a kill (Result=success); after 2 rounds") {
		t.Fatalf("failed %v, rounds %d, verified %q, fix %+v", a.Failed, a.Rounds, a.Verified, a.Fix)
	}
	if got := string(s.files.m[fixFile]); got != a.Fix.Dropin || !strings.Contains(got, "SystemCallFilter=ptrace swapon\n") {
		t.Errorf("written:\n%s", got)
	}
	if !anyHas(says, "trial: killed under the fix (adding swapon), a path the trial did not exercise: trying again (round 2 of 3)") {
		t.Errorf("said %q", says)
	}
	// The trial's own restore comes first, then each round: reload, the start under the real filter.
	want := []string{"load", "follow", "reload", "start d.service", "reload", "stop d.service",
		"reload", "follow", "start d.service", "reload", "follow", "start d.service"}
	if !slices.Equal(s.calls, want) {
		t.Errorf("calls %v", s.calls)
	}
	if _, ok := s.reloads[2][trialDropin]; ok || s.reloads[2][fixFile] == "" {
		t.Errorf("the first round ran with the trial's drop-in, or without the fix: %v", s.reloads[2])
	}
}

// --write whose fix does not hold within --rounds: the previous drop-in goes back byte for byte, the
// unit to its state before the trial, and the answer says it failed (exit status 5).
func TestRunWriteRollBack(t *testing.T) {
	prev := "# written by sysdiag\n[Service]\nSystemCallFilter=chown   \n\n# an administrator's comment\n"
	for _, tc := range []struct {
		name   string
		rounds int
		runs   [][]string
		said   string
	}{
		{"one round", 1, [][]string{{"ptrace"}, {"ptrace", "swapon"}}, "killed again under the fix (Result=signal), after 1 round(s): rolled back"},
		{"every round a new call", 2, [][]string{{"ptrace"}, {"ptrace", "swapon"}, {"ptrace", "swapon", "swapoff"}},
			"killed again under the fix (Result=signal), after 2 round(s): rolled back"},
	} {
		s := newSystem(t, "~@swap @debug", tc.runs...)
		s.states[unitName] = "active"
		s.files.m[fixFile] = []byte(prev)
		o := opts()
		o.Write, o.Rounds = true, tc.rounds
		a, err := Run(context.Background(), s.env(nil), o)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Failed || a.Verified != tc.said || a.Rounds != tc.rounds || a.Fix.Written {
			t.Errorf("%s: failed %v, verified %q, rounds %d", tc.name, a.Failed, a.Verified, a.Rounds)
		}
		if got := string(s.files.m[fixFile]); got != prev {
			t.Errorf("%s: rolled back to %q", tc.name, got)
		}
		// Back to its state before the trial: running, restarted after the roll-back's reload.
		if last := s.calls[len(s.calls)-2:]; !slices.Equal(last, []string{"reload", "restart d.service"}) || s.states[unitName] != "active" {
			t.Errorf("%s: calls %v", tc.name, s.calls)
		}
		if strings.Contains(s.reloads[len(s.reloads)-1][fixFile], "swapon") {
			t.Errorf("%s: the last reload still saw the failed fix", tc.name)
		}
	}

	// Without a drop-in before, the roll-back removes it; an inactive unit is stopped.
	s := newSystem(t, "~@swap @debug", []string{"ptrace"}, []string{"ptrace", "swapon"})
	o := opts()
	o.Write, o.Rounds = true, 1
	a, err := Run(context.Background(), s.env(nil), o)
	if err != nil || !a.Failed || len(s.files.m) != 0 || s.calls[len(s.calls)-1] != "stop d.service" {
		t.Errorf("failed %v, files %v, calls %v, %v", a.Failed, s.files.m, s.calls, err)
	}
}

// --write-tighten: the groups the unit never used are denied; a kill by one of them under the
// tightening gives that group back and tries again; one that never holds is rolled back.
func TestRunWriteTighten(t *testing.T) {
	s := newSystem(t, "~@swap", []string{"read", "mount"}, []string{"read", "mount", "ptrace"}, []string{"read", "mount", "ptrace"})
	o := opts()
	o.WriteTighten = true
	a, err := Run(context.Background(), s.env(nil), o)
	if err != nil {
		t.Fatal(err)
	}
	tg := a.Tighten
	if tg == nil || !tg.Written || tg.Rounds != 2 || a.Failed || slices.Contains(tg.Untouched, "@debug") || slices.Contains(tg.Untouched, "@mount") ||
		!slices.Contains(tg.Untouched, "@reboot") {
		t.Fatalf("tighten %+v, failed %v", tg, a.Failed)
	}
	if tg.DropinPath != tightFile || string(s.files.m[tightFile]) != tg.Dropin || strings.Contains(tg.Dropin, "@debug") || !strings.Contains(tg.Dropin, "@reboot") {
		t.Errorf("written at %s:\n%s\nanswer:\n%s", tg.DropinPath, s.files.m[tightFile], tg.Dropin)
	}
	if !strings.Contains(tg.Write, "with the tightening for 10s without a kill (Result=success); after 2 rounds") {
		t.Errorf("said %q", tg.Write)
	}
	// The first round denied @debug: ptrace killed the unit under it.
	if first := s.reloads[2][tightFile]; !strings.Contains(first, "@debug") {
		t.Errorf("the first round's tightening:\n%s", first)
	}

	// Every group the unit touches under the tightening is one it did not during the trial, each round:
	// rolled back after --rounds, nothing left.
	s = newSystem(t, "~@swap", []string{"read"}, []string{"read", "ptrace"}, []string{"read", "ptrace", "reboot"})
	o.Rounds = 2
	a, err = Run(context.Background(), s.env(nil), o)
	if err != nil || a.Tighten == nil || a.Tighten.Written || !a.Failed || !strings.HasSuffix(a.Tighten.Write, "after 2 round(s): rolled back") || len(s.files.m) != 0 {
		t.Errorf("%v: tighten %+v, failed %v, files %v", err, a.Tighten, a.Failed, s.files.m)
	}
	// A fix that failed is not followed by a tightening.
	s = newSystem(t, "~@swap @debug", []string{"ptrace"}, []string{"ptrace", "swapon"})
	o.Write, o.Rounds = true, 1
	a, err = Run(context.Background(), s.env(nil), o)
	if err != nil || !a.Failed || a.Tighten == nil || a.Tighten.Write != "" || len(s.files.m) != 0 {
		t.Errorf("%v: tighten %+v, files %v", err, a.Tighten, s.files.m)
	}
}

// The manager's log flag: set (its drop-in written) before the trial's reload when an implicit filter's
// denials are to be seen, turned off again at the restore's reload, its drop-in then removed; left alone
// when the manager has it on already, and never for a user unit.
func TestRunLogFlag(t *testing.T) {
	conf := ManagerConfPath(unitName)
	s := newSystem(t, "~@swap\nProtectClock=yes", []string{"clock_settime"})
	a, err := Run(context.Background(), s.env(nil), opts())
	if err != nil {
		t.Fatal(err)
	}
	if s.reloads[0][conf] != ManagerConf(true) || s.reloads[1][conf] != ManagerConf(false) || len(s.files.m) != 0 {
		t.Errorf("at the reloads: %q, %q; left %v", s.reloads[0][conf], s.reloads[1][conf], s.files.m)
	}
	if !strings.HasSuffix(a.Restored, "the manager's log flag is off again") || len(a.Visible) != 1 || a.Visible[0].Directive != "ProtectClock" ||
		!hasNote(a, "ProtectClock= stayed enforced, its denials logged: it denied nothing during the trial") {
		t.Errorf("restored %q, visible %v, notes %q", a.Restored, a.Visible, a.Notes)
	}

	// On already (the kernel command line): not touched.
	s = newSystem(t, "~@swap\nProtectClock=yes", []string{"read"})
	env := s.env(nil)
	env.Root = fstest.MapFS{"proc/1/environ": {Data: []byte("SYSTEMD_LOG_SECCOMP=1")}}
	a, err = Run(context.Background(), env, opts())
	if _, ok := s.reloads[0][conf]; ok || err != nil || strings.Contains(a.Restored, "log flag") || len(a.Visible) != 1 {
		t.Errorf("%v: set though on: %q, visible %v", err, a.Restored, a.Visible)
	}
	// A user unit: the user manager's is left alone, the implicit filters unseen.
	s = newSystem(t, "~@swap\nProtectClock=yes", []string{"read"})
	o := opts()
	o.User, o.RuntimeDir = true, "/run/user/1000"
	a, err = Run(context.Background(), s.env(nil), o)
	if _, ok := s.reloads[0][conf]; ok || err != nil || len(a.Unseen) != 1 || len(a.Visible) != 0 {
		t.Errorf("%v: user: %v, unseen %v", err, s.reloads[0], a.Unseen)
	}
	if _, ok := s.reloads[0][o.Dropin()]; !ok || !strings.HasPrefix(o.Dropin(), "/run/user/1000/systemd/user/d.service.d/") {
		t.Errorf("the user trial's drop-in: %s, %v", o.Dropin(), s.reloads[0])
	}
}

// The restore after a failure: the start refused after the drop-in and the flag were written — both are
// undone, the unit put back; the error says what failed.
func TestRunRestoreAfterFailure(t *testing.T) {
	s := newSystem(t, "~@swap\nProtectClock=yes", []string{"read"})
	s.states[unitName] = "active"
	s.refuse["start d.service"] = errors.New("access denied")
	_, err := Run(context.Background(), s.env(nil), opts())
	if err == nil || err.Error() != "starting d.service for the trial: access denied" {
		t.Errorf("error %v", err)
	}
	if want := []string{"load", "follow", "reload", "start d.service", "reload", "restart d.service"}; !slices.Equal(s.calls, want) || len(s.files.m) != 0 {
		t.Errorf("calls %v, files %v", s.calls, s.files.m)
	}
	// The source cannot be followed: its error as it is.
	s = newSystem(t, "~@swap", []string{"read"})
	srcErr := errors.New("no source to follow")
	s.refuse["follow"] = srcErr
	if _, err := Run(context.Background(), s.env(nil), opts()); err != srcErr || len(s.files.m) != 0 || s.calls[len(s.calls)-1] != "stop d.service" {
		t.Errorf("error %v, calls %v, files %v", err, s.calls, s.files.m)
	}
	// Nothing to try: nothing written, the manager not asked.
	s = newSystem(t, "", []string{"read"})
	var nothing *NothingError
	if _, err := Run(context.Background(), s.env(nil), opts()); !errors.As(err, &nothing) || len(s.files.m) != 0 || !slices.Equal(s.calls, []string{"load"}) {
		t.Errorf("error %v, calls %v", err, s.calls)
	}
	// The drop-in cannot be created (not root): nothing else is done.
	s = newSystem(t, "~@swap", []string{"read"})
	s.files.err = map[string]error{trialDropin: errors.New("permission denied")}
	var lock *LockError
	if _, err := Run(context.Background(), s.env(nil), opts()); !errors.As(err, &lock) || !slices.Equal(s.calls, []string{"load"}) {
		t.Errorf("error %v, calls %v", err, s.calls)
	}
}

// Ctrl-C during the trial of a daemon (it does not exit): the answer covers what ran until then, the
// unit and what its start pulled in and the socket that starts it are put back.
func TestRunInterrupted(t *testing.T) {
	s := newSystem(t, "~@swap", []string{"swapon"})
	s.daemon = true
	s.deps = map[string][]string{"TriggeredBy": {"d.socket"}, "Wants": {"db.service"}}
	s.states["d.socket"], s.states["db.service"] = "inactive", "inactive"
	s.pulls = []string{"db.service", "d.socket"}
	ctx, cancel := context.WithCancel(context.Background())
	env := s.env(nil)
	env.Say = func(l string) {
		if strings.HasPrefix(l, "trial of ") {
			go func() {
				time.Sleep(20 * time.Millisecond) // 20 s of the trial's time
				cancel()
			}()
		}
	}
	a, err := Run(ctx, env, opts())
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(a, "the trial was interrupted") || strings.Join(findingNames(a), " ") != "swapon" || a.Seconds < 10 {
		t.Errorf("notes %q, findings %v, %.1f s", a.Notes, findingNames(a), a.Seconds)
	}
	want := "drop-in removed, manager reloaded, d.socket stopped (it was inactive before the trial and would start the unit again), " +
		"d.service stopped (it was inactive before the trial), db.service stopped (the trial's start pulled it in; it was inactive before); " +
		"as before the trial (d.service inactive, d.socket inactive, db.service inactive)"
	if a.Restored != want {
		t.Errorf("restored:\n%s", a.Restored)
	}

	// --for ends a daemon's trial; not an interruption.
	s = newSystem(t, "~@swap", []string{"swapon"})
	s.daemon = true
	o := opts()
	o.For = 5 * time.Second
	a, err = Run(context.Background(), s.env(nil), o)
	if err != nil || hasNote(a, "interrupted") || len(a.Findings) != 1 || a.Seconds < 5 {
		t.Errorf("%v: notes %q, %.1f s", err, a.Notes, a.Seconds)
	}
}

// The lock: a trial's drop-in there refuses a second trial, which neither loads the unit nor touches
// the first one's drop-in; --abort after a crash puts back what the first left.
func TestRunLockAndAbort(t *testing.T) {
	s := newSystem(t, "~@swap\nProtectClock=yes", []string{"swapon"})
	s.daemon = true
	s.states["d.socket"] = "inactive"
	s.deps = map[string][]string{"TriggeredBy": {"d.socket"}}
	s.pulls = []string{"d.socket"}
	var second error
	var crashed map[string][]byte
	s.starting = func(int) {
		// While the first trial runs: a second one is refused.
		_, second = Run(context.Background(), s.env(nil), opts())
		crashed = map[string][]byte{}
		for p, b := range s.files.m {
			crashed[p] = slices.Clone(b)
		}
	}
	o := opts()
	o.For = time.Second
	if _, err := Run(context.Background(), s.env(nil), o); err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	if !errors.As(second, &busy) || second.Error() != "a trial of d.service is running, or one was left by a crash ("+trialDropin+")" {
		t.Errorf("second trial: %v", second)
	}
	if n := len(slices.DeleteFunc(slices.Clone(s.calls), func(c string) bool { return c != "load" })); n != 1 {
		t.Errorf("the unit was loaded %d times", n)
	}

	// The first trial crashed mid-run: its drop-in and the manager's are left, the unit runs under the
	// trial, its socket listens. --abort brings back the state the drop-in recorded.
	if len(crashed) != 2 {
		t.Fatalf("mid-trial files: %v", crashed)
	}
	s = newSystem(t, "~@swap\nProtectClock=yes")
	s.files.m = crashed
	s.states = map[string]string{unitName: "active", "d.socket": "active"}
	said, err := s.env(nil).Abort(context.Background(), opts())
	if err != nil || said != "drop-in removed, manager reloaded, d.socket stopped (it was inactive before the trial and would start the unit again), "+
		"d.service stopped (it was inactive before the trial); as before the trial (d.service inactive, d.socket inactive); the manager's log flag is off again" {
		t.Errorf("abort: %q, %v", said, err)
	}
	if len(s.files.m) != 0 || s.states[unitName] != "inactive" || s.states["d.socket"] != "inactive" {
		t.Errorf("left %v, states %v", s.files.m, s.states)
	}
	// Nothing left: nothing to abort.
	var none *NoTrialError
	if _, err := s.env(nil).Abort(context.Background(), opts()); !errors.As(err, &none) {
		t.Errorf("abort again: %v", err)
	}
	// A trial's drop-in that appears between the check and the lock: refused all the same.
	s = newSystem(t, "~@swap", []string{"read"})
	env := s.env(nil)
	load := env.Load
	env.Load = func() (*Subject, error) {
		s.files.m[trialDropin] = []byte(Marker + "\n")
		return load()
	}
	if _, err := Run(context.Background(), env, opts()); !errors.As(err, &busy) || string(s.files.m[trialDropin]) != Marker+"\n" || slices.Contains(s.calls, "reload") {
		t.Errorf("raced: %v, calls %v", err, s.calls)
	}
}

// instantClock ticks at once, and each look at it is 400 ms later.
type instantClock struct{ now *time.Time }

func (c instantClock) Now() time.Time {
	*c.now = c.now.Add(400 * time.Millisecond)
	return *c.now
}
func (c instantClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time)
	close(ch)
	return ch
}

// The unit has stopped and the wait after it is over while a flood of its records is still queued: those
// already delivered are all taken.
func TestFollowTakesWhatIsQueued(t *testing.T) {
	s := newSystem(t, "~@swap")
	now := time.Unix(1796306400, 0)
	sess := &session{env: s.env(nil), o: opts(), clock: instantClock{&now}}
	recs := make(chan Record, 1000)
	for i := 0; i < cap(recs); i++ {
		recs <- Record{Rec: audit.Record{Time: now.Add(time.Hour), Name: "swapon", Syscall: 167, Arch: syscalls.ArchX86_64, Action: audit.ActionLog}}
	}
	fold := NewFolder()
	if sess.follow(context.Background(), recs, now, nil, nil, func(Record) bool { return true }, fold, nil) || fold.Records != cap(recs) {
		t.Errorf("folded %d of %d", fold.Records, cap(recs))
	}
}

// A step that takes long (the reload: 20 s) is said, once.
func TestRunSaysWhatItWaitsFor(t *testing.T) {
	s := newSystem(t, "~@swap", []string{"read"})
	s.slow = 20 * time.Millisecond // 20 s of the trial's time
	var says []string
	if _, err := Run(context.Background(), s.env(&says), opts()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range says {
		if l == "trial: still waiting for the manager's daemon-reload" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("said %q", says)
	}
}

func TestStopped(t *testing.T) {
	for st, want := range map[string]bool{"active": false, "activating": false, "reloading": false, "deactivating": false, "inactive": true, "failed": true, "": true} {
		if Stopped(st) != want {
			t.Errorf("Stopped(%q) = %v", st, !want)
		}
	}
}

// The unit's filter is built with the names its manager resolves (Subject.Known): a call it cannot
// resolve is not in the filter systemd made, so the trial neither logs it nor puts it in the fix.
func TestRunKnownNames(t *testing.T) {
	s := newSystem(t, "~@swap @debug", []string{"read", "swapon", "ptrace"})
	env := s.env(nil)
	load := env.Load
	env.Load = func() (*Subject, error) {
		sub, err := load()
		if sub != nil {
			sub.Known = func(name string) bool { return !strings.HasPrefix(name, "swap") }
		}
		return sub, err
	}
	a, err := Run(context.Background(), env, opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := findingNames(a); strings.Join(got, " ") != "ptrace" || a.Fix == nil || strings.Join(a.Fix.Allow, " ") != "ptrace" {
		t.Errorf("findings %v, fix %+v", got, a.Fix)
	}
	if a, err = Run(context.Background(), newSystem(t, "~@swap @debug", []string{"read", "swapon", "ptrace"}).env(nil), opts()); err != nil {
		t.Fatal(err)
	}
	if got := findingNames(a); strings.Join(got, " ") != "swapon ptrace" {
		t.Errorf("every name known: findings %v", got)
	}
}
