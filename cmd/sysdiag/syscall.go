package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/syscalls"
)

type syscallOptions struct {
	query          string
	arch           string
	systemdVersion string
	json           bool
}

func newSyscallCmd() *cobra.Command {
	opts := &syscallOptions{}
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
			opts.query = args[0]
			t, note, err := systemdTable(opts.systemdVersion)
			if err != nil {
				return err
			}
			res, err := lookupSyscall(opts, t, note)
			if err != nil {
				return err
			}
			if opts.json {
				return writeJSON(c.OutOrStdout(), res)
			}
			return printSyscall(c.OutOrStdout(), res)
		},
	}
	c.Flags().StringVar(&opts.arch, "arch", "", "audit arch of the number: x86_64, i386, aarch64, arm, riscv64, ppc64le, ppc64, s390x, loongarch64, or its hex (c000003e)")
	c.Flags().StringVar(&opts.systemdVersion, "systemd-version", "", "systemd version whose @groups to use (default: the local systemd)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
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

// The --json shape of `sysdiag syscall`.
type archNumberJSON struct {
	Arch      string `json:"arch"`
	AuditArch string `json:"audit_arch"`
	Number    int    `json:"number"`
}

type membershipJSON struct {
	Group     string   `json:"group"`
	Size      int      `json:"size"`
	Via       []string `json:"via"`
	Condition string   `json:"condition,omitempty"`
}

type changeJSON struct {
	From   string   `json:"from,omitempty"`
	To     string   `json:"to"`
	Joined []string `json:"joined,omitempty"`
	Left   []string `json:"left,omitempty"`
}

type securityRowJSON struct {
	ID     string `json:"id"`
	Group  string `json:"group"`
	Weight int    `json:"weight"`
}

type syscallResult struct {
	Query          string            `json:"query"`
	Syscall        string            `json:"syscall"`
	Arch           string            `json:"arch,omitempty"`
	AuditArch      string            `json:"audit_arch,omitempty"`
	Number         *int              `json:"number,omitempty"`
	ArchAssumed    bool              `json:"arch_assumed,omitempty"`
	Numbers        []archNumberJSON  `json:"numbers"`
	Related        []archNumberJSON  `json:"related,omitempty"` // e.g. fchown32 beside fchown on i386
	RelatedName    string            `json:"related_name,omitempty"`
	SystemdVersion string            `json:"systemd_version"`
	Table          string            `json:"table"`
	TableExact     bool              `json:"table_exact"`
	TableNote      string            `json:"table_note"`
	Groups         []membershipJSON  `json:"groups"`
	InDefault      bool              `json:"in_default"`
	History        []changeJSON      `json:"history"`
	SecurityRows   []securityRowJSON `json:"security_rows"`
}

// lookupSyscall answers a syscall query against table t. It is pure: everything it needs is passed in.
func lookupSyscall(opts *syscallOptions, t syscalls.Table, note string) (*syscallResult, error) {
	q := strings.TrimSpace(opts.query)
	res := &syscallResult{Query: opts.query, SystemdVersion: t.Requested.String(), Table: t.Label(),
		TableExact: t.Exact(), TableNote: note}
	var arch syscalls.Arch
	if opts.arch != "" {
		a, err := syscalls.ParseArch(opts.arch)
		if err != nil {
			return nil, usageErr(err, "")
		}
		if !a.Known() {
			return nil, notFoundErr(fmt.Errorf("no syscall table for audit arch %s", a.Hex()), "known: "+archNames())
		}
		arch = a
	}
	query, err := syscalls.ParseQuery(q)
	if err != nil {
		return nil, usageErr(err, "give a name (fchown) or the number from a record's syscall= field")
	}
	if query.IsNumber {
		nr := query.Number
		if arch == 0 {
			arch = syscalls.HostArch()
			res.ArchAssumed = true
		}
		name, ok := syscalls.Name(arch, nr)
		if !ok {
			return nil, notFoundErr(fmt.Errorf("no syscall %d on %s", nr, arch),
				"a record's number belongs to its arch= field: pass --arch with that value")
		}
		res.Syscall = name
	} else {
		name := query.Name
		if !syscalls.IsSyscall(name) {
			hint := "see 'sysdiag groups @known' for every name systemd knows"
			if close := closestNames(name, syscalls.AllNames(), 3); len(close) > 0 {
				hint = "did you mean " + strings.Join(close, ", ") + "?"
			}
			return nil, notFoundErr(fmt.Errorf("unknown syscall %q", q), hint)
		}
		res.Syscall = name
		if arch != 0 {
			if _, ok := syscalls.Number(arch, name); !ok {
				return nil, notFoundErr(fmt.Errorf("%s is not a syscall on %s", name, arch), "it exists on: "+archesOf(name))
			}
		}
	}
	if arch != 0 {
		nr, _ := syscalls.Number(arch, res.Syscall)
		res.Arch, res.AuditArch, res.Number = arch.String(), arch.Hex(), &nr
		// Several 32-bit ABIs keep a 16-bit-uid call beside its 32 variant (fchown / fchown32 on i386).
		alt := res.Syscall + "32"
		if n, ok := syscalls.Number(arch, alt); ok {
			res.RelatedName = alt
			res.Related = []archNumberJSON{{arch.String(), arch.Hex(), n}}
		}
	}
	for _, an := range syscalls.Numbers(res.Syscall) {
		res.Numbers = append(res.Numbers, archNumberJSON{an.Arch.String(), an.Arch.Hex(), an.Number})
	}
	for _, m := range t.GroupsOf(res.Syscall) {
		via := m.Via
		if via == nil {
			via = []string{}
		}
		res.Groups = append(res.Groups, membershipJSON{m.Group, m.Size, via, m.Cond})
	}
	if res.Groups == nil {
		res.Groups = []membershipJSON{}
	}
	res.InDefault = t.InDefault(res.Syscall)
	res.History = []changeJSON{}
	for _, c := range syscalls.History(res.Syscall) {
		res.History = append(res.History, changeJSON{c.From, c.To, c.Joined, c.Left})
	}
	res.SecurityRows = []securityRowJSON{}
	for _, r := range syscalls.SecurityRows() {
		if t.Contains(r.Group, res.Syscall) {
			res.SecurityRows = append(res.SecurityRows, securityRowJSON{r.ID, r.Group, r.Weight})
		}
	}
	return res, nil
}

func archNames() string {
	var s []string
	for _, a := range syscalls.Arches() {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

func archesOf(name string) string {
	var s []string
	for _, an := range syscalls.Numbers(name) {
		s = append(s, an.Arch.String())
	}
	return strings.Join(s, ", ")
}

func printSyscall(w io.Writer, r *syscallResult) error {
	bw := &errWriter{w: w}
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
	return bw.err
}

// errWriter remembers the first write error so a printer can check once at the end.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// closestNames returns up to n names within edit distance 3 of q, nearest first.
func closestNames(q string, names []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, name := range names {
		d := editDistance(q, name)
		if strings.HasPrefix(name, q) && len(q) >= 3 {
			d = min(d, 1)
		}
		if d <= 3 {
			cs = append(cs, cand{name, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// editDistance is the optimal-string-alignment distance (Levenshtein plus transpositions) of a and b (bytes; syscall names are ASCII).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1) // a transposition counts once
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
