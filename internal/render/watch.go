package render

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/sysdiag/sysdiag/internal/diagnose"
)

// Watch prints watch's events as they come: with JSON, one object per line on Out (each written at
// once); else a line per first violation and the summary on Out, and what watch says of its sources on
// Err. Safe for concurrent use.
type Watch struct {
	Out, Err io.Writer
	JSON     bool

	mu sync.Mutex
}

// watchEvent is one line of watch --json: a violation (first of its kind, with the fix), the source
// followed, the kernel's lost counter moving, or the summary.
type watchEvent struct {
	Type string `json:"type"` // "violation", "lost", "summary", "source"
	*diagnose.Finding
	Count   int                  `json:"count,omitempty"`
	DelayMS int64                `json:"delay_ms,omitempty"`
	Fix     *watchFix            `json:"fix,omitempty"`
	Lost    *watchLost           `json:"lost,omitempty"`
	Summary []diagnose.UnitCount `json:"summary,omitempty"`
	Source  string               `json:"source,omitempty"`
}

type watchFix struct {
	Allow         []string `json:"allow"`
	Architectures []string `json:"architectures,omitempty"`
	DropinPath    string   `json:"dropin_path"`
	Dropin        string   `json:"dropin"`
	Verified      bool     `json:"verified"`
}

type watchLost struct {
	Kernel    uint32 `json:"kernel"`    // the kernel's audit "lost" counter moved by this much
	Userspace int    `json:"userspace"` // netlink overflows (ENOBUFS) seen by sysdiag
}

// emit prints ev, or the human line: on Err when aside (what watch says of itself), else on Out.
func (r *Watch) emit(ev watchEvent, human string, aside bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.JSON:
		_ = JSONLine(r.Out, ev)
	case aside:
		fmt.Fprintln(r.Err, human)
	default:
		fmt.Fprintln(r.Out, human)
	}
}

// Source says which source is followed.
func (r *Watch) Source(name string) {
	r.emit(watchEvent{Type: "source", Source: name}, "sysdiag: watching "+name+" (Ctrl-C to stop)", true)
}

// Loss says what the host dropped before sysdiag read it: netlink overflows (on Err, always) and
// records the kernel dropped.
func (r *Watch) Loss(kernel uint32, overflows int) {
	if overflows > 0 {
		r.mu.Lock()
		fmt.Fprintln(r.Err, "sysdiag: the netlink receive buffer overflowed (ENOBUFS): records were lost; continuing")
		r.mu.Unlock()
	}
	if kernel > 0 {
		r.emit(watchEvent{Type: "lost", Lost: &watchLost{Kernel: kernel}},
			fmt.Sprintf("sysdiag: the kernel dropped %d audit records (backlog full)", kernel), true)
	}
}

// Violation prints a first violation, delayMS after it happened (0: a replay): time, host and unit,
// call, group and action, then the line that blocked it and the fix, or why there is none.
func (r *Watch) Violation(f diagnose.WatchFinding, delayMS int64) {
	v := f.V
	ev := watchEvent{Type: "violation", Finding: &f.Finding, Count: 1, DelayMS: delayMS}
	unit := v.Unit
	if unit == "" {
		unit = "unknown"
	}
	who := Clean(unit)
	if v.Node != "" || v.Machine != "" {
		who = Clean(HostText(diagnose.HostReport{Host: v.Node, MachineID: v.Machine})) + "  " + who
	}
	line := fmt.Sprintf("%s  %s  %s (%s %d)  %s  %s", v.Time.Local().Format("15:04:05.000"), who, v.Name, v.Arch, v.Syscall,
		FirstOr(f.Groups, "-"), v.Action)
	if fx := f.Fix; fx != nil {
		ev.Fix = &watchFix{Allow: fx.Allow, Architectures: fx.Architectures, Dropin: fx.Dropin, DropinPath: fx.DropinPath, Verified: fx.Verified}
		fixText := strings.TrimSpace(fx.Dropin[strings.LastIndex(strings.TrimSpace(fx.Dropin), "\n")+1:])
		line += "  — " + Clean(f.BlockedBy.Explain) + "; fix: " + Clean(fixText)
	} else if f.Note != "" {
		line += "  — " + Clean(f.Note)
	}
	r.emit(ev, line, false)
}

// Summary prints the counts per unit, and what was lost.
func (r *Watch) Summary(s diagnose.WatchSummary) {
	if r.JSON {
		r.emit(watchEvent{Type: "summary", Summary: s.Units, Lost: &watchLost{Kernel: s.Kernel, Userspace: s.Overflows}}, "", false)
		return
	}
	var b strings.Builder
	b.WriteString("summary:")
	if len(s.Units) == 0 {
		b.WriteString(" no violations")
	}
	for _, c := range s.Units {
		var parts []string
		for call, n := range c.Syscalls {
			parts = append(parts, fmt.Sprintf("%s×%d", call, n))
		}
		sort.Strings(parts)
		u := Clean(c.Unit)
		if c.UserUnit {
			u += " (user)"
		}
		if c.Host != "" || c.MachineID != "" {
			u = Clean(HostText(diagnose.HostReport{Host: c.Host, MachineID: c.MachineID})) + " " + u
		}
		fmt.Fprintf(&b, "\n  %s: %s", u, strings.Join(parts, " "))
	}
	if s.Kernel > 0 || s.Overflows > 0 {
		fmt.Fprintf(&b, "\n  lost: %d records in the kernel, %d netlink overflows", s.Kernel, s.Overflows)
	}
	r.emit(watchEvent{}, b.String(), false)
}
