package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/render"
	"github.com/sysdiag/sysdiag/syscalls"
)

func newSyscallCmd() *cobra.Command {
	var arch, systemdVersion string
	var asJSON bool
	c := &cobra.Command{
		Use:   "syscall NAME|NUMBER",
		Short: "Look a syscall up: numbers per arch, @groups, @default, history, security rows",
		Long: `Look a syscall up the way an admin needs it when a unit dies: its number on every arch, every
@group that contains it (smallest first, directly or through nesting) for a systemd version, whether
@default has it, how its groups changed across systemd releases, and which 'systemd-analyze security'
rows allowing it would flip. The reverse of 'systemd-analyze syscall-filter'.

A NUMBER is resolved for --arch (the arch= of the audit record); without --arch it means the host's
arch, and the answer says so. --systemd-version defaults to the local systemd.`,
		Example: `  $ sysdiag syscall 93 --arch x86_64 --systemd-version 252
  $ sysdiag syscall fchown --arch i386
  $ sysdiag syscall 41 --arch c000003e
  $ sysdiag syscall mseal --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			t, note, err := systemdTable(systemdVersion)
			if err != nil {
				return err
			}
			res, err := syscalls.Lookup(args[0], arch, t, note)
			if err != nil {
				return queryErr(err)
			}
			if asJSON {
				return render.JSON(c.OutOrStdout(), res)
			}
			return render.Syscall(c.OutOrStdout(), res)
		},
	}
	c.Flags().StringVar(&arch, "arch", "", "audit arch of the number: x86_64, i386, aarch64, arm, riscv64, ppc64le, ppc64, s390x, loongarch64, or its hex (c000003e)")
	c.Flags().StringVar(&systemdVersion, "systemd-version", "", "systemd version whose @groups to use (default: the local systemd)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.RegisterFlagCompletionFunc("arch", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, a := range syscalls.Arches() {
			out = append(out, a.String())
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	c.ValidArgsFunction = func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range syscalls.AllNames() {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	return c
}

// queryErr gives the syscalls tables' query errors their exit status: nothing answers 1, unreadable 2.
func queryErr(err error) error {
	var qe *syscalls.QueryError
	switch {
	case !errors.As(err, &qe):
		return err
	case qe.NotFound:
		return notFoundErr(qe, qe.Hint)
	}
	return usageErr(qe, qe.Hint)
}
