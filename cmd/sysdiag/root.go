package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/dist"
	"github.com/sysdiag/sysdiag/internal/render"
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
		Example: `  $ sysdiag why nginx.service                      # the last kill of a unit, the line, the fix
  $ sysdiag postmortem --since "10 min ago"        # every unit killed since a deploy (exit 4 if any)
  $ sysdiag trial nginx.service --for 60s          # one run with the filter logging: every call at once`,
		Version: dist.Version(release),
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
	// The commands by what the user is doing, the main jobs first (as gh and systemctl group theirs).
	cobra.EnableCommandSorting = false
	root.SetUsageTemplate(render.UsageTemplate)
	root.AddGroup(&cobra.Group{ID: "diagnose", Title: "Diagnose a kill:"}, &cobra.Group{ID: "ahead", Title: "Fix ahead of a kill:"},
		&cobra.Group{ID: "lookup", Title: "Look up:"})
	for _, g := range []struct {
		id   string
		cmds []*cobra.Command
	}{
		{"diagnose", []*cobra.Command{newWhyCmd(), newPostmortemCmd(), newEventsCmd(), newWatchCmd()}},
		{"ahead", []*cobra.Command{newTrialCmd(), newCheckCmd()}},
		{"lookup", []*cobra.Command{newSyscallCmd(), newGroupsCmd()}},
	} {
		for _, c := range g.cmds {
			c.GroupID = g.id
			root.AddCommand(c)
		}
	}
	root.AddCommand(newGenManCmd())
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

// release is the release version a package build stamps in; "" for a build from a clone.
var release string
