package render

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/syscalls"
)

func watchFinding(unit, note string) diagnose.WatchFinding {
	v := evidence.Violation{Unit: unit, Name: "fchown", Syscall: 93, Arch: syscalls.ArchX86_64, Action: audit.ActionKillProcess,
		Time: time.Date(2026, 12, 2, 14, 0, 1, 250e6, time.UTC)}
	f := diagnose.WatchFinding{V: v, Diagnosed: true, Note: note}
	f.Unit, f.Syscall, f.Groups = unit, "fchown", []string{"@chown", "@system-service"}
	return f
}

func TestWatchText(t *testing.T) {
	var out, errw strings.Builder
	r := &Watch{Out: &out, Err: &errw}
	r.Source("audit netlink")
	r.Loss(7, 1)
	fixed := watchFinding("a.service", "")
	fixed.BlockedBy.Explain = "SystemCallFilter=~@chown (/etc/systemd/system/a.service:7)"
	fixed.Fix = &diagnose.Fix{Alt: diagnose.Alt{Allow: []string{"fchown"}, Dropin: "[Service]\nSystemCallFilter=fchown\n"}}
	r.Violation(fixed, 12)
	r.Violation(watchFinding("", "unit unknown (the process was gone before its cgroup could be read)"), 0)
	remote := watchFinding("b\x1b[2J.service", "")
	remote.V.Node, remote.V.Machine = "web1", "0123456789abcdef"
	remote.Groups = nil
	r.Violation(remote, 0)
	r.Summary(diagnose.WatchSummary{Units: []diagnose.UnitCount{
		{Unit: "a.service", Syscalls: map[string]int{"fchown": 3, "chown": 1}, Total: 4},
		{Unit: "a.service", UserUnit: true, Syscalls: map[string]int{"fchown": 1}, Total: 1},
		{Host: "web1", MachineID: "0123456789abcdef", Unit: "b.service", Syscalls: map[string]int{"ptrace": 2}, Total: 2},
	}, Kernel: 7, Overflows: 1})

	at := time.Date(2026, 12, 2, 14, 0, 1, 250e6, time.UTC).Local().Format("15:04:05.000")
	want := at + "  a.service  fchown (x86_64 93)  @chown  kill-process  — SystemCallFilter=~@chown (/etc/systemd/system/a.service:7); fix: SystemCallFilter=fchown\n" +
		at + "  unknown  fchown (x86_64 93)  @chown  kill-process  — unit unknown (the process was gone before its cgroup could be read)\n" +
		at + "  web1/01234567  b\\x1b[2J.service  fchown (x86_64 93)  -  kill-process\n" +
		"summary:\n  a.service: chown×1 fchown×3\n  a.service (user): fchown×1\n  web1/01234567 b.service: ptrace×2\n" +
		"  lost: 7 records in the kernel, 1 netlink overflows\n"
	if out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	wantErr := "sysdiag: watching audit netlink (Ctrl-C to stop)\n" +
		"sysdiag: the netlink receive buffer overflowed (ENOBUFS): records were lost; continuing\n" +
		"sysdiag: the kernel dropped 7 audit records (backlog full)\n"
	if errw.String() != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", errw.String(), wantErr)
	}

	out.Reset()
	r.Summary(diagnose.WatchSummary{})
	if out.String() != "summary: no violations\n" {
		t.Errorf("empty summary %q", out.String())
	}
}

func TestWatchJSON(t *testing.T) {
	var out, errw strings.Builder
	r := &Watch{Out: &out, Err: &errw, JSON: true}
	r.Source("audit netlink")
	r.Loss(7, 1)
	fixed := watchFinding("a.service", "")
	fixed.Fix = &diagnose.Fix{Alt: diagnose.Alt{Allow: []string{"fchown"}, Dropin: "[Service]\nSystemCallFilter=fchown\n"}, DropinPath: "/etc/x.conf", Verified: true}
	r.Violation(fixed, 12)
	r.Summary(diagnose.WatchSummary{Units: []diagnose.UnitCount{{Unit: "a.service", Syscalls: map[string]int{"fchown": 1}, Total: 1}}, Kernel: 7, Overflows: 1})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`{"type":"source","source":"audit netlink"}`,
		`{"type":"lost","lost":{"kernel":7,"userspace":0}}`,
		"",
		`{"type":"summary","lost":{"kernel":7,"userspace":1},"summary":[{"unit":"a.service","user_unit":false,"syscalls":{"fchown":1},"total":1}]}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &ev); err != nil {
		t.Fatal(err)
	}
	fix, _ := ev["fix"].(map[string]any)
	if ev["type"] != "violation" || ev["unit"] != "a.service" || ev["count"] != 1.0 || ev["delay_ms"] != 12.0 || fix["dropin_path"] != "/etc/x.conf" || fix["verified"] != true {
		t.Errorf("violation: %s", lines[2])
	}
	for i, w := range want {
		if w != "" && lines[i] != w {
			t.Errorf("line %d:\n%s\nwant:\n%s", i, lines[i], w)
		}
	}
	if errw.String() != "sysdiag: the netlink receive buffer overflowed (ENOBUFS): records were lost; continuing\n" {
		t.Errorf("stderr %q: only the overflow is said there with --json", errw.String())
	}
}
