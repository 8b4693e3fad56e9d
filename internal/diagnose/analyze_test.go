package diagnose

import (
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/fixes"
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
