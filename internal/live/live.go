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
	"sync"
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
	// The late wait's own goroutines run until Run ends them — the ticker before the end's flush, the
	// journal follower after it (the flush still asks it for processes' entries) — not until the
	// caller's context does: a kill decided then would have nobody to take it.
	stopTick, stopFacts context.CancelFunc
	tickDone, factsDone chan struct{}
	mu                  sync.Mutex
	left                []evidence.Violation // decided when out was full: handed on by Run, never dropped
	kick                chan struct{}
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
		default: // Run is behind, or ending: kept, never blocking the decision (nor dropped)
			p.mu.Lock()
			p.left = append(p.left, v)
			p.mu.Unlock()
			select {
			case p.kick <- struct{}{}:
			default:
			}
		}
	})
	p.kick = make(chan struct{}, 1)
	p.tickDone, p.factsDone = make(chan struct{}), make(chan struct{})
	factsCtx, stopFacts := context.WithCancel(context.Background())
	tickCtx, stopTick := context.WithCancel(context.Background())
	p.stopFacts, p.stopTick = stopFacts, stopTick
	go func() {
		defer close(p.factsDone)
		_ = facts.Run(factsCtx, p.late.Coredump, p.late.Exit)
	}()
	go func() {
		defer close(p.tickDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		p.late.Run(tickCtx, tick.C)
	}()
	return p
}

// takeLeft hands over the kills decided while out was full.
func (p *Pipe) takeLeft() []evidence.Violation {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.left
	p.left = nil
	return l
}

// Run hands each violation to handle, in arrival order except the held kills (handed on when decided),
// until ctx ends (nil) or the source does (why). At the end every record read is handed on, and every
// kill still held is decided (with the journal still open) and handed on. A pipe that was opened must be
// run: Run ends its goroutines.
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
	drained := false
	for done := false; !done; {
		select {
		case v, ok := <-recs:
			done, drained = !ok, !ok
			if ok && (p.late == nil || !p.late.Hold(&v)) { // a held kill comes back through out
				handle(v)
			}
		case v := <-p.out:
			handle(v)
		case <-p.kick:
			for _, v := range p.takeLeft() {
				handle(v)
			}
		case <-ctx.Done():
			done = true
		}
	}
	died := ctx.Err() == nil // the source ended, not the caller
	cancel()                 // the source stops; what it had read is still handed on
	if !drained {
		for v := range recs {
			if p.late == nil || !p.late.Hold(&v) {
				handle(v)
			}
		}
	}
	if p.late != nil {
		decided := func() { // what was decided before, in the order it was
			for len(p.out) > 0 {
				handle(<-p.out)
			}
			for _, v := range p.takeLeft() {
				handle(v)
			}
		}
		p.stopTick()
		<-p.tickDone // no decision runs beside the flush
		decided()
		for _, v := range p.late.Flush() {
			handle(v)
		}
		p.stopFacts()
		<-p.factsDone // a coredump entry that arrived meanwhile may have tied a kill: handed on too
		decided()
	}
	if !died {
		return nil
	}
	return cmp.Or(<-ended, errors.New("the source ended"))
}
