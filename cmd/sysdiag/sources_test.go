package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/internal/sources"
)

// §2.13: a source that fails after giving records (a log truncated while it was read) is said on stderr
// and makes the answer a failure (exit 3), not "no source could be read" after 424 k printed records.
// (The JSON document staying valid is internal/render's TestEventsJSONPartialSourceKeepsDocumentValid.)
func TestPartialSourceIsAFailure(t *testing.T) {
	var errw bytes.Buffer
	reps := []sources.Report{{Name: "audit.log", Path: "/var/log/audit/audit.log", Records: 424000, Error: "the file shrank while it was read", Partial: true}}
	err := warnSources(&errw, reps, 1)
	if code := report(io.Discard, err); code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if !strings.Contains(errw.String(), "read only in part (424000 records") {
		t.Errorf("stderr: %s", errw.String())
	}
	if !sources.ReadOf(reps).Any {
		t.Error("a partial source counts as read")
	}
	if err := warnSources(io.Discard, []sources.Report{{Path: "a"}}, 1); err != nil {
		t.Errorf("a source read in whole: %v", err)
	}
}
