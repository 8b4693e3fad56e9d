package trial

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/sources"
)

// Live is Source on this host's live seccomp records (sources.OpenLive: the audit multicast group, else
// journald's audit transport, else audit.log), each with its process's cgroup read in /proc as it
// arrives (attribute.Cgroups). The trial's own run (not quiet) says and counts the records the host lost:
// the netlink socket's overflows, and the kernel's lost counter (sources.WatchLost).
type Live struct {
	// AuditLog is the log followed when neither the multicast group nor the journal can be
	// (sources.DefaultAuditLog when empty).
	AuditLog string
	// InitialPIDNamespace: sysdiag runs in the kernel's initial PID namespace, whose pids the records name.
	InitialPIDNamespace bool
	// Say is told of records lost, one line each (nil: nobody).
	Say func(line string)
}

// NoSourceError is a trial's source that could not be followed (no live source opened).
type NoSourceError struct{ Err error }

func (e *NoSourceError) Error() string { return e.Err.Error() }
func (e *NoSourceError) Unwrap() error { return e.Err }

var _ Source = (*Live)(nil)

// Follow opens the live source and follows it until ctx ends; an error is *NoSourceError.
func (l *Live) Follow(ctx context.Context, quiet bool) (Feed, error) {
	var (
		mu   sync.Mutex
		lost Lost
	)
	say := func(format string, args ...any) {
		if l.Say != nil {
			l.Say(fmt.Sprintf(format, args...))
		}
	}
	onLoss := func(x sources.Loss) {
		mu.Lock()
		lost.Kernel += x.Kernel
		lost.Userspace += x.Overflows
		mu.Unlock()
		if x.Overflows > 0 {
			say("the netlink receive buffer overflowed (ENOBUFS): records were lost; continuing")
		}
		if x.Kernel > 0 {
			say("the kernel dropped %d audit records (backlog full)", x.Kernel)
		}
	}
	plan := sources.FollowPlan{Source: "auto", AuditLog: l.AuditLog}
	if plan.AuditLog == "" {
		plan.AuditLog = sources.DefaultAuditLog
	}
	if !quiet {
		plan.OnLoss = onLoss
	}
	live, err := sources.OpenLive(plan)
	if err != nil {
		return Feed{}, &NoSourceError{err}
	}
	cgroups := attribute.NewCgroups(os.DirFS("/proc"), nil, l.InitialPIDNamespace)
	recs := make(chan Record, 4096)
	go func() {
		defer close(recs)
		_ = live.Run(ctx, func(r audit.Record) {
			rec := Record{Rec: r}
			if live.Local {
				rec.Unit, _ = cgroups.Read(r.PID)
			}
			select {
			case recs <- rec:
			case <-ctx.Done():
			}
		})
	}()
	feed := Feed{Records: recs, Name: live.String()}
	if !quiet {
		go sources.WatchLost(ctx, onLoss) // the kernel's lost counter (read-only AUDIT_GET)
		feed.Lost = func() Lost {
			mu.Lock()
			defer mu.Unlock()
			return lost
		}
	}
	return feed, nil
}
