package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Syscall writes `sysdiag syscall`'s answer: the number on the arch asked (or assumed), every arch's
// number, the groups smallest first, @default, the history and the security rows.
func Syscall(w io.Writer, r *syscalls.Answer) error {
	bw := &ErrWriter{W: w}
	if r.Number != nil {
		fmt.Fprintf(bw, "%s: syscall %d on %s (audit arch %s)", r.Syscall, *r.Number, r.Arch, r.AuditArch)
		if r.ArchAssumed {
			fmt.Fprintf(bw, " — the host's arch; pass --arch with the record's arch=")
		}
		fmt.Fprintln(bw)
		if r.RelatedName != "" {
			fmt.Fprintf(bw, "  note: on %s %s is the 16-bit-uid call; %s is %d there (what 32-bit glibc uses)\n",
				r.Arch, r.Syscall, r.RelatedName, r.Related[0].Number)
		}
	} else {
		fmt.Fprintf(bw, "%s\n", r.Syscall)
	}
	var nums []string
	for _, n := range r.Numbers {
		nums = append(nums, fmt.Sprintf("%s %d", n.Arch, n.Number))
	}
	fmt.Fprintf(bw, "  numbers:  %s\n", strings.Join(nums, " · "))
	fmt.Fprintf(bw, "  groups:   (%s)\n", r.TableNote)
	if len(r.Groups) == 0 {
		fmt.Fprintf(bw, "            none: %s is in no group of systemd v%s, not even @known\n", r.Syscall, r.Table)
	}
	for _, g := range r.Groups {
		line := fmt.Sprintf("            %-16s %4d syscalls", g.Group, g.Size)
		if len(g.Via) > 0 {
			line += "  via " + strings.Join(g.Via, " → ")
		}
		if g.Condition != "" {
			line += "  (only if " + g.Condition + ")"
		}
		fmt.Fprintln(bw, line)
	}
	if r.InDefault {
		fmt.Fprintf(bw, "  @default: yes — every allow list (SystemCallFilter= without ~) permits it\n")
	} else {
		fmt.Fprintf(bw, "  @default: no — an allow list must name it or one of its groups\n")
	}
	if len(r.History) > 0 {
		fmt.Fprintf(bw, "  history:\n")
		for _, c := range r.History {
			var parts []string
			if len(c.Joined) > 0 {
				verb := "joined"
				if c.From == "" {
					verb = "in"
				}
				parts = append(parts, verb+" "+strings.Join(c.Joined, " "))
			}
			if len(c.Left) > 0 {
				parts = append(parts, "left "+strings.Join(c.Left, " "))
			}
			fmt.Fprintf(bw, "            v%-14s %s\n", c.To, strings.Join(parts, "; "))
		}
	}
	if len(r.SecurityRows) > 0 {
		fmt.Fprintf(bw, "  systemd-analyze security: allowing it flips\n")
		for _, s := range r.SecurityRows {
			fmt.Fprintf(bw, "            %-30s weight %d\n", s.ID, s.Weight)
		}
	}
	return bw.Err
}
