// Package live is the live half of the pipeline, for watch: a live source (internal/sources), each
// record made a violation and tied to its process's cgroup as it arrives, and the kills whose process was
// gone held until the journal's coredump, exit or process entries tie them (attribute.Late) — the same
// rules as the batch fronts. It decides nothing itself: it wires the stages in order.
package live

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
)

// Units is what the late wait asks of the unit model: a unit's programs, and the running manager of this
// host (its main pid and invocation), where there is one.
type Units interface {
	Programs(h journal.Host, name string, user bool) []string
	MainPID(name string) (pid int, invocation string, ok bool)
}

// Config is the host a pipe runs on.
type Config struct {
	Plan      sources.FollowPlan
	Units     Units
	Proc      fs.FS // /proc, for the cgroup of a record's process
	InitialNS bool  // sysdiag runs in the initial PID namespace: the records' pids are /proc's
}

// Pipe is an open live source with its late wait.
type Pipe struct {
	Live *sources.Live
	ctx  context.Context
	cfg  Config
	late *attribute.Late
	out  chan evidence.Violation // decided late kills
}

// Open opens the live source the plan names (sources.OpenLive) and starts following the journal's
// facts, positioned at their ends now (before the caller says it is watching).
func Open(ctx context.Context, cfg Config) (*Pipe, error) {
	l, err := sources.OpenLive(cfg.Plan)
	if err != nil {
		return nil, err
	}
	src := journal.Source{Dirs: cfg.Plan.JournalDirs}
	facts, err := sources.FollowFacts(src)
	if err != nil {
		facts = nil // no readable journal: nothing could tie a held kill, so none is held
	}
	return New(ctx, l, facts, src.Local(), cfg), nil
}

// New is a pipe over an open live source and the journal's facts (nil: none, and no kill is held);
// local says the facts are this host's journal's.
func New(ctx context.Context, l *sources.Live, facts *sources.Facts, local bool, cfg Config) *Pipe {
	p := &Pipe{Live: l, ctx: ctx, cfg: cfg}
	if facts == nil {
		return p
	}
	p.out = make(chan evidence.Violation, attribute.LateCap)
	p.late = attribute.NewLate(attribute.LateConfig{
		ForeignPIDs: local && !cfg.InitialNS,
		Processes: func(h journal.Host, pid int, since, until time.Time) []journal.Process {
			ps, _ := facts.Processes(h, pid, since, until)
			return ps
		},
		Programs: cfg.Units.Programs,
		MainPID: func(_ journal.Host, name string, user bool) (int, string) {
			if local && !user { // not another host's manager, nor a user manager that may not be ours
				if pid, inv, ok := cfg.Units.MainPID(name); ok {
					return pid, inv
				}
			}
			return 0, ""
		},
	}, func(v evidence.Violation) {
		select {
		case p.out <- v:
		case <-ctx.Done(): // the end: Run's flush decides what is left
		}
	})
	go func() { _ = facts.Run(ctx, p.late.Coredump, p.late.Exit) }()
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		p.late.Run(ctx, tick.C)
	}()
	return p
}

// Run hands each violation to handle, in arrival order except the held kills (handed on when decided),
// until ctx ends (nil) or the source does (why). At the end every kill still held is decided and handed on.
func (p *Pipe) Run(handle func(evidence.Violation)) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	cgroups := attribute.NewCgroups(p.cfg.Proc, nil, p.cfg.InitialNS)
	recs := make(chan evidence.Violation, 4096)
	ended := make(chan error, 1)
	go func() {
		defer close(recs)
		ended <- p.Live.Run(ctx, func(r audit.Record) {
			v := evidence.Merge([]audit.Record{r}, nil, nil)[0]
			if p.Live.Local {
				u, why := cgroups.Read(r.PID)
				attribute.TieCgroup(&v, u, why)
			}
			select {
			case recs <- v:
			case <-ctx.Done():
			}
		})
	}()
	for done := false; !done; {
		select {
		case v, ok := <-recs:
			done = !ok
			if ok && (p.late == nil || !p.late.Hold(&v)) { // a held kill comes back through out
				handle(v)
			}
		case v := <-p.out:
			handle(v)
		case <-ctx.Done():
			done = true
		}
	}
	died := ctx.Err() == nil // the source ended, not the caller
	cancel()                 // before the end's decisions: nothing blocks on the loop now
	if p.late != nil {
		for _, v := range p.late.Flush() {
			handle(v)
		}
		for len(p.out) > 0 {
			handle(<-p.out)
		}
	}
	if !died {
		return nil
	}
	return cmp.Or(<-ended, errors.New("the source ended"))
}
