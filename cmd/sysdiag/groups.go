package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/syscalls"
)

func newGroupsCmd() *cobra.Command {
	var systemdVersion string
	var asJSON bool
	c := &cobra.Command{
		Use:   "groups [@GROUP]",
		Short: "Print systemd's syscall groups for a systemd version, like 'systemd-analyze syscall-filter'",
		Long: `Print the @groups of SystemCallFilter= as the chosen systemd version defines them, in the format of
'systemd-analyze syscall-filter': help text, then members in systemd's order, nested groups as written.
--systemd-version defaults to the local systemd; tables exist for v245 to v261.2 and Debian's 252.38
and 252.39, and a version without its own table uses the nearest lower one.`,
		Example: `  $ sysdiag groups @chown
  $ sysdiag groups --systemd-version 257 @default
  $ sysdiag groups --json @network-io`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			t, note, err := systemdTable(systemdVersion)
			if err != nil {
				return err
			}
			groups, err := syscalls.LookupGroups(t, render.FirstOr(args, ""))
			if err != nil {
				return queryErr(err)
			} else if asJSON {
				return render.JSON(c.OutOrStdout(), render.GroupsOf(t, note, groups))
			}
			fmt.Fprintf(c.ErrOrStderr(), "# %s\n", note)
			return render.SyscallFilter(c.OutOrStdout(), groups)
		},
	}
	c.Flags().StringVar(&systemdVersion, "systemd-version", "", "systemd version whose @groups to print (default: the local systemd)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return syscalls.Latest().GroupNames(), cobra.ShellCompDirectiveNoFileComp
	}
	return c
}
