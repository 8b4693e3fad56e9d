package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/internal/check"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/scan"
)

func TestCheck(t *testing.T) {
	a := &check.Answer{Unit: "a\x1b[31m.service", Systemd: "252", Table: "252", Filter: "allow-list", Incomplete: true,
		Programs: []*check.Program{
			{Path: "/usr/bin/a", Libs: []string{"/lib/libc.so.6"}, Reached: make([]scan.Reached, 3), Seconds: 0.5, Notes: []string{"n1"},
				NotAnalysed: []check.NotAnalysed{{Path: "libx.so.1"}}},
			{Path: "/usr/bin/g", Go: true},
			{Path: "/x.py", RunBy: "/usr/bin/python3"},
			{Path: "/missing", Error: "not found"},
		},
		NotAnalysed: []check.NotAnalysed{{Path: "libx.so.1", What: "library", Reason: "not found", Programs: []string{"/usr/bin/a"}}},
		Blocked: []check.Blocked{
			{Syscall: "socket", Confidence: "likely", Programs: []string{"/usr/bin/a"}, Via: []scan.Via{{Symbol: "connect", Lib: "/lib/libc.so.6"}}},
			{Syscall: "clock_adjtime", Confidence: "possible", Implicit: "ProtectClock", Errno: "EPERM", Condition: "a=1"},
			{Syscall: "ptrace", Confidence: "likely", Programs: []string{"/usr/bin/a"}, Via: []scan.Via{{}}},
		},
		Findings: []diagnose.Finding{{Violation: diagnose.Violation{Syscall: "socket"}, BlockedBy: diagnose.BlockedBy{Explain: "u:2: ~@network-io"}}},
		Notes:    []string{"a note"},
	}
	var b bytes.Buffer
	if err := Check(&b, a); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"check of a\\x1b[31m.service — a prediction from its programs' code; nothing was run (systemd 252, table 252; filter: allow-list)\n",
		"  /usr/bin/a (dynamic, 1 libraries, 0.50 s): 3 calls reachable — incomplete: 1 file(s) it loads not analysed\n    note: n1\n",
		"  /usr/bin/g (Go, 0 libraries, 0.00 s): 0 calls reachable\n",
		"  /x.py: a script, run by /usr/bin/python3 (below); its own commands are not followed\n",
		"  /missing: not analysed: not found\n",
		"\nNot analysed — the prediction covers only the rest; their calls are not counted:\n  libx.so.1 (library): not found [for /usr/bin/a]\n",
		"\nWould be blocked:\n",
		"  socket         likely      a: connect (libc.so.6)  u:2: ~@network-io\n",
		"  clock_adjtime  possible    -                       ProtectClock= answers EPERM (only for a=1)\n",
		"  ptrace         likely      a: own code             SystemCallFilter=\n",
		"  (and maybe more: the prediction is incomplete)\nnote: a note\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Check: no %q in\n%s", want, got)
		}
	}
	for _, c := range []struct {
		incomplete bool
		want       string
	}{{true, "No call found in what was analysed is blocked by the unit's filter; the prediction is incomplete.\n"},
		{false, "No call of these programs is blocked by the unit's filter.\n"}} {
		b.Reset()
		Check(&b, &check.Answer{Unit: "u", Incomplete: c.incomplete})
		if !strings.Contains(b.String(), "\n"+c.want) {
			t.Errorf("nothing blocked, incomplete %v:\n%s", c.incomplete, b.String())
		}
	}
}
