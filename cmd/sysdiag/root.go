package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/syscalls"
)

// run is main without the exit: it builds the command tree, runs it and maps the error to an exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	// `sysdiag nosuch --help`: cobra prints the root's help for a command it does not know and exits 0;
	// an unknown command is a usage error, whatever flags follow it.
	asksHelp := slices.Contains(args, "--help") || slices.Contains(args, "-h")
	if c, rest, err := root.Find(args); asksHelp && err == nil && c.HasSubCommands() && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") &&
		rest[0] != "help" && !strings.HasPrefix(rest[0], "__complete") {
		return report(stderr, usageErr(fmt.Errorf("unknown command %q for %q", rest[0], c.CommandPath()), fmt.Sprintf("see '%s --help' for the commands", c.CommandPath())))
	}
	return report(stderr, root.Execute())
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "sysdiag",
		Short: "Why was a systemd service killed by its seccomp filter, and what to change",
		Long: `sysdiag explains seccomp kills of systemd units (status=31/SYS): the blocked syscall with its
name, number, arch and @groups for the unit's systemd version, and the smallest SystemCallFilter=
change that lets the unit run.`,
		Example: `  $ sysdiag syscall 93 --arch x86_64 --systemd-version 252
  $ sysdiag syscall mseal --json
  $ sysdiag groups @chown`,
		Version: version(),
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr(fmt.Errorf("unknown command %q", args[0]), "see 'sysdiag --help' for the commands")
			}
			return nil
		},
		RunE:          func(c *cobra.Command, _ []string) error { return c.Help() },
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("sysdiag {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr(err, fmt.Sprintf("see '%s --help'", c.CommandPath()))
	})
	root.AddCommand(newSyscallCmd(), newGroupsCmd(), newEventsCmd(), newWhyCmd(), newWatchCmd(), newPostmortemCmd(), newTrialCmd(), newCheckCmd(), newGenManCmd())
	root.AddCommand(&cobra.Command{
		Use:   "exit-codes",
		Short: "What sysdiag's exit status means",
		Long:  exitCodesHelp,
		Run:   func(c *cobra.Command, _ []string) { fmt.Fprint(c.OutOrStdout(), exitCodesHelp) },
	})
	// Unknown subcommands and wrong argument counts are usage errors: `completion tcsh` too (a command
	// with subcommands otherwise takes any word and prints its help, exit 0).
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.HasSubCommands() {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
				}
				return nil
			}
			if !c.Runnable() { // cobra checks the arguments of runnable commands only
				c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
			}
		}
		wrapArgs(c)
	}
	return root
}

// wrapArgs turns cobra's argument-count errors into usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageErr(err, fmt.Sprintf("see '%s --help'", cmd.CommandPath()))
		}
		return nil
	}
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if release != "" {
		v = release // set by scripts/package.sh (-ldflags -X main.release=…)
	}
	parts := []string{v}
	if rev != "" && !strings.Contains(v, rev) {
		parts = append(parts, "("+rev+dirty+")")
	}
	var labels []string
	for _, t := range syscalls.Tables() {
		labels = append(labels, "v"+t.Label())
	}
	return strings.Join(parts, " ") + "\ngroup tables: " + strings.Join(labels, " ")
}

// release is the release version a package build stamps in; "" for a build from a clone.
var release string
