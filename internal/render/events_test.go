package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/syscalls"
)

// eventsT0 is a kill's time: 2026-11-23 10:00:00 UTC.
const eventsT0 = 1795428000

var eventsFchown = evidence.Violation{Time: time.Unix(eventsT0, 0), PID: 1, Syscall: 93, Name: "fchown", Arch: syscalls.ArchX86_64,
	Action: audit.ActionKillProcess, Exe: "/usr/bin/x\x1b[2J", Unit: "a.service", UserUnit: true, Sources: []string{"audit.log", "kmsg"}}

// §2.13: a source that fails after giving records (a log truncated while it was read) — the JSON
// document is closed and valid, and its sources say "partial".
func TestEventsJSONPartialSourceKeepsDocumentValid(t *testing.T) {
	var out bytes.Buffer
	e := NewEvents(&out, syscalls.Latest(), true)
	if err := e.Write(eventsFchown); err != nil {
		t.Fatal(err)
	}
	reps := []sources.Report{{Name: "audit.log", Path: "/var/log/audit/audit.log", Records: 424000, Error: "the file shrank while it was read", Partial: true}}
	if err := e.Close(reps); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Table      string            `json:"table"`
		Violations []json.RawMessage `json:"violations"`
		Sources    []struct {
			Partial bool `json:"partial"`
		} `json:"sources"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not a JSON document: %v\n%s", err, out.Bytes())
	}
	if doc.Table == "" || len(doc.Violations) != 1 || len(doc.Sources) != 1 || !doc.Sources[0].Partial {
		t.Errorf("document: %s", out.Bytes())
	}
}

func TestEventsTable(t *testing.T) {
	var out bytes.Buffer
	e := NewEvents(&out, syscalls.Latest(), false)
	unknown := evidence.Violation{Time: time.Unix(eventsT0, 0), PID: 2, Syscall: -1, Action: audit.ActionKillProcess}
	for _, v := range []evidence.Violation{eventsFchown, unknown} {
		if err := e.Write(v); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("rows written before a flush: %q", out.String())
	}
	if err := e.Close(nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME ") {
		t.Fatalf("table:\n%s", out.String())
	}
	for _, want := range []string{"a.service (user)", "fchown (x86_64 93)", "@chown", "audit.log,kmsg"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q: no %q", lines[1], want)
		}
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("a control character from the log reached the table: %q", lines[1])
	}
	if !strings.Contains(lines[2], "killed by SIGSYS, call unknown") || !strings.Contains(lines[2], " - ") {
		t.Errorf("row of a kill known only from a coredump: %q", lines[2])
	}
}
