package trial

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/syscalls"
)

// fakeManager is a unit manager in memory: it records every call, and its units die where the test
// says — a stop that leaves a unit failed, a watched start that the kernel kills.
type fakeManager struct {
	files  *fakeFiles
	units  map[string]string // ActiveState
	calls  []string
	err    map[string]error  // a call ("reload", "stop d.service") the manager refuses
	failOn map[string]bool   // a stop after which the unit is failed
	seen   map[string]string // at each reload: what a file held then ("" absent)
	watch  string            // the file whose content the reloads record
	// kills are the calls that kill the unit's nth watched start (kills[n-1]; none past the end, or nil).
	kills  [][]evidence.Violation
	starts int
	result string
}

func (m *fakeManager) call(c string) error {
	m.calls = append(m.calls, c)
	return m.err[c]
}

func (m *fakeManager) Reload(ctx context.Context) error {
	if m.watch != "" && m.files != nil {
		if m.seen == nil {
			m.seen = map[string]string{}
		}
		m.seen["reload "+strconv.Itoa(len(m.calls))] = string(m.files.m[m.watch])
	}
	return m.call("reload")
}

func (m *fakeManager) Job(ctx context.Context, op, unit string) error {
	if err := m.call(op + " " + unit); err != nil {
		return err
	}
	switch op {
	case "restart":
		m.units[unit] = "active"
	case "stop":
		m.units[unit] = "inactive"
		if m.failOn[unit] {
			m.units[unit] = "failed"
		}
	case "reset-failed":
		if m.units[unit] == "failed" {
			m.units[unit] = "inactive"
		}
	}
	return nil
}

func (m *fakeManager) ActiveState(ctx context.Context, unit string) string { return m.units[unit] }

func (m *fakeManager) Result(ctx context.Context, unit string) string {
	m.calls = append(m.calls, "result "+unit)
	return m.result
}

// start is a Verifier's Watch: the unit started under its real filter; the nth start is killed by the
// nth set of calls in kills.
func (m *fakeManager) start(unit string) func(context.Context) ([]evidence.Violation, error) {
	return func(context.Context) ([]evidence.Violation, error) {
		if err := m.call("start " + unit); err != nil {
			return nil, err
		}
		m.starts++
		m.result, m.units[unit] = "success", "active"
		if m.starts <= len(m.kills) && m.kills[m.starts-1] != nil {
			m.result, m.units[unit] = "signal", "failed"
			return m.kills[m.starts-1], nil
		}
		return nil, nil
	}
}

// fakeFiles is a file system in memory.
type fakeFiles struct {
	m       map[string][]byte
	removed []string
	err     map[string]error // a write or remove of a path that fails
}

func newFiles(files map[string]string) *fakeFiles {
	f := &fakeFiles{m: map[string][]byte{}}
	for p, c := range files {
		f.m[p] = []byte(c)
	}
	return f
}

