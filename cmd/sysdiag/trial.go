package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/internal/trial"
	"github.com/sysdiag/sysdiag/internal/unit"
)

// trialOptions are trial's flags: the run's choices (--user, --for, --write, …) and how it is shown.
type trialOptions struct {
	trial.RunOptions
	json  bool
	abort bool
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
			opts.Unit = args[0]
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTrial(ctx, c.OutOrStdout(), c.ErrOrStderr(), opts)
		},
	}
	c.ValidArgsFunction = unitCompleter(&opts.User, nil)
	c.Flags().BoolVar(&opts.User, "user", false, "a unit of the calling user's manager (systemctl --user)")
	c.Flags().DurationVar(&opts.For, "for", 0, "end the trial after this long (default: when the unit's processes exit, or Ctrl-C)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.Flags().BoolVar(&opts.Write, "write", false, "write the fix, restart under the real filter, and roll back if it is killed again")
	c.Flags().DurationVar(&opts.Verify, "verify", 10*time.Second, "with --write: how long the unit must run (or until it exits) without a kill")
	c.Flags().BoolVar(&opts.Tighten, "tighten", true, "also watch the groups behind systemd-analyze security's open SystemCallFilter=~@… rows, to say which the unit never uses")
	c.Flags().BoolVar(&opts.WriteTighten, "write-tighten", false, "write the drop-in denying the groups the unit never used, restart under it and roll back if it is killed")
	c.Flags().IntVar(&opts.Rounds, "rounds", 3, "with --write: how many times a new kill under the fix is added to it and tried again before rolling back")
	c.Flags().BoolVar(&opts.Relax, "relax-implicit", false, "also turn ProtectClock= & co. off and log their calls (gives back their capabilities and mounts: not a dry run)")
	c.Flags().BoolVar(&opts.abort, "abort", false, "remove a trial's drop-in left by a crash and bring the unit back to its state before it")
	return c
}

// runTrial wires this host in (D-Bus, files, live records, kernel), runs the trial or --abort, renders.
func runTrial(ctx context.Context, stdout, stderr io.Writer, opts *trialOptions) error {
	name, err := unitName(opts.Unit)
	if err != nil {
		return err
	}
	o := opts.RunOptions
	o.Unit, o.RuntimeDir, o.Progress = name, trial.RuntimeDir(), render.IsTerminal(stderr)
	say := func(line string) { fmt.Fprintf(stderr, "sysdiag: %s\n", line) }
	env := trial.Env{Host: trial.Host{Manager: trial.Bus{User: o.User}, Files: trial.LocalFiles{}}, Starter: trial.Bus{User: o.User},
		Source: &trial.Live{AuditLog: defaultAuditLog, InitialPIDNamespace: initialPIDNamespace(), Say: say},
		Load: func() (*trial.Subject, error) {
			u, err := unit.Manager{}.Load(name, o.User)
			if err != nil {
				return nil, cliErr(err)
			}
			c, err := tables.Choose(unit.Target{Unit: u, Here: true})
			if err != nil {
				return nil, cliErr(err)
			}
			home, _ := os.UserHomeDir() // the manager names no home: a user unit's is the caller's
			return &trial.Subject{Unit: u, Table: c.Table, TableNote: c.Note, Known: c.Known,
				Programs: unit.Tree{Dir: "/"}.Programs(u)(name, o.User), Home: home}, nil
		},
		Root: os.DirFS("/"), Kernel: trial.RunningKernel(), Say: say}
	if opts.abort {
		said, err := env.Abort(ctx, o)
		if err == nil {
			fmt.Fprintf(stdout, "%s\n", said)
		}
		return trialErr(name, err)
	}
	ans, err := trial.Run(ctx, env, o)
	if err != nil {
		return trialErr(name, err)
	}
	if opts.json {
		err = render.JSON(stdout, ans)
	} else {
		err = render.Trial(stdout, ans)
	}
	if err != nil {
		return err
	}
	if ans.Failed {
		return &cliError{exitFixFailed, fmt.Errorf("the fix did not hold: %s", ans.Verified), "the drop-in was put back as it was; run the trial again, longer (--for), to exercise the path that was missed"}
	}
	return nil
}

// trialErr is a trial's error for a person: its exit status and hint (nil stays nil).
func trialErr(name string, err error) error {
	var ce *cliError
	var ue *unit.Error
	switch {
	case err == nil, errors.As(err, &ce):
		return err
	case errors.As(err, &ue): // the manager's connection: unit's status and hint, what the trial was doing
		return &cliError{cliErr(ue).(*cliError).code, err, ue.Hint}
	case errors.As(err, new(*trial.BusyError)):
		return failureErr(err, "sysdiag trial --abort "+name+" removes it and restores the unit")
	case errors.As(err, new(*trial.NothingError)), errors.As(err, new(*trial.NoTrialError)):
		return notFoundErr(err, "")
	case errors.As(err, new(*trial.LockError)):
		return failureErr(err, "trial needs root (or the user's own manager with --user)")
	case errors.As(err, new(*trial.NoSourceError)):
		return failureErr(err, "run as root")
	}
	return failureErr(err, "")
}
