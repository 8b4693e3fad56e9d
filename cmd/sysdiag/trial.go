package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/trial"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
	"golang.org/x/sys/unix"
)

type trialOptions struct {
	unit         string
	user         bool
	dur          time.Duration
	json         bool
	write        bool
	tighten      bool
	writeTighten bool
	relax        bool
	abort        bool
	verify       time.Duration
	rounds       int
	started      time.Time
}

// exitFixFailed is trial --write's status when the written fix did not hold and was rolled back.
const exitFixFailed = 5

func newTrialCmd() *cobra.Command {
	opts := &trialOptions{}
	c := &cobra.Command{
		Use:   "trial UNIT",
		Short: "Run a unit once with its syscall filter turned into logging: every call it would block, then one fix",
		Long: `Run UNIT once with its seccomp filter in logging mode and report every call the filter would have
blocked — all of them in one run, not one per kill — with one verified drop-in that lets them all through.

How: a runtime drop-in (/run/systemd/system/UNIT.d/zz-sysdiag-trial.conf; for --user under
$XDG_RUNTIME_DIR) resets SystemCallFilter= and sets SystemCallLog= to exactly the calls the filter denies,
so the kernel logs them (SECCOMP_RET_LOG) instead of killing; then daemon-reload and a restart. The unit
runs WITHOUT its syscall filter until the trial ends: when its processes exit, after --for, or on Ctrl-C.
Then the drop-in is removed, the manager reloaded, and the unit brought back to its state before the trial
(restarted under its real filter, or stopped) — also after a failure; after a crash, 'sysdiag trial
--abort UNIT' does it.

Other directives install seccomp filters of their own (ProtectClock=, ProtectKernelModules=, PrivateDevices=,
RestrictAddressFamilies=, …) that answer with an errno and leave no record; they stay enforced, and the
answer names them as what the trial cannot see. --relax-implicit turns the whole-call ones off and logs
their calls too: that also gives back what they take (capabilities, mounts) — it is not a dry run.

--write then writes the fix (as why --write), restarts the unit under its real filter and watches it for
--verify; if it is killed again, the drop-in is put back as it was. Exit status: 0 after a trial, 5 when
--write's fix did not hold and was rolled back.`,
		Example: `  $ sysdiag trial remote-ssh-agent.service --for 30s
  $ sysdiag trial --user backup.service --json
  $ sysdiag trial nginx --write
  $ sysdiag trial --abort nginx`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.unit = args[0]
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTrial(ctx, c.OutOrStdout(), c.ErrOrStderr(), opts)
		},
	}
	c.ValidArgsFunction = unitCompleter(&opts.user, nil)
	c.Flags().BoolVar(&opts.user, "user", false, "a unit of the calling user's manager (systemctl --user)")
	c.Flags().DurationVar(&opts.dur, "for", 0, "end the trial after this long (default: when the unit's processes exit, or Ctrl-C)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.Flags().BoolVar(&opts.write, "write", false, "write the fix, restart under the real filter, and roll back if it is killed again")
	c.Flags().DurationVar(&opts.verify, "verify", 10*time.Second, "with --write: how long the unit must run (or until it exits) without a kill")
	c.Flags().BoolVar(&opts.tighten, "tighten", true, "also watch the groups behind systemd-analyze security's open SystemCallFilter=~@… rows, to say which the unit never uses")
	c.Flags().BoolVar(&opts.writeTighten, "write-tighten", false, "write the drop-in denying the groups the unit never used, restart under it and roll back if it is killed")
	c.Flags().IntVar(&opts.rounds, "rounds", 3, "with --write: how many times a new kill under the fix is added to it and tried again before rolling back")
	c.Flags().BoolVar(&opts.relax, "relax-implicit", false, "also turn ProtectClock= & co. off and log their calls (gives back their capabilities and mounts: not a dry run)")
	c.Flags().BoolVar(&opts.abort, "abort", false, "remove a trial's drop-in left by a crash and bring the unit back to its state before it")
	return c
}

