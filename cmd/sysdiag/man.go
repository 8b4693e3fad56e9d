package main

import (
	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/dist"
)

// newGenManCmd writes the man pages from the command tree (internal/dist; TestManPagesCurrent keeps the
// checked-in ones current, scripts/package.sh puts them in the .deb).
func newGenManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR CHANGELOG",
		Short:  "Write the man pages (for packaging)",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return dist.WriteMan(c.Root(), args[0], args[1], exitCodesHelp)
		},
	}
}
