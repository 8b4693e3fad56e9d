package sources

import (
	"testing"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
)

func TestRecordsBadGlob(t *testing.T) {
	_, err := Records(&Plan{AuditLogs: []string{"/nonexistent/dir/*.log"}}, audit.Window{}, nil, nil, func([]journal.Coredump, CoreInfo) Sink { return nil })
	if _, ok := err.(*BadInputError); !ok {
		t.Errorf("a glob matching nothing: %v, want a BadInputError", err)
	}
}
