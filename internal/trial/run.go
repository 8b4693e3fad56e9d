package trial

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/cgroup"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Run is the whole of `sysdiag trial UNIT`: the lock, the drop-in, the manager's log flag, the unit's run
// followed through its records, the restore, the answer and --write's rounds. Everything it asks of the
// host goes through Env, so that a test drives it with a fake manager, files in memory, records it makes
// up and a fast clock.

// Record is one seccomp record as a live source delivered it, with the unit its process was in when it
// arrived (zero when unknown: gone, or in another PID namespace).
type Record struct {
	Rec  audit.Record
	Unit cgroup.Unit
}

// Lost counts the records lost while the trial followed them.
type Lost struct {
	Kernel    uint32 `json:"kernel"`    // the kernel's audit "lost" counter moved by this much
	Userspace int    `json:"userspace"` // netlink overflows (ENOBUFS) seen by sysdiag
}

// Feed is a source being followed.
type Feed struct {
	Records <-chan Record // closed when the source ends
	Name    string        // what is followed ("the audit netlink multicast group")
	Lost    func() Lost   // the records lost so far (nil: not counted)
}

// Source follows the host's seccomp records from now on (the audit multicast group, journald's audit
// transport, audit.log — whichever works).
type Source interface {
	// Follow starts following until ctx ends. quiet is a --write round's: nothing said, no loss counted.
	Follow(ctx context.Context, quiet bool) (Feed, error)
}

// Starter is what a trial's run asks of the manager beyond Manager.
type Starter interface {
	// Start resets the unit's failed state and restarts it on a connection of its own; it returns once
	// the job is queued, and done closes when the job is done (a oneshot's lasts as long as it runs) or
	// ctx ends.
	Start(ctx context.Context, unit string) (done <-chan struct{}, err error)
	// Deps are the unit's dependency properties: TriggeredBy and PulledProps, each with its units (a
	// property the manager does not give is absent).
	Deps(ctx context.Context, unit string) map[string][]string
}

// Clock is the time a trial keeps: its length, --for, --verify, the wait after the unit stopped.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Subject is the unit as it was loaded before the trial.
type Subject struct {
	Unit      *diagnose.Unit
	Table     syscalls.Table
	TableNote string
	// Known are the syscall names the unit's manager resolves (unit.Choice's Known; nil: every name in
	// sysdiag's tables): the unit's filter is built with them.
	Known fixes.Known
	// Programs are the unit's Exec lines' programs (Claim ties a record of a gone process by them).
	Programs []string
	// Home is where a user unit's drop-ins go (~/.config/systemd/user): the tightening's path.
	Home string
}

// Env is the host a trial runs on.
type Env struct {
	Host            // the manager's jobs and states, the drop-ins
	Starter Starter // the start of the unit's runs, its neighbours
	Source  Source  // the records
	// Load loads the unit (called once the trial's drop-in is known not to be there: it would be read as
	// the unit's filter). Its error is returned as it is.
	Load func() (*Subject, error)
	// Root is the host's "/" (os.DirFS("/")), where the system manager's log flag is read (LogFlagOn);
	// nil: taken as off.
	Root fs.FS
	// Kernel is the running kernel's version (ParseKernel).
	Kernel syscalls.Version
	Clock  Clock // nil: the real one
	// Say is told what a person waiting on the trial reads on stderr, one line each (nil: nobody).
	Say func(line string)
}

// RunOptions are a trial's choices (the command's flags).
type RunOptions struct {
	Unit string
	User bool
	// RuntimeDir is the user manager's runtime directory ($XDG_RUNTIME_DIR), for --user's drop-in.
	RuntimeDir   string
	For          time.Duration // end the trial after this long (0: when the unit's processes exit)
	Relax        bool          // --relax-implicit
	Tighten      bool          // watch the loose groups
	Write        bool          // write the fix and verify it
	WriteTighten bool          // write the tightening and verify it
	Verify       time.Duration // how long a --write run is watched
	Rounds       int           // how many times a kill under a written drop-in is added and tried again
	Progress     bool          // say the trial's progress every 2 s (a terminal)
}

