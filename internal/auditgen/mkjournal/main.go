// Command mkjournal writes a journal export of a busy host for benchmarks; pipe it into
// systemd-journal-remote to make a journal file:
//
//	go run ./internal/auditgen/mkjournal -n 1000000 -unit remote-ssh-agent.service | \
//	  /lib/systemd/systemd-journal-remote -o /tmp/bench.journal -
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sysdiag/sysdiag/internal/auditgen"
)

func main() {
	n := flag.Int("n", 1000000, "entries")
	unit := flag.String("unit", "remote-ssh-agent.service", "the unit killed at the end")
	start := flag.Int64("start", 1795300000, "first timestamp (Unix seconds)")
	flag.Parse()
	if err := auditgen.GenerateExport(os.Stdout, auditgen.JournalOptions{Entries: *n, Start: *start, Unit: *unit, Seed: 1}); err != nil {
		fmt.Fprintln(os.Stderr, "mkjournal:", err)
		os.Exit(1)
	}
}
