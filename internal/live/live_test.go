package live

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/sources"
)

func record(pid int) audit.Record {
	return audit.Record{PID: pid, Exe: "/usr/bin/a", Syscall: 93, Name: "fchown", Action: audit.ActionKillProcess}
}

// A local source's records come out in order, each tied to its process's cgroup as read on arrival (a
// fake /proc); when the source ends on its own, Run says why.
func TestRunTiesByCgroupAndReportsTheEnd(t *testing.T) {
	proc := fstest.MapFS{"100/cgroup": {Data: []byte("0::/system.slice/a.service\n")}}
	boom := errors.New("the socket closed")
	l := &sources.Live{Local: true, Name: "test", Source: sources.SourceFunc(func(_ context.Context, emit func(audit.Record)) error {
		emit(record(100))
		emit(record(200)) // gone: no /proc entry
		return boom
	})}
	p := New(context.Background(), l, nil, true, Config{Proc: proc, InitialNS: true})
	var got []evidence.Violation
	err := p.Run(func(v evidence.Violation) { got = append(got, v) })
	if !errors.Is(err, boom) {
		t.Errorf("Run: %v, want the source's end", err)
	}
	if len(got) != 2 || got[0].PID != 100 || got[1].PID != 200 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Unit != "a.service" || got[0].How.Method != evidence.ByCgroup {
		t.Errorf("pid 100: %q by %+v", got[0].Unit, got[0].How)
	}
	if got[1].Unit != "" || got[1].How.Detail == "" {
		t.Errorf("pid 200 must be untied with the reason: %q %+v", got[1].Unit, got[1].How)
	}
}

// A fleet's records (not this host's) are never tied by a cgroup here; the caller's end is not an error.
func TestRunFleetAndCallersEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	proc := fstest.MapFS{"100/cgroup": {Data: []byte("0::/system.slice/a.service\n")}}
	l := &sources.Live{Local: false, Name: "fleet", Source: sources.SourceFunc(func(ctx context.Context, emit func(audit.Record)) error {
		emit(record(100))
		<-ctx.Done()
		return ctx.Err()
	})}
	p := New(ctx, l, nil, false, Config{Proc: proc, InitialNS: true})
	var got []evidence.Violation
	err := p.Run(func(v evidence.Violation) { got = append(got, v); cancel() })
	if err != nil {
		t.Errorf("Run after the caller's end: %v", err)
	}
	if len(got) != 1 || got[0].Unit != "" {
		t.Errorf("a fleet's record tied here: %+v", got)
	}
}