// Dropin is the trial's drop-in for these options.
func (o RunOptions) Dropin() string { return DropinPath(o.Unit, o.User, o.RuntimeDir) }

// Answer is a trial's answer (--json).
type Answer struct {
	Unit     string             `json:"unit"`
	User     bool               `json:"user,omitempty"`
	Seconds  float64            `json:"seconds"`
	Records  int                `json:"records"`
	Lost     Lost               `json:"lost"`
	Calls    []Call             `json:"calls"`
	Findings []diagnose.Finding `json:"findings"`
	Fix      *diagnose.Fix      `json:"fix,omitempty"`
	// Implicit are the calls an enforced implicit filter answered with its errno, seen through the
	// manager's log flag (Visible): the directive is responsible, not SystemCallFilter=.
	Implicit []ImplicitHit    `json:"implicit"`
	Visible  []fixes.Implicit `json:"visible"`
	Unseen   []fixes.Implicit `json:"unseen"`
	Relaxed  []fixes.Implicit `json:"relaxed"`
	Warnings []string         `json:"warnings"`
	Notes    []string         `json:"notes"`
	Restored string           `json:"restored"`
	Verified string           `json:"write_verified,omitempty"`
	Tighten  *Tighten         `json:"tighten,omitempty"`
	Rounds   int              `json:"write_rounds,omitempty"`
	Source   string           `json:"source"`
	// Failed says what --write or --write-tighten wrote did not hold: it was rolled back.
	Failed bool `json:"-"`
}

// BusyError refuses a trial: its drop-in is there (a trial of the unit is running, or a crash left it).
type BusyError struct{ Unit, Dropin string }

func (e *BusyError) Error() string {
	return fmt.Sprintf("a trial of %s is running, or one was left by a crash (%s)", e.Unit, e.Dropin)
}

// NothingError says the unit has nothing a trial can log.
type NothingError struct {
	Unit string
	Err  error
}

func (e *NothingError) Error() string { return e.Unit + ": " + e.Err.Error() }
func (e *NothingError) Unwrap() error { return e.Err }

// LockError says the trial's drop-in could not be created (not root, a read-only /run): nothing changed.
type LockError struct{ Err error }

func (e *LockError) Error() string { return e.Err.Error() }
func (e *LockError) Unwrap() error { return e.Err }

// How the trial follows the unit: the state is asked every tick; once the unit has stopped, its last
// records arrive late, so the follow goes on for linger.
const (
	tick     = 300 * time.Millisecond
	linger   = time.Second
	waitSays = 5 * time.Second // a step taking longer is said ("still waiting for …")
	progress = 2 * time.Second
)

// Stopped says a unit in ActiveState state has no processes left to log: not Running, and not
// deactivating either (its processes are being stopped, and still make calls).
func Stopped(state string) bool { return !Running(state) && state != "deactivating" }

// Abort is --abort: what a crashed trial left is undone (Host.Abort); when only the manager's drop-in
// was left, the unit's state now is asked.
func (e Env) Abort(ctx context.Context, o RunOptions) (string, error) {
	return e.Host.Abort(ctx, o.Unit, o.User, o.Dropin(), func() Snapshot { return e.Snapshot(ctx, o.Unit) })
}

// Snapshot asks the manager for the state of the unit and of its neighbours (Related): the sockets,
// paths and timers that can start it, and the units its start pulls in.
func (e Env) Snapshot(ctx context.Context, unit string) Snapshot {
	s := Snapshot{{Name: unit, Role: RoleUnit}}
	s = append(s, Related(unit, e.Starter.Deps(ctx, unit))...)
	return e.States(ctx, s)
}

// session is one trial's state.
type session struct {
	env   Env
	o     RunOptions
	clock Clock
	path  string
	sub   *Subject
	f     *fixes.Filter
	plan  Plan
	claim *Claim
}

