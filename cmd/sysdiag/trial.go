package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/sources"
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

func runTrial(ctx context.Context, stdout, stderr io.Writer, opts *trialOptions) error {
	name, err := unitName(opts.unit)
	if err != nil {
		return err
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		rt = fmt.Sprintf("/run/user/%d", os.Getuid())
	}
	o := trial.RunOptions{Unit: name, User: opts.user, RuntimeDir: rt, For: opts.dur, Relax: opts.relax, Tighten: opts.tighten,
		Write: opts.write, WriteTighten: opts.writeTighten, Verify: opts.verify, Rounds: opts.rounds, Progress: isTerminal(stderr)}
	m := dbusManager{user: opts.user}
	env := trial.Env{Host: trial.Host{Manager: m, Files: hostFiles{}}, Starter: m, Source: &liveSource{errw: stderr},
		Load: func() (*trial.Subject, error) {
			u, err := loadUnitLive(name, opts.user)
			if err != nil {
				return nil, err
			}
			t, note, err := unitTable("", "", u, "")
			if err != nil {
				return nil, err
			}
			home := u.Home
			if home == "" {
				home, _ = os.UserHomeDir()
			}
			return &trial.Subject{Unit: u, Table: t, TableNote: note, Programs: programsFinder("", u)(name, opts.user), Home: home}, nil
		},
		Root: os.DirFS("/"), Kernel: kernelVersion(),
		Say: func(line string) { fmt.Fprintf(stderr, "sysdiag: %s\n", line) }}
	if opts.abort {
		said, err := env.Abort(ctx, o)
		if err != nil {
			return trialErr(name, err)
		}
		fmt.Fprintf(stdout, "%s\n", said)
		return nil
	}
	ans, err := trial.Run(ctx, env, o)
	if err != nil {
		return trialErr(name, err)
	}
	if opts.json {
		err = writeJSON(stdout, ans)
	} else {
		err = printTrial(stdout, ans)
	}
	if err != nil {
		return err
	}
	if ans.Failed {
		return &cliError{exitFixFailed, fmt.Errorf("the fix did not hold: %s", ans.Verified), "the drop-in was put back as it was; run the trial again, longer (--for), to exercise the path that was missed"}
	}
	return nil
}

// trialErr is a trial's error for a person: its exit status and hint.
func trialErr(name string, err error) error {
	var (
		ce      *cliError
		busy    *trial.BusyError
		nothing *trial.NothingError
		none    *trial.NoTrialError
		lock    *trial.LockError
	)
	switch {
	case errors.As(err, &ce):
		return err
	case errors.As(err, &busy):
		return failureErr(err, "sysdiag trial --abort "+name+" removes it and restores the unit")
	case errors.As(err, &nothing), errors.As(err, &none):
		return notFoundErr(err, "")
	case errors.As(err, &lock):
		return failureErr(err, "trial needs root (or the user's own manager with --user)")
	}
	return failureErr(err, "")
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

// dbusManager is trial.Manager and trial.Starter on the unit's manager over D-Bus: a connection of its
// own, bounded by managerDo's timeout, for each question.
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

func (m dbusManager) Deps(ctx context.Context, unit string) map[string][]string {
	props := map[string][]string{}
	_ = managerDo(ctx, m.user, func(ctx context.Context, c *sddbus.Conn) error {
		for _, p := range append([]string{"TriggeredBy"}, trial.PulledProps...) {
			if v, err := c.GetUnitPropertyContext(ctx, unit, p); err == nil {
				if names, ok := v.Value.Value().([]string); ok {
					props[p] = names
				}
			}
		}
		return nil
	})
	return props
}

// Start restarts the unit (its failed state reset) on a connection of its own that stays open until
// the job is done — a oneshot's lasts as long as it runs; the channel closes then.
func (m dbusManager) Start(ctx context.Context, unit string) (<-chan struct{}, error) {
	job, started := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(job)
		c, err := managerConn(ctx, m.user)
		if err != nil {
			started <- err
			return
		}
		defer c.Close()
		// The call itself is bounded (the job is queued at once); only the wait for the job is not.
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		_ = c.ResetFailedUnitContext(cctx, unit)
		ch := make(chan string, 1)
		_, err = c.RestartUnitContext(cctx, unit, "replace", ch)
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

func (hostFiles) Create(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, werr := fd.WriteString(content)
	if cerr := fd.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
	}
	return werr
}

// liveSource is trial.Source on this host's live seccomp records (sources.OpenLive: the audit multicast
// group, else journald's audit transport, else audit.log), each with its process's cgroup read as it
// arrives. The trial's own run (not quiet) says and counts the records the host lost.
type liveSource struct{ errw io.Writer }

func (l *liveSource) Follow(ctx context.Context, quiet bool) (trial.Feed, error) {
	var (
		mu   sync.Mutex
		lost trial.Lost
	)
	onLoss := func(x sources.Loss) {
		mu.Lock()
		lost.Kernel += x.Kernel
		lost.Userspace += x.Overflows
		mu.Unlock()
		if x.Overflows > 0 {
			fmt.Fprintln(l.errw, "sysdiag: the netlink receive buffer overflowed (ENOBUFS): records were lost; continuing")
		}
		if x.Kernel > 0 {
			fmt.Fprintf(l.errw, "sysdiag: the kernel dropped %d audit records (backlog full)\n", x.Kernel)
		}
	}
	plan := sources.FollowPlan{Source: "auto", AuditLog: defaultAuditLog}
	if !quiet {
		plan.OnLoss = onLoss
	}
	live, err := sources.OpenLive(plan)
	if err != nil {
		return trial.Feed{}, failureErr(err, "run as root")
	}
	cgroups := attribute.NewCgroups(os.DirFS("/proc"), nil, initialPIDNamespace())
	recs := make(chan trial.Record, 4096)
	go func() {
		defer close(recs)
		_ = live.Run(ctx, func(r audit.Record) {
			rec := trial.Record{Rec: r}
			if live.Local {
				rec.Unit, _ = cgroups.Read(r.PID)
			}
			select {
			case recs <- rec:
			case <-ctx.Done():
			}
		})
	}()
	feed := trial.Feed{Records: recs, Name: live.String()}
	if !quiet {
		go sources.WatchLost(ctx, onLoss) // the kernel's lost counter (read-only AUDIT_GET)
		feed.Lost = func() trial.Lost {
			mu.Lock()
			defer mu.Unlock()
			return lost
		}
	}
	return feed, nil
}

// kernelVersion is the running kernel's release as major.point.
func kernelVersion() syscalls.Version {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return syscalls.Version{}
	}
	return trial.ParseKernel(unix.ByteSliceToString(u.Release[:]))
}

func printTrial(w io.Writer, a *trial.Answer) error {
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
