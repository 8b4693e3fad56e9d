package main

import (
	"sync"
	"time"

	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/safetext"
	"github.com/sysdiag/sysdiag/syscalls"
)

// violationJSON is one violation in --json output (events, why, watch share it).
type violationJSON struct {
	Time      string        `json:"time"`
	Unit      string        `json:"unit,omitempty"`
	UserUnit  bool          `json:"user_unit,omitempty"`
	Manager   string        `json:"manager,omitempty"`
	PID       int           `json:"pid"`
	UID       uint32        `json:"uid"`
	Comm      string        `json:"comm,omitempty"`
	Exe       string        `json:"exe,omitempty"`
	Syscall   string        `json:"syscall"`
	Number    int           `json:"number"`
	Arch      string        `json:"arch"`
	AuditArch string        `json:"audit_arch"`
	Compat    int           `json:"compat"`
	Groups    []string      `json:"groups"`
	Action    string        `json:"action"`
	Code      string        `json:"code"`
	Sig       int           `json:"sig"`
	Serial    uint64        `json:"serial,omitempty"`
	Node      string        `json:"node,omitempty"`
	Sources   []string      `json:"sources"`
	Function  string        `json:"function,omitempty"`
	Frames    []frameJSON   `json:"frames,omitempty"`
	Coredump  *coredumpJSON `json:"coredump,omitempty"`
	// AttributedBy says how Unit was found: "coredump", "cgroup", "main-pid", "journal-pid", "main-exit".
	AttributedBy *evidence.Attribution `json:"attributed_by,omitempty"`
	Extra        map[string]bool       `json:"-"`
}

type frameJSON struct {
	Function string `json:"function,omitempty"`
	Module   string `json:"module,omitempty"`
	Offset   uint64 `json:"offset"`
}

type coredumpJSON struct {
	Cmdline  string `json:"cmdline,omitempty"`
	Cgroup   string `json:"cgroup,omitempty"`
	Filename string `json:"filename,omitempty"`
}

func toJSON(v evidence.Violation, t syscalls.Table) violationJSON {
	j := violationJSON{Time: v.Time.UTC().Format(time.RFC3339Nano), Unit: v.Unit, UserUnit: v.UserUnit, Manager: v.Manager,
		PID: v.PID, UID: v.UID, Comm: v.Comm, Exe: v.Exe, Syscall: v.Name, Number: v.Syscall, Arch: v.Arch.String(),
		AuditArch: v.Arch.Hex(), Compat: v.Compat, Groups: groupNames(v, t), Action: v.Action.String(),
		Code: codeHex(v.Code), Sig: v.Sig, Serial: v.Serial, Node: v.Node, Sources: v.Sources}
	if !v.Known() {
		j.Arch, j.AuditArch = "", ""
	}
	if v.How.Method != "" || v.How.Detail != "" {
		h := v.How
		j.AttributedBy = &h
	}
	if c := v.Coredump; c != nil {
		if f, ok := c.Caller(); ok {
			j.Function = f.Function
		}
		for _, f := range c.Frames {
			j.Frames = append(j.Frames, frameJSON{f.Function, f.Module, f.Offset})
		}
		j.Coredump = &coredumpJSON{Cmdline: c.Cmdline, Cgroup: c.Cgroup, Filename: c.Filename}
	}
	return j
}

func codeHex(c uint32) string {
	const hexd = "0123456789abcdef"
	b := []byte("0x00000000")
	for i := 9; i >= 2; i-- {
		b[i] = hexd[c&0xf]
		c >>= 4
	}
	return string(b)
}

// groupNames lists the groups of v's syscall, smallest first, without @known (every syscall is there).
// A flood of records names the same few syscalls: the answers are remembered per table and name.
func groupNames(v evidence.Violation, t syscalls.Table) []string {
	if !v.Known() || v.Name == "" {
		return []string{}
	}
	key := t.Label() + "/" + v.Name
	groupMemoMu.Lock()
	defer groupMemoMu.Unlock()
	if g, ok := groupMemo[key]; ok {
		return g
	}
	out := []string{}
	for _, m := range t.GroupsOf(v.Name) {
		if m.Group != "@known" {
			out = append(out, m.Group)
		}
	}
	groupMemo[key] = out
	return out
}

var (
	groupMemoMu sync.Mutex
	groupMemo   = map[string][]string{}
)

// clean makes text from logs safe for a terminal.
func clean(s string) string { return safetext.Clean(s) }
