package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
)

func TestSourceWarnings(t *testing.T) {
	reps := []sources.Report{
		{Name: "audit.log", Path: "/var/log/audit/audit.log", Records: 424000, Error: "the file shrank while it was read", Partial: true},
		{Name: "kmsg", Path: "k.txt", Malformed: 2, TooLong: 1, Skipped: []string{"3 lines cut off"}},
		{Name: "audit.log", Path: "/var/log/audit/audit.log.1", Error: "not found", Default: true},
		{Name: "journal", Path: "j", Error: "permission denied"},
	}
	var b bytes.Buffer
	SourceWarnings(&b, reps, 1)
	want := `sysdiag: /var/log/audit/audit.log was read only in part (424000 records, then: the file shrank while it was read)
sysdiag: kmsg k.txt: skipped 2 malformed records and 1 over-long lines
sysdiag: k.txt: 3 lines cut off
sysdiag: cannot read j: permission denied
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	SourceWarnings(&b, reps[2:3], 0)
	if !strings.Contains(b.String(), "cannot read /var/log/audit/audit.log.1: not found") {
		t.Errorf("a missing default source is said when nothing was found: %q", b.String())
	}
}

func TestSourcesJournalHint(t *testing.T) {
	if h := SourcesJournalHint(fmt.Errorf("x: %w", &journal.ExportError{})); !strings.Contains(h, "journalctl -o export") {
		t.Errorf("export error: %q", h)
	}
	if h := SourcesJournalHint(fmt.Errorf("permission denied")); !strings.Contains(h, "systemd-journal group") {
		t.Errorf("other error: %q", h)
	}
}
