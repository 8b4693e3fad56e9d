package main

import (
	"os"

	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/syscalls"
)

// tables chooses each host's group table, asking this machine's systemctl at most once.
var tables = unit.NewChooser(unit.ThisMachine())

// systemdTable picks the group table for --systemd-version, or for the local systemd when the flag is
// empty, or the newest table when there is no local systemd. note says which table answered and why.
func systemdTable(flag string) (syscalls.Table, string, error) {
	c, err := tables.Choose(unit.Target{Flag: flag})
	return c.Table, c.Note, cliErr(err)
}

// initialPIDNamespace reports whether sysdiag runs in the kernel's initial PID namespace, whose pids the
// audit records name (its /proc/self/ns/pid is always inode PROC_PID_INIT_INO, 0xEFFFFFFC). In a
// container the local journal's and the manager's pids are the container's own. Unknown counts as yes.
func initialPIDNamespace() bool {
	l, err := os.Readlink("/proc/self/ns/pid")
	return err != nil || l == "pid:[4026531836]"
}
