package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/syscalls"
)

// The model's rows against systemd-analyze's (as --offline --root security --json=short shows them):
// agreeing rows set matches_systemd_analyze; a disagreement is a note naming the row; another release's
// systemd-analyze is not compared.
func TestCompareAnalyze(t *testing.T) {
	tb := syscalls.Select(syscalls.Version{Major: 252, Point: 39})
	f := fixes.Build(tb, []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap @debug"}}, nil)
	rows := map[string]bool{}
	for _, r := range syscalls.SecurityRows() {
		rows[r.ID] = r.Group == "@swap" || r.Group == "@debug"
	}
	res := &Result{}
	CompareAnalyze(res, f, rows, 252)
	if res.Filter.MatchesAnalyze == nil || !*res.Filter.MatchesAnalyze || len(res.Notes) != 0 {
		t.Errorf("agree: %v %v", res.Filter.MatchesAnalyze, res.Notes)
	}
	rows["SystemCallFilter=~@clock"] = true
	res = &Result{}
	CompareAnalyze(res, f, rows, 252)
	if res.Filter.MatchesAnalyze == nil || *res.Filter.MatchesAnalyze || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "SystemCallFilter=~@clock (systemd-analyze: set=true") {
		t.Errorf("disagree: %v %v", res.Filter.MatchesAnalyze, res.Notes)
	}
	res = &Result{}
	CompareAnalyze(res, f, rows, 257)
	if res.Filter.MatchesAnalyze != nil || len(res.Notes) != 0 {
		t.Errorf("another release: %v %v", res.Filter.MatchesAnalyze, res.Notes)
	}
}

// A kill known only from its coredump (no audit record, no readable core) names no call: the answer says
// "call unknown", never "killed by its seccomp filter:  blocked" with an empty name (REVIEW.md §2.14).
func TestDiagnoseCoredumpOnlyKill(t *testing.T) {
	tb := syscalls.Select(syscalls.Version{Major: 252, Point: 39})
	as := []fixes.Assignment{{Directive: "SystemCallFilter", Value: "~@swap"}}
	f := fixes.Build(tb, as, nil)
	v := evidence.Violation{Time: time.Unix(1795428000, 0), PID: 7, Syscall: -1, Action: audit.ActionKillProcess, Sig: 31, CoarseTime: true,
		Sources: []string{"coredump"}, Unit: "u.service"}
	res := Diagnose(&Unit{Name: "u.service", Assigns: as}, f, tb, "", &Evidence{Violations: []evidence.Violation{v}})
	if !strings.Contains(res.Diagnosis, "call unknown: no audit record") || strings.Contains(res.Diagnosis, ":  blocked") {
		t.Errorf("diagnosis: %q", res.Diagnosis)
	}
}