// trialAnswer is trial's answer (--json).
type trialAnswer struct {
	Unit     string             `json:"unit"`
	User     bool               `json:"user,omitempty"`
	Seconds  float64            `json:"seconds"`
	Records  int                `json:"records"`
	Lost     lostJSON           `json:"lost"`
	Calls    []trial.Call       `json:"calls"`
	Findings []diagnose.Finding `json:"findings"`
	Fix      *diagnose.Fix      `json:"fix,omitempty"`
	// Implicit are the calls an enforced implicit filter answered with its errno, seen through the
	// manager's log flag (Visible): the directive is responsible, not SystemCallFilter=.
	Implicit []trial.ImplicitHit `json:"implicit"`
	Visible  []fixes.Implicit    `json:"visible"`
	Unseen   []fixes.Implicit    `json:"unseen"`
	Relaxed  []fixes.Implicit    `json:"relaxed"`
	Warnings []string            `json:"warnings"`
	Notes    []string            `json:"notes"`
	Restored string              `json:"restored"`
	Verified string              `json:"write_verified,omitempty"`
	Tighten  *trial.Tighten      `json:"tighten,omitempty"`
	Rounds   int                 `json:"write_rounds,omitempty"`
	Source   string              `json:"source"`
}

func runTrial(ctx context.Context, stdout, stderr io.Writer, opts *trialOptions) error {
	name, err := unitName(opts.unit)
	if err != nil {
		return err
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		rt = fmt.Sprintf("/run/user/%d", os.Getuid())
	}
	path := trial.DropinPath(name, opts.user, rt)
	host := trial.Host{Manager: dbusManager{user: opts.user}, Files: hostFiles{}}
	if opts.abort {
		return abortTrial(stdout, host, name, opts.user, path)
	}
	leftErr := func() error {
		return failureErr(fmt.Errorf("a trial of %s is running, or one was left by a crash (%s)", name, path), "sysdiag trial --abort "+name+" removes it and restores the unit")
	}
	if _, err := os.Lstat(path); err == nil {
		return leftErr() // before reading the unit: the drop-in is in its files, and would be read as its filter
	}
	u, err := loadUnitLive(name, opts.user)
	if err != nil {
		return err
	}
	t, note, err := unitTable("", "", u, "")
	if err != nil {
		return err
	}
	f := fixes.Build(t, u.Assigns, fixes.LibseccompKnows)
	before := snapshot(name, opts.user) // the unit and what its start pulls in, to put each back
	state := before.Unit()
	// The log flag for the implicit filters' errno denials: the system manager's environment, v248+
	// (ManagerEnvironment=), unless it is on already. A user manager's is left alone (its only
	// configuration a user may write, ~/.config/systemd/user.conf, would hide /etc/systemd/user.conf).
	flagOn := !opts.user && trial.LogFlagOn(os.DirFS("/"))
	popts := trial.Options{Relax: opts.relax, Tighten: opts.tighten || opts.writeTighten, LogFlag: flagOn || (!opts.user && t.Version().Major >= 248), Kernel: kernelVersion()}
	plan, err := trial.NewPlan(f, fixes.Implicits(t, u.Assigns), popts, before.Encode())
	if err != nil {
		return notFoundErr(fmt.Errorf("%s: %w", name, err), "")
	}

	// The drop-in is the lock: created exclusively, a second trial of the unit is refused.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return failureErr(err, "trial needs root (or the user's own manager with --user)")
	}
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return leftErr()
	}
	if err != nil {
		return failureErr(err, "trial needs root (or the user's own manager with --user)")
	}
	_, werr := fd.WriteString(plan.Dropin)
	if cerr := fd.Close(); werr == nil {
		werr = cerr
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(stderr, "sysdiag: trial: %s\n", w)
	}
	ans := &trialAnswer{Unit: name, User: opts.user, Implicit: []trial.ImplicitHit{}, Visible: nonNil(plan.Visible), Unseen: nonNil(plan.Unseen),
		Relaxed: nonNil(plan.Relaxed), Warnings: plan.Warnings, Notes: []string{}}
	// Whatever happens from here on, the unit gets its filter back (and the manager its environment).
	restored, flagSet := false, false
	restore := func() {
		if restored {
			return
		}
		restored = true
		ans.Restored = host.Restore(ctx, name, path, before, flagSet)
	}
	defer restore()
	if werr != nil {
		return failureErr(werr, "")
	}
	if plan.LogErrno && !flagOn {
		if err := unitfile.WriteDropIn(trial.ManagerConfPath(name), trial.ManagerConf(true)); err != nil {
			return failureErr(fmt.Errorf("setting the manager's log flag for the trial: %w", err), "")
		}
		flagSet = true
	}

	// Follow the records before the unit starts: the watch machinery (multicast → journal → audit.log).
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan sourced, 4096)
	w := &watcher{opts: &watchOptions{source: "auto", auditLog: defaultAuditLog}, errw: stderr}
	stopWaiting := waitingFor(stderr, "the audit records' source")
	src, err := w.startSource(fctx, recs)
	stopWaiting()
	if err != nil {
		return err
	}
	ans.Source = src
	go w.watchLost(fctx) // the kernel's lost counter (read-only AUDIT_GET)
	programs := programsFinder("", u)(name, opts.user)
	start := time.Now()
	stopWaiting = waitingFor(stderr, "the manager's daemon-reload")
	err = host.Manager.Reload(context.Background())
	stopWaiting()
	if err != nil {
		return failureErr(fmt.Errorf("reloading the manager for the trial: %w", err), "")
	}
	// The start job, on a connection of its own that stays open until the job is done (a oneshot's
	// lasts as long as it runs): before that, "inactive" means not yet started.
	stopWaiting = waitingFor(stderr, "the manager to queue the restart of "+name)
	job, err := startJob(fctx, name, opts.user)
	stopWaiting()
	if err != nil {
		return failureErr(fmt.Errorf("starting %s for the trial: %w", name, err), "")
	}
	fmt.Fprintf(stderr, "sysdiag: trial of %s started (%s; %d calls logged instead of denied); ends when its processes exit%s, or Ctrl-C\n",
		name, src, plan.Logged, map[bool]string{true: ", or after " + opts.dur.String(), false: ""}[opts.dur > 0])

	fold := trial.NewFolder()
	claim := trial.NewClaim(name, opts.user, plan, programs)
	var deadline <-chan time.Time
	if opts.dur > 0 {
		deadline = time.After(opts.dur)
	}
	lastProgress := time.Now()
	tty := isTerminal(stderr)
	fl := follower{recs: recs, name: name, user: opts.user, start: start, deadline: deadline, job: job,
		keep: func(s sourced) bool { return claim.Mine(s.unit, s.rec) },
		tick: func() {
			if tty && time.Since(lastProgress) > 2*time.Second {
				lastProgress = time.Now()
				fmt.Fprintf(stderr, "sysdiag: trial: %s, %d records, %d calls\n", time.Since(start).Round(time.Second), fold.Records, len(fold.Calls()))
			}
		}}
	if fl.follow(ctx, fold) {
		ans.Notes = append(ans.Notes, "the trial was interrupted: the answer covers what ran until then")
	}
	cancel()
	ans.Seconds = time.Since(start).Seconds()
	w.mu.Lock()
	ans.Lost = lostJSON{Kernel: w.lostK, Userspace: w.lostU}
	w.mu.Unlock()
	if ans.Lost.Kernel > 0 || ans.Lost.Userspace > 0 {
		ans.Notes = append(ans.Notes, fmt.Sprintf("records were lost during the trial (kernel backlog: %d, netlink ENOBUFS: %d): the counts are lower bounds, and a call seen only in lost records is missing", ans.Lost.Kernel, ans.Lost.Userspace))
	}
	restore()

	if claim.Guessed > 0 {
		ans.Notes = append(ans.Notes, fmt.Sprintf("%d record(s) could not be tied to the unit by cgroup (the process was gone, or in another PID namespace): counted as the trial's, since they log calls of the trial's own SystemCallLog= set", claim.Guessed))
	}
	// The answer: every call, what blocks it, one fix for them all.
	ans.Records, ans.Calls = fold.Records, fold.Calls()
	if ans.Calls == nil {
		ans.Calls = []trial.Call{}
	}
	sorted := trial.Split(plan, f, fold.Violations(), syscalls.HostArch())
	forFilter, hits := sorted.Filter, sorted.Implicit
	for i := range ans.Calls {
		c := &ans.Calls[i]
		c.Allowed = slices.ContainsFunc(sorted.Used, func(v evidence.Violation) bool { return v.Name == c.Syscall && v.Arch.String() == c.Arch })
	}
	res := diagnose.Diagnose(u, f, t, note, &diagnose.Evidence{Violations: forFilter, Host: syscalls.HostArch()})
	ans.Findings, ans.Fix = res.Violations, res.Fix
	ans.Notes = append(ans.Notes, res.Notes...)
	for _, h := range hits {
		ans.Implicit = append(ans.Implicit, h)
		if h.Relaxed {
			ans.Notes = append(ans.Notes, fmt.Sprintf("%s: denied with %s by %s= (%s), turned off for the trial; letting it through means %s=no, which also gives back %s",
				h.Syscall, h.Errno, h.Directive, h.Where, h.Directive, h.Relaxing))
			continue
		}
		n := fmt.Sprintf("%s: answered %s by %s= (%s), kept enforced for the trial", h.Syscall, h.Errno, h.Directive, h.Where)
		if h.Condition != "" {
			n += " (" + h.Condition + ")"
		}
		n += "; SystemCallFilter= cannot let it through"
		if h.Relaxing != "" {
			n += "; " + h.Directive + "=no would, and also gives back " + h.Relaxing
		}
		ans.Notes = append(ans.Notes, n)
	}
	if len(forFilter)+len(hits) == 0 {
		ans.Notes = append(ans.Notes, "nothing the filter would block was called during the trial: for what it exercised, the filter is right")
	}
	// What can be tightened: the loose groups the unit never touched, on top of the fix.
	tightAfter := f
	if res.Fix != nil && len(res.Fix.Allow) > 0 {
		tightAfter = f.With(fixes.Assignment{Directive: "SystemCallFilter", Value: strings.Join(res.Fix.Allow, " ")})
	}
	if tg := trial.Tightening(plan, tightAfter, ans.Calls, syscalls.HostArch()); tg != nil {
		home := u.Home
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		tg.DropinPath = filepath.Join(unitfile.DropInDir(name, opts.user, home), trial.TightenName)
		ans.Tighten = tg
	}
	for _, im := range plan.Visible {
		if !slices.ContainsFunc(hits, func(h trial.ImplicitHit) bool { return h.Directive == im.Directive }) {
			ans.Notes = append(ans.Notes, im.Directive+"= stayed enforced, its denials logged: it denied nothing during the trial")
		}
	}
	if hits != nil && len(forFilter) == 0 {
		ans.Notes = append(ans.Notes, "SystemCallFilter= blocked nothing: every denial came from another directive's filter (above)")
	}

	// --write: the fix under the real filter, verified, rolled back if the unit is killed again.
	failed := false
	v := &trial.Verifier{Host: host, Unit: name, State: state, Verify: opts.verify, Rounds: opts.rounds,
		Watch: func(ctx context.Context) ([]evidence.Violation, error) {
			return watchKills(ctx, name, opts.user, claim, opts.verify)
		},
		Progress: func(msg string) { fmt.Fprintf(stderr, "sysdiag: trial: %s\n", msg) }}
	if opts.write && res.Fix != nil {
		vs := sorted.Filter
		fx := res.Fix
		var written bool
		ans.Verified, ans.Rounds, written, failed = v.Try(ctx, trial.Attempt{What: "the fix", Path: fx.DropinPath, Content: fx.Dropin,
			Next: func(kills []evidence.Violation) (string, string, bool) {
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
				next := diagnose.Diagnose(u, f, t, note, &diagnose.Evidence{Violations: vs, Host: syscalls.HostArch()}).Fix
				if next == nil {
					return "", strings.Join(added, " "), false
				}
				next.DropinPath, fx = fx.DropinPath, next
				return next.Dropin, "adding " + strings.Join(added, " "), true
			}})
		fx.Written = written
		ans.Fix = fx
	}
	if tg := ans.Tighten; tg != nil && opts.writeTighten && tg.Dropin != "" && !failed {
		groups := tg.Untouched
		var written, tfailed bool
		tg.Write, tg.Rounds, written, tfailed = v.Try(ctx, trial.Attempt{What: "the tightening", Path: tg.DropinPath, Content: tg.Dropin,
			Next: func(kills []evidence.Violation) (string, string, bool) {
				// A group with a call that killed it goes back to allowed; the rest stay denied.
				var keep, dropped []string
				for _, g := range groups {
					hit := false
					for _, k := range kills {
						hit = hit || slices.Contains(plan.Loose[g], k.Name)
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
				return tightAfter.Tighten(keep).DropIn, "allowing " + strings.Join(dropped, " ") + " again", true
			}})
		tg.Written = written
		if written {
			tg.Untouched = groups
			tg.Dropin = tightAfter.Tighten(groups).DropIn
		}
		failed = failed || tfailed
	}
	if opts.json {
		if err := writeJSON(stdout, ans); err != nil {
			return err
		}
	} else if err := printTrial(stdout, ans); err != nil {
		return err
	}
	if failed {
		return &cliError{exitFixFailed, fmt.Errorf("the fix did not hold: %s", ans.Verified), "the drop-in was put back as it was; run the trial again, longer (--for), to exercise the path that was missed"}
	}
	return nil
}

// managerDo runs fn on a connection to the manager (the user's with user), with a timeout.
func managerDo(ctx context.Context, user bool, fn func(ctx context.Context, c *sddbus.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := managerConn(ctx, user)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

// snapshot asks the manager for the state of the unit and of its neighbours (trial.Related): the sockets,
// paths and timers that can start it, and the units its start pulls in.
func snapshot(name string, user bool) trial.Snapshot {
	s := trial.Snapshot{{Name: name, Role: trial.RoleUnit}}
	_ = managerDo(context.Background(), user, func(ctx context.Context, c *sddbus.Conn) error {
		props := map[string][]string{}
		for _, p := range append([]string{"TriggeredBy"}, trial.PulledProps...) {
			if v, err := c.GetUnitPropertyContext(ctx, name, p); err == nil {
				if names, ok := v.Value.Value().([]string); ok {
					props[p] = names
				}
			}
		}
		s = append(s, trial.Related(name, props)...)
		for i := range s {
			if p, err := c.GetUnitPropertyContext(ctx, s[i].Name, "ActiveState"); err == nil {
				s[i].Active = strings.Trim(p.Value.String(), `"`)
			}
		}
		return nil
	})
	return s
}

// abortTrial is --abort: the library undoes what a crashed trial left (trial.Host.Abort).
func abortTrial(stdout io.Writer, host trial.Host, name string, user bool, path string) error {
	said, err := host.Abort(context.Background(), name, user, path, func() trial.Snapshot { return snapshot(name, user) })
	var none *trial.NoTrialError
	if errors.As(err, &none) {
		return notFoundErr(err, "")
	}
	if err != nil {
		return failureErr(err, "")
	}
	fmt.Fprintf(stdout, "%s\n", said)
	return nil
}

// dbusManager is trial.Manager on the unit's manager over D-Bus: a connection of its own, bounded by
// managerDo's timeout, for each question.
type dbusManager struct{ user bool }

func (m dbusManager) Reload(ctx context.Context) error {
	return managerDo(ctx, m.user, func(ctx context.Context, c *sddbus.Conn) error {
		return c.ReloadContext(ctx)
	})
}

func (m dbusManager) Job(ctx context.Context, op, unit string) error {
	return managerDo(ctx, m.user, func(ctx context.Context, c *sddbus.Conn) error {
		ch := make(chan string, 1)
		var err error
		switch op {
		case "restart":
			_, err = c.RestartUnitContext(ctx, unit, "replace", ch)
		case "stop":
			_, err = c.StopUnitContext(ctx, unit, "replace", ch)
		case "reset-failed":
			return c.ResetFailedUnitContext(ctx, unit)
		default:
			return fmt.Errorf("unknown job %q", op)
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

func (m dbusManager) ActiveState(ctx context.Context, unit string) string {
	st := ""
	_ = managerDo(ctx, m.user, func(ctx context.Context, c *sddbus.Conn) error {
		p, err := c.GetUnitPropertyContext(ctx, unit, "ActiveState")
		if err == nil {
			st = strings.Trim(p.Value.String(), `"`)
		}
		return err
	})
	return st
}

func (m dbusManager) Result(ctx context.Context, unit string) string {
	result := ""
	_ = managerDo(ctx, m.user, func(ctx context.Context, c *sddbus.Conn) error {
		p, err := c.GetUnitTypePropertyContext(ctx, unit, "Service", "Result")
		if err == nil {
			result = strings.Trim(p.Value.String(), `"`)
		}
		return err
	})
	return result
}

// hostFiles is trial.Files on this host's file system.
type hostFiles struct{}

func (hostFiles) ReadFile(path string) ([]byte, error)   { return os.ReadFile(path) }
func (hostFiles) WriteDropIn(path, content string) error { return unitfile.WriteDropIn(path, content) }
func (hostFiles) WriteFile(path string, data []byte) error {
	return os.WriteFile(path, data, 0o644)
}
func (hostFiles) Remove(path string) error { return os.Remove(path) }
func (hostFiles) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names, err
}

// kernelVersion is the running kernel's release as major.point.
func kernelVersion() syscalls.Version {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return syscalls.Version{}
	}
	return trial.ParseKernel(unix.ByteSliceToString(u.Release[:]))
}

// waitingFor says on stderr, once, when what takes longer than 5 s: a trial that
// waits says on what. The returned func stops the clock.
func waitingFor(w io.Writer, what string) func() {
	t := time.AfterFunc(5*time.Second, func() { fmt.Fprintf(w, "sysdiag: trial: still waiting for %s\n", what) })
	return func() { t.Stop() }
}

// startJob restarts the unit (its failed state reset) on a connection of its own that stays open until
// the job is done — a oneshot's lasts as long as it runs; the channel closes then.
func startJob(ctx context.Context, name string, user bool) (<-chan struct{}, error) {
	job, started := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(job)
		c, err := managerConn(ctx, user)
		if err != nil {
			started <- err
			return
		}
		defer c.Close()
		// The call itself is bounded (the job is queued at once); only the wait for the job is not.
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		_ = c.ResetFailedUnitContext(cctx, name)
		ch := make(chan string, 1)
		_, err = c.RestartUnitContext(cctx, name, "replace", ch)
		ccancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("the manager did not answer RestartUnit within 30 s")
		}
		started <- err
		if err == nil {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
	}()
	return job, <-started
}

// follower folds a unit's records (those keep takes) from its start until it has stopped for a second
// (its last records arrive late), the deadline (nil: none), or ctx ends.
type follower struct {
	recs     <-chan sourced
	name     string
	user     bool
	start    time.Time
	deadline <-chan time.Time
	job      <-chan struct{} // the start job: before it is done, "inactive" means not yet started
	keep     func(sourced) bool
	tick     func() // progress, every 300 ms
}

// follow runs until then and says whether ctx ended it.
func (f follower) follow(ctx context.Context, fold *trial.Folder) bool {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	var endedAt time.Time
	job := f.job
	for {
		select {
		case s, ok := <-f.recs:
			if !ok {
				return false
			}
			if !s.rec.Time.Before(f.start.Add(-time.Second)) && f.keep(s) {
				fold.Add(evidence.Merge([]audit.Record{s.rec}, nil, nil)[0])
			}
		case <-tick.C:
			if !endedAt.IsZero() && time.Since(endedAt) > time.Second {
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
			if endedAt.IsZero() {
				if st := (dbusManager{user: f.user}).ActiveState(context.Background(), f.name); st != "active" && st != "activating" && st != "deactivating" && st != "reloading" {
					endedAt = time.Now()
				}
			}
			if f.tick != nil {
				f.tick()
			}
		case <-f.deadline:
			return false
		case <-ctx.Done():
			return true
		}
	}
}

// watchKills is one --write round's run: the records followed, the unit started under its real filter
// (the reload is done) and watched for d or until it stops: the calls that killed it.
func watchKills(ctx context.Context, name string, user bool, claim *trial.Claim, d time.Duration) ([]evidence.Violation, error) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan sourced, 4096)
	w := &watcher{opts: &watchOptions{source: "auto", auditLog: defaultAuditLog}, errw: io.Discard}
	if _, err := w.startSource(fctx, recs); err != nil {
		return nil, err
	}
	start := time.Now()
	job, err := startJob(fctx, name, user)
	if err != nil {
		return nil, fmt.Errorf("the restart failed: %w", err)
	}
	fold := trial.NewFolder()
	fl := follower{recs: recs, name: name, user: user, start: start, deadline: time.After(d), job: job,
		keep: func(s sourced) bool { return s.rec.Action.IsKill() && claim.Mine(s.unit, s.rec) }}
	fl.follow(ctx, fold)
	return fold.Violations(), nil
}

func printTrial(w io.Writer, a *trialAnswer) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "trial of %s: %.1f s, %d records, %d call(s) the filter would have blocked\n", clean(a.Unit), a.Seconds, a.Records, len(a.Findings)+len(a.Implicit))
	if len(a.Findings)+len(a.Implicit) > 0 {
		tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CALL\tARCH\tCOUNT\tFIRST BY\tGROUP\tBLOCKED BY")
		seen := func(call, arch string) (int, string) {
			n, exe := 0, ""
			for _, c := range a.Calls {
				if c.Syscall == call && c.Arch == arch {
					n += c.Count
					if exe == "" {
						exe = fmt.Sprintf("%s (pid %d)", c.Exe, c.FirstPID)
					}
				}
			}
			return n, exe
		}
		for _, f := range a.Findings {
			n, exe := seen(f.Syscall, f.Arch)
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", f.Syscall, f.Arch, n, clean(exe), firstOr(f.Groups, "-"), clean(f.BlockedBy.Explain))
		}
		for _, h := range a.Implicit {
			n, exe := seen(h.Syscall, h.Arch)
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", h.Syscall, h.Arch, n, clean(exe), "-", clean(fmt.Sprintf("%s= (%s) answers %s", h.Directive, h.Where, h.Errno)))
		}
		tw.Flush()
	}
	if a.Fix != nil {
		var next string
		if a.Verified != "" {
			next = "--write: " + clean(a.Verified)
		}
		fv := fixOf("One fix for all of them", a.Fix)
		fv.Written = false // what --write did is its own line
		renderFix(bw, fv, orHint(" (or sysdiag trial --write)"), nextLine(next))
	}
	if tg := a.Tighten; tg != nil {
		var used []string
		for _, g := range tg.Watched {
			if len(tg.Used[g]) > 0 {
				used = append(used, g+" ("+strings.Join(tg.Used[g], " ")+")")
			}
		}
		switch {
		case len(tg.Untouched) == 0:
			fmt.Fprintf(bw, "\nNothing to tighten: the unit used a call of every group its filter leaves open (%s)\n", strings.Join(used, ", "))
		default:
			lead := []string{fmt.Sprintf("exposure of the SystemCallFilter rows: %.1f -> %.1f", tg.Before, tg.After)}
			if len(used) > 0 {
				lead = append(lead, "used, so left open: "+strings.Join(used, ", "))
			}
			next := "never written unless asked: sysdiag trial --write-tighten " + clean(a.Unit)
			if tg.Write != "" {
				next = "--write-tighten: " + clean(tg.Write)
			}
			renderFix(bw, fixView{Title: "Can be tightened", Verified: tg.Verified, Path: tg.DropinPath, Dropin: tg.Dropin},
				qualified("safe for what the trial exercised; ", ""), about("never touched "+strings.Join(tg.Untouched, " "), lead...),
				pathBelow(":"), nextLine(next))
		}
	}
	if len(a.Unseen) > 0 {
		fmt.Fprintf(bw, "\nNot seen by this trial (enforced, answering with an errno and no record):\n")
		for _, im := range a.Unseen {
			fmt.Fprintf(bw, "  %s\n", clean(im.Summary()))
		}
	}
	for _, n := range a.Notes {
		fmt.Fprintf(bw, "note: %s\n", clean(n))
	}
	fmt.Fprintf(bw, "restored: %s\n", clean(a.Restored))
	return bw.err
}

func nonNil(s []fixes.Implicit) []fixes.Implicit {
	if s == nil {
		return []fixes.Implicit{}
	}
	return s
}