// Run is a trial of o.Unit on env: refused when its drop-in is there; else the unit is loaded, the
// drop-in written (created exclusively: it is the lock), the manager's log flag set when the implicit
// filters need it, the records followed from before the unit's start until its processes exit, o.For
// passes, or ctx ends (Ctrl-C: noted), and then — also after any failure — the unit and the manager are
// put back as they were. The answer: every call, what blocks it, one fix for them all, what can be
// tightened; with o.Write / o.WriteTighten, what the Verifier's rounds did (Answer.Failed: rolled back).
func Run(ctx context.Context, env Env, o RunOptions) (*Answer, error) {
	s := &session{env: env, o: o, clock: env.Clock, path: o.Dropin()}
	if s.clock == nil {
		s.clock = realClock{}
	}
	return s.run(ctx)
}

func (s *session) say(format string, args ...any) {
	if s.env.Say != nil {
		s.env.Say(fmt.Sprintf(format, args...))
	}
}

// waiting says once, when what takes longer than waitSays, what the trial is waiting for; the returned
// func stops the clock (and returns once nothing more can be said).
func (s *session) waiting(what string) func() {
	done, finished := make(chan struct{}), make(chan struct{})
	after := s.clock.After(waitSays)
	go func() {
		defer close(finished)
		select {
		case <-after:
			s.say("trial: still waiting for %s", what)
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (s *session) run(ctx context.Context) (*Answer, error) {
	env, o, name := s.env, s.o, s.o.Unit
	// Before reading the unit: the drop-in is in its files, and would be read as its filter.
	if _, err := env.Files.ReadFile(s.path); !errors.Is(err, fs.ErrNotExist) {
		return nil, &BusyError{Unit: name, Dropin: s.path}
	}
	sub, err := env.Load()
	if err != nil {
		return nil, err
	}
	s.sub = sub
	u, t := sub.Unit, sub.Table
	s.f = fixes.Build(t, u.Assigns, sub.Known)
	before := env.Snapshot(ctx, name) // the unit and what its start pulls in, to put each back
	// The log flag for the implicit filters' errno denials: the system manager's environment, v248+
	// (ManagerEnvironment=), unless it is on already. A user manager's is left alone (its only
	// configuration a user may write, ~/.config/systemd/user.conf, would hide /etc/systemd/user.conf).
	flagOn := !o.User && env.Root != nil && LogFlagOn(env.Root)
	popts := Options{Relax: o.Relax, Tighten: o.Tighten || o.WriteTighten, LogFlag: flagOn || (!o.User && t.Version().Major >= 248), Kernel: env.Kernel}
	s.plan, err = NewPlan(s.f, fixes.Implicits(t, u.Assigns), popts, before.Encode())
	if err != nil {
		return nil, &NothingError{Unit: name, Err: err}
	}
	plan := s.plan

	// The drop-in is the lock: created exclusively, a second trial of the unit is refused.
	if err := env.Files.Create(s.path, plan.Dropin); errors.Is(err, fs.ErrExist) {
		return nil, &BusyError{Unit: name, Dropin: s.path}
	} else if err != nil {
		return nil, &LockError{Err: err}
	}
	for _, w := range plan.Warnings {
		s.say("trial: %s", w)
	}
	ans := &Answer{Unit: name, User: o.User, Implicit: []ImplicitHit{}, Visible: nonNil(plan.Visible), Unseen: nonNil(plan.Unseen),
		Relaxed: nonNil(plan.Relaxed), Warnings: plan.Warnings, Notes: []string{}}
	// Whatever happens from here on, the unit gets its filter back (and the manager its environment).
	restored, flagSet := false, false
	restore := func() {
		if !restored {
			restored = true
			ans.Restored = env.Restore(ctx, name, s.path, before, flagSet)
		}
	}
	defer restore()
	if plan.LogErrno && !flagOn {
		if err := env.Files.WriteDropIn(ManagerConfPath(name), ManagerConf(true)); err != nil {
			return nil, fmt.Errorf("setting the manager's log flag for the trial: %w", err)
		}
		flagSet = true
	}

	// Follow the records before the unit starts.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := s.waiting("the audit records' source")
	feed, err := env.Source.Follow(fctx, false)
	stop()
	if err != nil {
		return nil, err
	}
	ans.Source = feed.Name
	start := s.clock.Now()
	stop = s.waiting("the manager's daemon-reload")
	err = env.Manager.Reload(context.WithoutCancel(ctx))
	stop()
	if err != nil {
		return nil, fmt.Errorf("reloading the manager for the trial: %w", err)
	}
	// The start job: before it is done, "inactive" means not yet started.
	stop = s.waiting("the manager to queue the restart of " + name)
	job, err := env.Starter.Start(fctx, name)
	stop()
	if err != nil {
		return nil, fmt.Errorf("starting %s for the trial: %w", name, err)
	}
	ends := ""
	if o.For > 0 {
		ends = ", or after " + o.For.String()
	}
	s.say("trial of %s started (%s; %d calls logged instead of denied); ends when its processes exit%s, or Ctrl-C", name, feed.Name, plan.Logged, ends)

	fold := NewFolder()
	s.claim = NewClaim(name, o.User, plan, sub.Programs)
	var deadline <-chan time.Time
	if o.For > 0 {
		deadline = s.clock.After(o.For)
	}
	lastSaid := s.clock.Now()
	tickSay := func() {
		if now := s.clock.Now(); o.Progress && now.Sub(lastSaid) > progress {
			lastSaid = now
			s.say("trial: %s, %d records, %d calls", now.Sub(start).Round(time.Second), fold.Records, len(fold.Calls()))
		}
	}
	if s.follow(ctx, feed.Records, start, deadline, job, func(r Record) bool { return s.claim.Mine(r.Unit, r.Rec) }, fold, tickSay) {
		ans.Notes = append(ans.Notes, "the trial was interrupted: the answer covers what ran until then")
	}
	cancel()
	ans.Seconds = s.clock.Now().Sub(start).Seconds()
	if feed.Lost != nil {
		ans.Lost = feed.Lost()
	}
	if ans.Lost.Kernel > 0 || ans.Lost.Userspace > 0 {
		ans.Notes = append(ans.Notes, fmt.Sprintf("records were lost during the trial (kernel backlog: %d, netlink ENOBUFS: %d): the counts are lower bounds, and a call seen only in lost records is missing", ans.Lost.Kernel, ans.Lost.Userspace))
	}
	restore()

	res, sorted := s.answer(ans, fold)
	ans.Failed = s.write(ctx, ans, res, sorted, before.Unit())
	return ans, nil
}

// answer fills in every call, what blocks it, one fix for them all, and what can be tightened.
func (s *session) answer(ans *Answer, fold *Folder) (*diagnose.Result, Sorted) {
	plan, f, sub := s.plan, s.f, s.sub
	if s.claim.Guessed > 0 {
		ans.Notes = append(ans.Notes, fmt.Sprintf("%d record(s) could not be tied to the unit by cgroup (the process was gone, or in another PID namespace): counted as the trial's, since they log calls of the trial's own SystemCallLog= set", s.claim.Guessed))
	}
	ans.Records, ans.Calls = fold.Records, fold.Calls()
	sorted := Split(plan, f, fold.Violations(), syscalls.HostArch())
	forFilter, hits := sorted.Filter, sorted.Implicit
	for i := range ans.Calls {
		c := &ans.Calls[i]
		c.Allowed = slices.ContainsFunc(sorted.Used, func(v evidence.Violation) bool { return v.Name == c.Syscall && v.Arch.String() == c.Arch })
	}
	res := diagnose.Diagnose(sub.Unit, f, sub.Table, sub.TableNote, &diagnose.Evidence{Violations: forFilter, Host: syscalls.HostArch()})
	ans.Findings, ans.Fix = res.Violations, res.Fix
	ans.Notes = append(ans.Notes, res.Notes...)
	for _, h := range hits {
		ans.Implicit = append(ans.Implicit, h)
		ans.Notes = append(ans.Notes, implicitNote(h))
	}
	if len(forFilter)+len(hits) == 0 {
		ans.Notes = append(ans.Notes, "nothing the filter would block was called during the trial: for what it exercised, the filter is right")
	}
	// What can be tightened: the loose groups the unit never touched, on top of the fix.
	tightAfter := f
	if res.Fix != nil && len(res.Fix.Allow) > 0 {
		tightAfter = f.With(fixes.Assignment{Directive: "SystemCallFilter", Value: strings.Join(res.Fix.Allow, " ")})
	}
	if tg := Tightening(plan, tightAfter, ans.Calls, syscalls.HostArch()); tg != nil {
		tg.DropinPath = filepath.Join(unitfile.DropInDir(s.o.Unit, s.o.User, sub.Home), TightenName)
		ans.Tighten = tg
	}
	for _, im := range plan.Visible {
		if !slices.ContainsFunc(hits, func(h ImplicitHit) bool { return h.Directive == im.Directive }) {
			ans.Notes = append(ans.Notes, im.Directive+"= stayed enforced, its denials logged: it denied nothing during the trial")
		}
	}
	if hits != nil && len(forFilter) == 0 {
		ans.Notes = append(ans.Notes, "SystemCallFilter= blocked nothing: every denial came from another directive's filter (above)")
	}
	return res, sorted
}

// implicitNote says what an implicit filter's denial means for the fix.
func implicitNote(h ImplicitHit) string {
	if h.Relaxed {
		return fmt.Sprintf("%s: denied with %s by %s= (%s), turned off for the trial; letting it through means %s=no, which also gives back %s",
			h.Syscall, h.Errno, h.Directive, h.Where, h.Directive, h.Relaxing)
	}
	n := fmt.Sprintf("%s: answered %s by %s= (%s), kept enforced for the trial", h.Syscall, h.Errno, h.Directive, h.Where)
	if h.Condition != "" {
		n += " (" + h.Condition + ")"
	}
	n += "; SystemCallFilter= cannot let it through"
	if h.Relaxing != "" {
		n += "; " + h.Directive + "=no would, and also gives back " + h.Relaxing
	}
	return n
}

// write is --write and --write-tighten: each drop-in under the unit's real filter, verified, rolled back
// if the unit is killed again (state: the unit's before the trial). It says whether one failed.
func (s *session) write(ctx context.Context, ans *Answer, res *diagnose.Result, sorted Sorted, state string) bool {
	o, sub := s.o, s.sub
	failed := false
	v := &Verifier{Host: s.env.Host, Unit: o.Unit, State: state, Verify: o.Verify, Rounds: o.Rounds,
		Watch:    s.watchKills,
		Progress: func(msg string) { s.say("trial: %s", msg) }}
	if o.Write && res.Fix != nil {
		vs := sorted.Filter
		fx := res.Fix
		var written bool
		ans.Verified, ans.Rounds, written, failed = v.Try(ctx, Attempt{What: "the fix", Path: fx.DropinPath, Content: fx.Dropin,
			Next: func(kills []evidence.Violation) (string, string, bool) {
				// Each new kill is added to the calls, and the fix made again for them all.
				var added []string
				for _, k := range kills {
					if !slices.ContainsFunc(vs, func(x evidence.Violation) bool { return x.Name == k.Name && x.Arch == k.Arch }) {
						vs = append(vs, k)
						added = append(added, k.Name)
					}
				}
				if len(added) == 0 {
					return "", "", false
				}
				next := diagnose.Diagnose(sub.Unit, s.f, sub.Table, sub.TableNote, &diagnose.Evidence{Violations: vs, Host: syscalls.HostArch()}).Fix
				if next == nil {
					return "", strings.Join(added, " "), false
				}
				next.DropinPath, fx = fx.DropinPath, next
				return next.Dropin, "adding " + strings.Join(added, " "), true
			}})
		fx.Written = written
		ans.Fix = fx
	}
	if tg := ans.Tighten; tg != nil && o.WriteTighten && tg.Dropin != "" && !failed {
		groups := tg.Untouched
		var written, tfailed bool
		tg.Write, tg.Rounds, written, tfailed = v.Try(ctx, Attempt{What: "the tightening", Path: tg.DropinPath, Content: tg.Dropin,
			Next: func(kills []evidence.Violation) (string, string, bool) {
				// A group with a call that killed it goes back to allowed; the rest stay denied.
				var keep, dropped []string
				for _, g := range groups {
					hit := false
					for _, k := range kills {
						hit = hit || slices.Contains(s.plan.Loose[g], k.Name)
					}
					if hit {
						dropped = append(dropped, g)
					} else {
						keep = append(keep, g)
					}
				}
				if len(dropped) == 0 || len(keep) == 0 {
					return "", "", false
				}
				groups = keep
				return tg.after.Tighten(keep).DropIn, "allowing " + strings.Join(dropped, " ") + " again", true
			}})
		tg.Written = written
		if written {
			tg.Untouched = groups
			tg.Dropin = tg.after.Tighten(groups).DropIn
		}
		failed = failed || tfailed
	}
	return failed
}

// watchKills is one --write round's run: the records followed, the unit started under its real filter
// (the reload is done) and watched for Verify or until it stops: the calls that killed it.
func (s *session) watchKills(ctx context.Context) ([]evidence.Violation, error) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	feed, err := s.env.Source.Follow(fctx, true)
	if err != nil {
		return nil, err
	}
	start := s.clock.Now()
	job, err := s.env.Starter.Start(fctx, s.o.Unit)
	if err != nil {
		return nil, fmt.Errorf("the restart failed: %w", err)
	}
	fold := NewFolder()
	s.follow(ctx, feed.Records, start, s.clock.After(s.o.Verify), job,
		func(r Record) bool { return r.Rec.Action.IsKill() && s.claim.Mine(r.Unit, r.Rec) }, fold, nil)
	return fold.Violations(), nil
}

// follow folds the unit's records (those keep takes, from a second before start on) until the unit has
// stopped for linger (its last records arrive late; those already delivered then are taken too), the
// deadline (nil: none), or ctx ends; it says whether ctx ended it. Before the start job is done,
// "inactive" means not yet started. every runs at each tick (nil: nothing).
func (s *session) follow(ctx context.Context, recs <-chan Record, start time.Time, deadline <-chan time.Time, job <-chan struct{},
	keep func(Record) bool, fold *Folder, every func()) bool {
	add := func(r Record) {
		if !r.Rec.Time.Before(start.Add(-time.Second)) && keep(r) {
			fold.Add(evidence.Merge([]audit.Record{r.Rec}, nil, nil)[0])
		}
	}
	ticks := s.clock.After(tick)
	var endedAt time.Time
	for {
		select {
		case r, ok := <-recs:
			if !ok {
				return false
			}
			add(r)
		case <-ticks:
			ticks = s.clock.After(tick)
			if !endedAt.IsZero() && s.clock.Now().Sub(endedAt) > linger {
				for n := len(recs); n > 0; n-- {
					r, ok := <-recs
					if !ok {
						break
					}
					add(r)
				}
				return false
			}
			if job != nil {
				select {
				case <-job:
					job = nil
				default:
					continue
				}
			}
			if endedAt.IsZero() && Stopped(s.env.Manager.ActiveState(context.WithoutCancel(ctx), s.o.Unit)) {
				endedAt = s.clock.Now()
			}
			if every != nil {
				every()
			}
		case <-deadline:
			return false
		case <-ctx.Done():
			return true
		}
	}
}

func nonNil(s []fixes.Implicit) []fixes.Implicit {
	if s == nil {
		return []fixes.Implicit{}
	}
	return s
}