func (f *fakeFiles) ReadFile(path string) ([]byte, error) {
	b, ok := f.m[path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return slices.Clone(b), nil
}

func (f *fakeFiles) ReadDir(dir string) ([]string, error) {
	var names []string
	for p := range f.m {
		if filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

func (f *fakeFiles) WriteDropIn(path, content string) error {
	return f.WriteFile(path, []byte(content))
}

func (f *fakeFiles) WriteFile(path string, data []byte) error {
	if err := f.err[path]; err != nil {
		return err
	}
	f.m[path] = slices.Clone(data)
	return nil
}

func (f *fakeFiles) Remove(path string) error {
	if err := f.err[path]; err != nil {
		return err
	}
	if _, ok := f.m[path]; ok {
		delete(f.m, path)
		f.removed = append(f.removed, path)
		return nil
	}
	for p := range f.m {
		if strings.HasPrefix(p, path+"/") {
			return errors.New("directory not empty")
		}
	}
	return fs.ErrNotExist
}

const dropin = "/run/systemd/system/d.service.d/" + DropinName

// The socket-activated daemon of TestRestoreSocketActivated, through the manager: the socket is stopped
// first, then the unit (which its socket's stop left failed, so it is reset), then what its start
// pulled in; the whole state after is compared with before.
func TestHostRestoreSocketActivated(t *testing.T) {
	before := Snapshot{{"d.service", RoleUnit, "inactive"}, {"d.socket", RoleTrigger, "inactive"}, {"db.service", RolePulled, "inactive"}, {"up.service", RolePulled, "active"}}
	files := newFiles(map[string]string{dropin: Marker + "\n", "/run/systemd/system/d.service.d/other.conf": "x"})
	m := &fakeManager{units: map[string]string{"d.service": "active", "d.socket": "active", "db.service": "active", "up.service": "active"},
		failOn: map[string]bool{"d.service": true}}
	got := Host{m, files}.Restore(context.Background(), "d.service", dropin, before, false)
	want := "drop-in removed, manager reloaded, d.socket stopped (it was inactive before the trial and would start the unit again), " +
		"d.service stopped (it was inactive before the trial), db.service stopped (the trial's start pulled it in; it was inactive before), " +
		"d.service reset from failed (it was inactive before the trial); " +
		"as before the trial (d.service inactive, d.socket inactive, db.service inactive, up.service active)"
	if got != want {
		t.Errorf("restored:\n%s\nwant\n%s", got, want)
	}
	if wantCalls := []string{"reload", "stop d.socket", "stop d.service", "stop db.service", "reset-failed d.service"}; !reflect.DeepEqual(m.calls, wantCalls) {
		t.Errorf("calls %v, want %v", m.calls, wantCalls)
	}
	// The drop-in is gone; its directory, holding another drop-in, stays.
	if _, ok := files.m[dropin]; ok || !reflect.DeepEqual(files.removed, []string{dropin}) {
		t.Errorf("files %v, removed %v", files.m, files.removed)
	}

	// A unit that does not come back is named, never "as before".
	m = &fakeManager{units: map[string]string{"d.service": "active"}}
	got = Host{m, newFiles(nil)}.RestoreUnit(context.Background(), dropin, Snapshot{{"d.service", RoleUnit, "failed"}})
	if !strings.HasSuffix(got, "; NOT as before the trial: d.service was failed before the trial and is inactive now (a failed state cannot be put back)") {
		t.Errorf("restored: %s", got)
	}
	// A running unit is restarted: under its real filter again.
	m = &fakeManager{units: map[string]string{"d.service": "failed"}}
	got = Host{m, newFiles(nil)}.RestoreUnit(context.Background(), dropin, Snapshot{{"d.service", RoleUnit, "active"}})
	if got != "drop-in removed, manager reloaded, d.service running again under its real filter; as before the trial (d.service active)" {
		t.Errorf("restored: %s", got)
	}
}

// The restore runs after Ctrl-C, and says what the manager refused.
func TestHostRestoreManagerErrors(t *testing.T) {
	before := Snapshot{{"d.service", RoleUnit, "inactive"}, {"d.socket", RoleTrigger, "inactive"}}
	for _, tc := range []struct {
		refuse, want string
		calls        []string
	}{
		{"reload", "the trial's drop-in is removed, but the manager said: access denied", []string{"reload"}},
		{"stop d.socket", "the trial's drop-in is removed, but the manager said: stop d.socket: access denied", []string{"reload", "stop d.socket"}},
		{"stop d.service", "the trial's drop-in is removed, but the manager said: stop d.service: access denied", []string{"reload", "stop d.socket", "stop d.service"}},
	} {
		files := newFiles(map[string]string{dropin: Marker + "\n"})
		m := &fakeManager{units: map[string]string{"d.service": "active", "d.socket": "active"}, err: map[string]error{tc.refuse: errors.New("access denied")}}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if got := (Host{m, files}).Restore(ctx, "d.service", dropin, before, false); got != tc.want {
			t.Errorf("%s refused: %s", tc.refuse, got)
		}
		if !reflect.DeepEqual(m.calls, tc.calls) {
			t.Errorf("%s refused: calls %v", tc.refuse, m.calls)
		}
		if _, ok := files.m[dropin]; ok {
			t.Errorf("%s refused: the drop-in is still there", tc.refuse)
		}
	}
	// A drop-in that cannot be removed: the manager is not asked.
	m := &fakeManager{units: map[string]string{}}
	files := newFiles(map[string]string{dropin: Marker + "\n"})
	files.err = map[string]error{dropin: errors.New("read-only file system")}
	if got := (Host{m, files}).RestoreUnit(context.Background(), dropin, before); got != "could not remove "+dropin+": read-only file system" || len(m.calls) != 0 {
		t.Errorf("restored %q, calls %v", got, m.calls)
	}
}

// The manager's log flag: written off (=0) before the reload that restores the unit, its drop-in removed
// after — unless another unit's trial still needs it.
func TestHostRestoreLogFlag(t *testing.T) {
	conf := ManagerConfPath("d.service")
	before := Snapshot{{"d.service", RoleUnit, "active"}}
	files := newFiles(map[string]string{dropin: Marker + "\n", conf: ManagerConf(true)})
	m := &fakeManager{files: files, watch: conf, units: map[string]string{"d.service": "active"}}
	got := Host{m, files}.Restore(context.Background(), "d.service", dropin, before, true)
	if !strings.HasSuffix(got, "; as before the trial (d.service active); the manager's log flag is off again") {
		t.Errorf("restored: %s", got)
	}
	if m.seen["reload 0"] != ManagerConf(false) || !strings.Contains(m.seen["reload 0"], "SYSTEMD_LOG_SECCOMP=0") {
		t.Errorf("at the reload the manager's drop-in held %q", m.seen["reload 0"])
	}
	if _, ok := files.m[conf]; ok {
		t.Error("the manager's drop-in is still there")
	}

	// Another unit's trial still needs the flag: the drop-in is removed before the reload, nothing written.
	other := ManagerConfPath("e.service")
	files = newFiles(map[string]string{dropin: Marker + "\n", conf: ManagerConf(true), other: ManagerConf(true), ManagerConfDir + "/10-admin.conf": "[Manager]\n"})
	m = &fakeManager{files: files, watch: conf, units: map[string]string{"d.service": "active"}}
	got = Host{m, files}.Restore(context.Background(), "d.service", dropin, before, true)
	if !strings.HasSuffix(got, "; as before the trial (d.service active); the manager's log flag stays on for another unit's trial") {
		t.Errorf("restored: %s", got)
	}
	if _, ok := m.seen["reload 0"]; !ok || m.seen["reload 0"] != "" || string(files.m[other]) != ManagerConf(true) {
		t.Errorf("at the reload: %q; the other trial's: %q", m.seen["reload 0"], files.m[other])
	}

	// An administrator's drop-in is not another trial's: the flag goes off.
	files = newFiles(map[string]string{conf: ManagerConf(true), ManagerConfDir + "/10-admin.conf": "[Manager]\n"})
	m = &fakeManager{units: map[string]string{"d.service": "active"}}
	if got := (Host{m, files}).Restore(context.Background(), "d.service", dropin, before, true); !strings.HasSuffix(got, "the manager's log flag is off again") {
		t.Errorf("restored: %s", got)
	}

	// The flag cannot be written off: said, and the unit is restored all the same.
	files = newFiles(map[string]string{conf: ManagerConf(true)})
	files.err = map[string]error{conf: errors.New("no space left on device")}
	m = &fakeManager{units: map[string]string{"d.service": "inactive"}}
	got = Host{m, files}.Restore(context.Background(), "d.service", dropin, before, true)
	if !strings.HasSuffix(got, "; could not turn the manager's log flag off (no space left on device)") || !slices.Contains(m.calls, "restart d.service") {
		t.Errorf("restored %q, calls %v", got, m.calls)
	}

	// Without the flag, the manager's drop-ins are not touched.
	files = newFiles(map[string]string{other: ManagerConf(true)})
	m = &fakeManager{units: map[string]string{"d.service": "active"}}
	if got := (Host{m, files}).Restore(context.Background(), "d.service", dropin, before, false); strings.Contains(got, "log flag") || len(files.m) != 1 {
		t.Errorf("restored %q, files %v", got, files.m)
	}
}

func TestLogFlagOn(t *testing.T) {
	on := "[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=1\n"
	off := "[Manager]\nManagerEnvironment=FOO=bar SYSTEMD_LOG_SECCOMP=0\n"
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		want bool
	}{
		{"nothing", fstest.MapFS{}, false},
		{"kernel command line", fstest.MapFS{"proc/1/environ": {Data: []byte("HOME=/\x00SYSTEMD_LOG_SECCOMP=1\x00TERM=linux")}}, true},
		{"system.conf turns it off", fstest.MapFS{"proc/1/environ": {Data: []byte("SYSTEMD_LOG_SECCOMP=1")}, "etc/systemd/system.conf": {Data: []byte(off)}}, false},
		{"the first system.conf only", fstest.MapFS{"run/systemd/system.conf": {Data: []byte(on)}, "usr/lib/systemd/system.conf": {Data: []byte(off)}}, true},
		{"drop-ins by name", fstest.MapFS{"usr/lib/systemd/system.conf.d/10-on.conf": {Data: []byte(on)}, "etc/systemd/system.conf.d/20-off.conf": {Data: []byte(off)}}, false},
		{"drop-ins by name, on last", fstest.MapFS{"etc/systemd/system.conf.d/10-off.conf": {Data: []byte(off)}, "usr/lib/systemd/system.conf.d/20-on.conf": {Data: []byte(on)}}, true},
		{"/etc hides /usr/lib's of the same name", fstest.MapFS{"etc/systemd/system.conf.d/50-x.conf": {Data: []byte(off)}, "usr/lib/systemd/system.conf.d/50-x.conf": {Data: []byte(on)}}, false},
		{"a trial's own is left out", fstest.MapFS{"run/systemd/system.conf.d/zz-sysdiag-trial-e.service.conf": {Data: []byte(ManagerConf(true))}}, false},
		{"not a .conf", fstest.MapFS{"etc/systemd/system.conf.d/on.conf.bak": {Data: []byte(on)}}, false},
	} {
		if got := LogFlagOn(tc.fs); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func kill(name string) evidence.Violation {
	return evidence.Violation{Name: name, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess}
}

// fixNext is the fix's Next: each new kill is added to the drop-in's allow list.
func fixNext(allow *[]string) func([]evidence.Violation) (string, string, bool) {
	return func(kills []evidence.Violation) (string, string, bool) {
		var added []string
		for _, k := range kills {
			if !slices.Contains(*allow, k.Name) {
				*allow = append(*allow, k.Name)
				added = append(added, k.Name)
			}
		}
		if len(added) == 0 {
			return "", "", false
		}
		return fixDropin(*allow), "adding " + strings.Join(added, " "), true
	}
}

func fixDropin(allow []string) string {
	return "# written by sysdiag\n[Service]\nSystemCallFilter=" + strings.Join(allow, " ") + "\n"
}

const fixPath = "/etc/systemd/system/d.service.d/zz-sysdiag.conf"

func TestVerifierSecondRound(t *testing.T) {
	m := &fakeManager{units: map[string]string{"d.service": "inactive"}, kills: [][]evidence.Violation{{kill("swapon")}}}
	files := newFiles(nil)
	var progress []string
	v := &Verifier{Host: Host{m, files}, Unit: "d.service", State: "active", Verify: 5 * time.Second, Rounds: 3, Watch: m.start("d.service"),
		Progress: func(s string) { progress = append(progress, s) }}
	allow := []string{"ptrace"}
	said, rounds, written, failed := v.Try(context.Background(), Attempt{What: "the fix", Path: fixPath, Content: fixDropin(allow), Next: fixNext(&allow)})
	if want := "written; d.service ran under its real filter with the fix for 5s without a kill (Result=success); after 2 rounds (each kill under the fix was added to it)"; said != want {
		t.Errorf("said %q", said)
	}
	if rounds != 2 || !written || failed {
		t.Errorf("rounds %d written %v failed %v", rounds, written, failed)
	}
	if got := string(files.m[fixPath]); got != fixDropin([]string{"ptrace", "swapon"}) {
		t.Errorf("drop-in:\n%s", got)
	}
	if want := []string{"killed under the fix (adding swapon), a path the trial did not exercise: trying again (round 2 of 3)"}; !reflect.DeepEqual(progress, want) {
		t.Errorf("progress %q", progress)
	}
	// Each round reloads, then starts; no roll-back.
	if want := []string{"reload", "start d.service", "result d.service", "reload", "start d.service", "result d.service"}; !reflect.DeepEqual(m.calls, want) {
		t.Errorf("calls %v", m.calls)
	}

	// The first round holds: nothing about rounds is said.
	m = &fakeManager{units: map[string]string{}}
	v = &Verifier{Host: Host{m, newFiles(nil)}, Unit: "d.service", State: "active", Verify: time.Second, Rounds: 3, Watch: m.start("d.service")}
	if said, rounds, _, _ := v.Try(context.Background(), Attempt{What: "the tightening", Path: fixPath, Content: "x"}); rounds != 1 ||
		said != "written; d.service ran under its real filter with the tightening for 1s without a kill (Result=success)" {
		t.Errorf("said %q after %d", said, rounds)
	}
}

func TestVerifierRollBack(t *testing.T) {
	prev := "# written by sysdiag\n[Service]\nSystemCallFilter=chown\n"
	for _, tc := range []struct {
		name     string
		old      map[string]string
		state    string
		rounds   int
		kills    [][]evidence.Violation
		said     string
		undo     string // the job that puts the unit back
		roundsTo int
	}{
		{"rounds 1, previous drop-in", map[string]string{fixPath: prev}, "active", 1, [][]evidence.Violation{{kill("swapon")}},
			"killed again under the fix (Result=signal), after 1 round(s): rolled back", "restart d.service", 1},
		{"rounds 1, no drop-in before", nil, "inactive", 1, [][]evidence.Violation{{kill("swapon")}},
			"killed again under the fix (Result=signal), after 1 round(s): rolled back", "stop d.service", 1},
		{"killed by what the fix lets through", nil, "inactive", 3, [][]evidence.Violation{{kill("ptrace")}},
			"killed again under the fix (Result=signal), killed by a call it already lets through (another filter, or another ABI): rolled back", "stop d.service", 1},
		{"no record of the kill", map[string]string{fixPath: prev}, "activating", 3, [][]evidence.Violation{{}},
			"killed again under the fix (Result=signal), no record of the call says what it was: rolled back", "restart d.service", 1},
		{"every round killed", nil, "failed", 2, [][]evidence.Violation{{kill("swapon")}, {kill("mount")}},
			"killed again under the fix (Result=signal), after 2 round(s): rolled back", "stop d.service", 2},
	} {
		m := &fakeManager{units: map[string]string{"d.service": tc.state}, kills: tc.kills}
		files := newFiles(tc.old)
		v := &Verifier{Host: Host{m, files}, Unit: "d.service", State: tc.state, Verify: time.Second, Rounds: tc.rounds, Watch: m.start("d.service")}
		allow := []string{"ptrace"}
		said, rounds, written, failed := v.Try(context.Background(), Attempt{What: "the fix", Path: fixPath, Content: fixDropin(allow), Next: fixNext(&allow)})
		if said != tc.said || rounds != tc.roundsTo || written || !failed {
			t.Errorf("%s: said %q, rounds %d, written %v, failed %v", tc.name, said, rounds, written, failed)
		}
		got, ok := files.m[fixPath]
		if tc.old == nil && ok || tc.old != nil && string(got) != prev {
			t.Errorf("%s: rolled back to %q (there: %v)", tc.name, got, ok)
		}
		if last := m.calls[len(m.calls)-2:]; !reflect.DeepEqual(last, []string{"reload", tc.undo}) {
			t.Errorf("%s: calls %v, want the reload and %s last", tc.name, m.calls, tc.undo)
		}
	}

	// The watch fails (no record source, or the restart refused): rolled back at once.
	m := &fakeManager{units: map[string]string{"d.service": "active"}, err: map[string]error{"start d.service": errors.New("the restart failed: access denied")}}
	files := newFiles(map[string]string{fixPath: prev})
	v := &Verifier{Host: Host{m, files}, Unit: "d.service", State: "active", Rounds: 3, Watch: m.start("d.service")}
	said, _, written, failed := v.Try(context.Background(), Attempt{What: "the fix", Path: fixPath, Content: "new"})
	if said != "written, but the restart failed: access denied: rolled back" || written || !failed || string(files.m[fixPath]) != prev {
		t.Errorf("said %q written %v failed %v, drop-in %q", said, written, failed, files.m[fixPath])
	}
	// The reload before the run fails.
	m = &fakeManager{units: map[string]string{}, err: map[string]error{"reload": errors.New("timed out")}}
	v = &Verifier{Host: Host{m, newFiles(nil)}, Unit: "d.service", Rounds: 3, Watch: m.start("d.service")}
	if said, _, _, _ := v.Try(context.Background(), Attempt{What: "the fix", Path: fixPath, Content: "new"}); said != "written, but the reload failed: timed out: rolled back" {
		t.Errorf("said %q", said)
	}
	// The drop-in cannot be written: nothing to roll back, the unit not touched.
	m = &fakeManager{units: map[string]string{}}
	files = newFiles(nil)
	files.err = map[string]error{fixPath: errors.New("permission denied")}
	v = &Verifier{Host: Host{m, files}, Unit: "d.service", Rounds: 3, Watch: m.start("d.service")}
	if said, _, _, failed := v.Try(context.Background(), Attempt{What: "the fix", Path: fixPath, Content: "new"}); said != "not written: permission denied" || !failed || len(m.calls) != 0 {
		t.Errorf("said %q, calls %v", said, m.calls)
	}
}

// --abort after a crash: the unit and its socket go back to the state the drop-in's state line recorded.
func TestHostAbort(t *testing.T) {
	state := Snapshot{{"d.service", RoleUnit, "inactive"}, {"d.socket", RoleTrigger, "inactive"}}.Encode()
	p, err := NewPlan(fixes.Build(table(t, "252.39"), []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap"}}, nil), nil, Options{}, state)
	if err != nil {
		t.Fatal(err)
	}
	files := newFiles(map[string]string{dropin: p.Dropin})
	m := &fakeManager{units: map[string]string{"d.service": "active", "d.socket": "active"}}
	now := func() Snapshot { t.Error("the state line is there: the manager's state now is not asked"); return nil }
	said, err := Host{m, files}.Abort(context.Background(), "d.service", false, dropin, now)
	if err != nil || said != "drop-in removed, manager reloaded, d.socket stopped (it was inactive before the trial and would start the unit again), "+
		"d.service stopped (it was inactive before the trial); as before the trial (d.service inactive, d.socket inactive)" {
		t.Errorf("abort: %q, %v", said, err)
	}
	if len(files.m) != 0 {
		t.Errorf("left: %v", files.m)
	}

	// Only the manager's drop-in was left: the flag goes off, the unit stays as it is now.
	conf := ManagerConfPath("d.service")
	files = newFiles(map[string]string{conf: ManagerConf(true)})
	m = &fakeManager{units: map[string]string{"d.service": "active"}}
	said, err = Host{m, files}.Abort(context.Background(), "d.service", false, dropin, func() Snapshot { return Snapshot{{"d.service", RoleUnit, "active"}} })
	if err != nil || !strings.HasSuffix(said, "as before the trial (d.service active); the manager's log flag is off again") || len(files.m) != 0 {
		t.Errorf("abort: %q, %v, left %v", said, err, files.m)
	}
	// A user unit's trial never sets the flag: its manager drop-in is not its trial's.
	_, err = Host{m, newFiles(map[string]string{conf: ManagerConf(true)})}.Abort(context.Background(), "d.service", true, dropin, nil)
	var none *NoTrialError
	if !errors.As(err, &none) || err.Error() != "no trial drop-in for d.service ("+dropin+")" {
		t.Errorf("user abort: %v", err)
	}
	// Nothing there.
	if _, err := (Host{m, newFiles(nil)}).Abort(context.Background(), "d.service", false, dropin, nil); !errors.As(err, &none) {
		t.Errorf("nothing to abort: %v", err)
	}
	// A file there that sysdiag trial did not write is left alone.
	files = newFiles(map[string]string{dropin: "[Service]\nSystemCallFilter=\n"})
	m = &fakeManager{units: map[string]string{}}
	if _, err := (Host{m, files}).Abort(context.Background(), "d.service", false, dropin, nil); err == nil || !strings.Contains(err.Error(), "not written by sysdiag trial") || len(files.m) != 1 || len(m.calls) != 0 {
		t.Errorf("not ours: %v, calls %v", err, m.calls)
	}
}

func (f *fakeFiles) Create(path, content string) error {
	if _, ok := f.m[path]; ok {
		return fs.ErrExist
	}
	return f.WriteFile(path, []byte(content))
}
