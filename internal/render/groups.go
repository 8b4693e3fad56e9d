package render

import (
	"fmt"
	"io"

	"github.com/sysdiag/sysdiag/syscalls"
)

// GroupsView is `sysdiag groups --json`: the table that answered, and its groups as systemd lists them.
type GroupsView struct {
	SystemdVersion string      `json:"systemd_version"`
	Table          string      `json:"table"`
	TableExact     bool        `json:"table_exact"`
	TableNote      string      `json:"table_note"`
	Groups         []GroupView `json:"groups"`
}

// GroupView is one group: its help, members in systemd's order, and every plain name it holds.
type GroupView struct {
	Name     string       `json:"name"`
	Help     string       `json:"help"`
	Members  []MemberView `json:"members"`
	Expanded []string     `json:"expanded"`
}

// MemberView is a group's entry, with its compile-time condition.
type MemberView struct {
	Name      string `json:"name"`
	Condition string `json:"condition,omitempty"`
}

// GroupsOf is the view of groups of table t, chosen as note says.
func GroupsOf(t syscalls.Table, note string, groups []syscalls.Group) GroupsView {
	v := GroupsView{SystemdVersion: t.Requested.String(), Table: t.Label(), TableExact: t.Exact(), TableNote: note}
	for _, g := range groups {
		gv := GroupView{Name: g.Name, Help: g.Help, Expanded: g.Expanded, Members: []MemberView{}}
		for _, m := range g.Members {
			gv.Members = append(gv.Members, MemberView{m.Name, m.Cond})
		}
		v.Groups = append(v.Groups, gv)
	}
	return v
}

// SyscallFilter prints groups exactly as `systemd-analyze syscall-filter` does (without its computed
// "Ungrouped" and "Unlisted" trailers). Conditional members are printed as the table has them.
func SyscallFilter(w io.Writer, groups []syscalls.Group) error {
	bw := &ErrWriter{W: w}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		fmt.Fprintf(bw, "%s\n    # %s\n", g.Name, g.Help)
		for _, m := range g.Members {
			fmt.Fprintf(bw, "    %s\n", m.Name)
		}
	}
	return bw.Err
}
