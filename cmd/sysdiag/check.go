package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/check"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

type checkOptions struct {
	unit, root, systemdVersion, exec, programsRoot string
	user, json, write, cache, possible             bool
	filters                                        []string
}

// exitPredicted is check's status when it predicts calls the filter blocks (like postmortem's 4).
const exitPredicted = 4

func newCheckCmd() *cobra.Command {
	opts := &checkOptions{}
	c := &cobra.Command{
		Use:   "check UNIT | check --exec PATH --filter VALUE",
		Short: "Predict, before it runs, which calls of a unit's programs its seccomp filter would block",
		Long: `Predict a unit's seccomp kills before it ever runs: the programs of its ExecStart*=, ExecStop*=,
ExecReload= and ExecCondition= lines (a "#!" script's interpreter; the plain commands of "sh -c '…'"), the
system calls each can make — the syscall instructions of its own code with their numbers, and for every
symbol it imports from a shared library the calls that function reaches through the library's call
graph (found by disassembling the libraries it loads, under --root too) — and which of them the unit's
filter blocks: SystemCallFilter= for the unit's systemd version, and the filters of ProtectClock= & co.

A call reached from the program's own code, its start-up or an imported function's own body is
"likely"; one reached only through deeper library code is "possible". The fix is proposed for the likely
ones (--possible: all), verified against libseccomp-built BPF like why's, and marked as a prediction:
never written unless --write. Nothing is run.

What it cannot see: dlopen()ed libraries, JITs, syscall(2) with a computed number (counted), the
commands of a script, indirect calls through function pointers inside libraries, and code other than
x86-64 (named, never guessed).

A prediction covers only what was analysed. A program, a library it needs or its dynamic loader that
could not be — not found under the root, not an ELF file, another architecture's code, or too large —
is listed with the reason ("not_analysed" in --json, with "incomplete": true), and its calls are not
counted. Too large: a file with more than 64 MiB of code (its executable sections), more than 64 MiB of
symbol and relocation tables, or more than a million functions; these bounds keep one file's analysis
to a few hundred MiB of memory (libLLVM.so.19.1, 56 MiB of code, takes about 230 MiB and 15 s).

Exit status: 4 when something is predicted blocked (even if the prediction is incomplete: what was
found is found); else 6 when something could not be analysed (incomplete: the prediction covers only
what was — or none of the programs could be); else 0 — nothing analysed is blocked, and everything
was analysed. 1 when the unit has no Exec*= program; 2/3 as for every command.`,
		Example: `  $ sysdiag check nginx.service
  $ sysdiag check remote-ssh-agent.service --root /srv/host1 --systemd-version 252.39
  $ sysdiag check --exec /usr/bin/ncat --filter @system-service --filter '~@network-io'`,
		Args: func(c *cobra.Command, args []string) error {
			if opts.exec != "" {
				return cobra.NoArgs(c, args)
			}
			return cobra.ExactArgs(1)(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.unit = args[0]
			}
			return runCheck(c.OutOrStdout(), c.ErrOrStderr(), opts)
		},
	}
	c.ValidArgsFunction = unitCompleter(&opts.user, &opts.root)
	c.Flags().StringVar(&opts.root, "root", "", "read the unit and its programs and libraries under this directory")
	c.Flags().BoolVar(&opts.user, "user", false, "a unit of the calling user's manager")
	c.Flags().StringVar(&opts.systemdVersion, "systemd-version", "", "the target's systemd version (default: the manager's, the tree's, or this machine's)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.Flags().BoolVar(&opts.write, "write", false, "write the predicted fix as why --write would")
	c.Flags().StringVar(&opts.exec, "exec", "", "analyse this program instead of a unit's (with --filter)")
	c.Flags().StringArrayVar(&opts.filters, "filter", nil, "with --exec: a SystemCallFilter= value, repeatable, in order")
	c.Flags().BoolVar(&opts.cache, "cache", false, "keep the libraries' summaries by build-id in $XDG_CACHE_HOME/sysdiag/scan (written only with this flag)")
	c.Flags().StringVar(&opts.programsRoot, "programs-root", "", "read the programs and libraries under this directory instead of --root (a tree of unit files only: --programs-root /)")
	c.Flags().BoolVar(&opts.possible, "possible", false, "propose a fix for the possible calls too, not only the likely ones")
	_ = c.MarkFlagFilename("exec")
	_ = c.MarkFlagDirname("root")
	return c
}

func runCheck(stdout, stderr io.Writer, opts *checkOptions) error {
	// --root and --systemd-version as every command reads them: DIR or HOST=DIR, V or HOST=V (one host here).
	dir, version, err := oneHost(opts.root, opts.systemdVersion)
	if err == nil && opts.programsRoot != "" {
		err = cliErr(unit.CheckDir("--programs-root", opts.programsRoot))
	}
	if err != nil {
		return err
	}
	fsys, err := unitfile.OpenRoot(rootOrSlash(dir))
	if err != nil {
		return failureErr(err, "")
	}
	defer fsys.Close()
	u, targets, err := checkTargets(stderr, fsys, dir, opts)
	if err != nil {
		return checkErr(err)
	}
	choice, err := tables.Choose(unit.Target{Flag: version, Unit: u, Root: dir, Here: dir == ""})
	if err != nil {
		return cliErr(err)
	}
	subject, err := check.NewSubject(u, choice.Table, choice.Note, choice.Known, opts.exec != "")
	if err != nil {
		return checkErr(err)
	}
	// The programs, each scanned with its libraries (each library once), under --programs-root if given.
	sc := check.Scan{FS: fsys, Warn: func(err error) { fmt.Fprintf(stderr, "sysdiag: check: the cache was not written: %v\n", err) }}
	if render.IsTerminal(stderr) {
		sc.Progress = func(p string) {
			fmt.Fprintf(stderr, "sysdiag: check: scanning %s and its libraries…\n", render.Clean(p))
		}
	}
	if opts.programsRoot != "" {
		pfs, err := unitfile.OpenRoot(opts.programsRoot)
		if err != nil {
			return failureErr(err, "")
		}
		defer pfs.Close()
		sc.FS, targets = pfs, check.Retarget(pfs, targets)
	}
	if opts.cache {
		dir, err := check.DefaultCacheDir()
		if err != nil {
			return usageErr(err, "")
		}
		sc.Cache = &check.Cache{Dir: dir}
	}
	ans, err := sc.Analyse(subject, targets)
	if err != nil {
		return checkErr(err)
	}
	ans.Predict(syscalls.HostArch(), opts.possible)
	if opts.write && ans.Fix != nil && u.Files != nil {
		if err := writeFix(dir, ans.Fix); err != nil {
			return err
		}
	}
	if opts.json {
		err = render.JSON(stdout, ans)
	} else {
		err = render.Check(stdout, ans)
	}
	if err == nil {
		err = ans.Status(dir != "" && opts.programsRoot == "")
	}
	return checkErr(err)
}

// checkTargets is the unit check is about and the programs it runs: --exec's, or the unit's Exec*= lines.
func checkTargets(stderr io.Writer, fsys *unitfile.Root, dir string, opts *checkOptions) (*diagnose.Unit, []check.Target, error) {
	if p := opts.exec; p != "" {
		if abs, err := filepath.Abs(p); err == nil && dir == "" && !filepath.IsAbs(p) {
			p = abs
		}
		return check.ExecUnit(fsys, p, opts.filters)
	}
	name, err := unitName(opts.unit)
	if err != nil {
		return nil, nil, err
	}
	u, err := loadUnit(dir, name, opts.user)
	if err != nil {
		return nil, nil, err
	}
	ts, skipped, err := check.UnitTargets(fsys, u)
	for _, s := range skipped {
		fmt.Fprintf(stderr, "sysdiag: %s\n", s)
	}
	return u, ts, err
}

// checkErr gives check's errors, and its answers a pipeline stops on, their exit status.
func checkErr(err error) error {
	var ce *check.Error
	if !errors.As(err, &ce) {
		return err
	}
	code := [...]int{check.StatusUsage: exitUsage, check.StatusNotFound: exitNotFound, check.StatusFailure: exitFailure,
		check.StatusPredicted: exitPredicted, check.StatusIncomplete: exitIncomplete}
	return &cliError{code[ce.Status], ce, ce.Hint}
}
