package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/syscalls"
)

type groupsOptions struct {
	group          string
	systemdVersion string
	json           bool
}

func newGroupsCmd() *cobra.Command {
	opts := &groupsOptions{}
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
			if len(args) == 1 {
				opts.group = args[0]
			}
			t, note, err := systemdTable(opts.systemdVersion)
			if err != nil {
				return err
			}
			return runGroups(c.OutOrStdout(), c.ErrOrStderr(), opts, t, note)
		},
	}
	c.Flags().StringVar(&opts.systemdVersion, "systemd-version", "", "systemd version whose @groups to print (default: the local systemd)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, g := range syscalls.Latest().Groups() {
			out = append(out, g.Name)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	return c
}

type groupJSON struct {
	Name     string       `json:"name"`
	Help     string       `json:"help"`
	Members  []memberJSON `json:"members"`
	Expanded []string     `json:"expanded"`
}

type memberJSON struct {
	Name      string `json:"name"`
	Condition string `json:"condition,omitempty"`
}

type groupsResult struct {
	SystemdVersion string      `json:"systemd_version"`
	Table          string      `json:"table"`
	TableExact     bool        `json:"table_exact"`
	TableNote      string      `json:"table_note"`
	Groups         []groupJSON `json:"groups"`
}

func runGroups(stdout, stderr io.Writer, opts *groupsOptions, t syscalls.Table, note string) error {
	groups := t.Groups()
	if opts.group != "" {
		g, ok := t.Group(opts.group)
		if !ok {
			var names []string
			for _, g := range groups {
				names = append(names, g.Name)
			}
			return notFoundErr(fmt.Errorf("systemd v%s has no group %s", t.Label(), opts.group),
				"groups: "+strings.Join(names, " "))
		}
		groups = []syscalls.Group{g}
	}
	if opts.json {
		res := groupsResult{SystemdVersion: t.Requested.String(), Table: t.Label(), TableExact: t.Exact(), TableNote: note}
		for _, g := range groups {
			gj := groupJSON{Name: g.Name, Help: g.Help, Expanded: g.Expanded, Members: []memberJSON{}}
			for _, m := range g.Members {
				gj.Members = append(gj.Members, memberJSON{m.Name, m.Cond})
			}
			res.Groups = append(res.Groups, gj)
		}
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stderr, "# %s\n", note)
	return writeSyscallFilter(stdout, groups)
}

// writeSyscallFilter prints groups exactly as `systemd-analyze syscall-filter` does (without its
// computed "Ungrouped" and "Unlisted" trailers). Conditional members are printed as the table has them.
func writeSyscallFilter(w io.Writer, groups []syscalls.Group) error {
	bw := &errWriter{w: w}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		fmt.Fprintf(bw, "%s\n    # %s\n", g.Name, g.Help)
		for _, m := range g.Members {
			fmt.Fprintf(bw, "    %s\n", m.Name)
		}
	}
	return bw.err
}
