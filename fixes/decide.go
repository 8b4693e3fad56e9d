package fixes

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Cause is why a filter blocked a call.
type Cause string

// The causes sysdiag can name.
const (
	CauseNotInAllowList Cause = "not-in-allow-list"  // allow list, never listed
	CauseRemoved        Cause = "removed-from-allow" // allow list, taken out by a later ~line
	CauseDenyEntry      Cause = "deny-list-entry"    // deny list names it (directly or via a group)
	CauseErrnoEntry     Cause = "errno-entry"        // "~name:ERRNO": fails with an errno, no kill
	CauseENOSYS         Cause = "enosys-unknown"     // v255+ allow list: newer than systemd's @known
	CauseArchitecture   Cause = "architecture"       // SystemCallArchitectures= does not allow the call's ABI
	CauseNotBlocked     Cause = "not-blocked"        // this filter lets the call through: the kill came from elsewhere
	CauseNoFilter       Cause = "no-filter"          // the unit has no SystemCallFilter=
)

// Decision says what the filter does with one call, and which line is responsible.
type Decision struct {
	Cause   Cause
	Blocked bool
	Kills   bool   // the action is a kill (else an errno)
	Errno   int    // for an errno action
	Origin  Origin // the line responsible (the mode line for CauseNotInAllowList)
	Explain string // one sentence for a person
}

// NativeArch is the ABI systemd calls "native" for an audit arch of the same machine.
func nativeName(a syscalls.Arch) string {
	switch a {
	case syscalls.ArchX86_64:
		return "x86-64"
	case syscalls.ArchI386:
		return "x86"
	case syscalls.ArchAARCH64:
		return "arm64"
	case syscalls.ArchARM:
		return "arm"
	case syscalls.ArchPPC64LE:
		return "ppc64-le"
	case syscalls.ArchPPC64:
		return "ppc64"
	case syscalls.ArchS390X:
		return "s390x"
	case syscalls.ArchRISCV64:
		return "riscv64"
	case syscalls.ArchLOONGARCH64:
		return "loongarch64"
	}
	return a.Hex()
}

// SystemdArchName is the name SystemCallArchitectures= uses for an audit arch ("x86", "arm64", …).
func SystemdArchName(a syscalls.Arch) string { return nativeName(a) }

// archAllowed reports whether SystemCallArchitectures= lets calls of ABI a through on a machine whose
// native ABI is host.
func (f *Filter) archAllowed(a, host syscalls.Arch) bool {
	if len(f.Architectures) == 0 {
		return true
	}
	for _, n := range f.Architectures {
		if n == "native" && a == host || n == nativeName(a) {
			return true
		}
	}
	return false
}

// Decide says what the filter does with syscall name on ABI arch, on a machine whose native ABI is host.
func (f *Filter) Decide(name string, arch, host syscalls.Arch) Decision {
	if !f.archAllowed(arch, host) {
		lines := make([]string, len(f.ArchLines))
		for i, l := range f.ArchLines {
			lines[i] = l.Where()
		}
		var o Origin
		if len(f.ArchLines) > 0 {
			o.Assignment = f.ArchLines[len(f.ArchLines)-1]
		}
		return Decision{Cause: CauseArchitecture, Blocked: true, Kills: true, Origin: o,
			Explain: fmt.Sprintf("SystemCallArchitectures=%s (%s) does not allow %s calls: the kernel kills the thread whatever the syscall",
				strings.Join(f.Architectures, " "), strings.Join(lines, ", "), SystemdArchName(arch))}
	}
	neg := func(d Decision) Decision {
		d.Blocked = true
		d.Kills = f.ErrorNumber == ErrnoKill
		d.Errno = f.ErrorNumber
		if !d.Kills && d.Cause != CauseErrnoEntry {
			where := ""
			if f.ErrorNumberLine != nil {
				where = " (" + f.ErrorNumberLine.Where() + ")"
			}
			d.Explain += fmt.Sprintf("; SystemCallErrorNumber=%s%s makes it fail with that errno instead of a kill", ErrnoName(f.ErrorNumber), where)
		}
		return d
	}
	e, in := f.entries[name]
	switch f.Mode {
	case ModeNone:
		return Decision{Cause: CauseNoFilter, Explain: "the unit has no SystemCallFilter=: nothing is filtered"}
	case ModeAllow:
		if in && e.errno == errnoNone {
			return Decision{Cause: CauseNotBlocked, Origin: e.origin, Explain: fmt.Sprintf("%s is allowed (%s)", name, e.origin)}
		}
		if in {
			d := Decision{Cause: CauseErrnoEntry, Blocked: true, Kills: e.errno == ErrnoKill, Errno: e.errno, Origin: e.origin,
				Explain: fmt.Sprintf("%s fails with %s: %s", name, ErrnoName(e.errno), e.origin)}
			if d.Kills {
				d.Cause = CauseDenyEntry
			}
			return d
		}
		v := f.Table.Version()
		if v.Major >= 255 && !f.Table.Contains("@known", name) {
			return Decision{Cause: CauseENOSYS, Blocked: true, Errno: 38,
				Explain: fmt.Sprintf("%s is newer than systemd v%s's @known list: an allow list returns ENOSYS for it", name, f.Table.Label())}
		}
		if o, ok := f.removed[name]; ok {
			return neg(Decision{Cause: CauseRemoved, Origin: o,
				Explain: fmt.Sprintf("the allow list had %s, but %s takes it out", name, o)})
		}
		return neg(Decision{Cause: CauseNotInAllowList, Origin: Origin{Assignment: f.ModeLine},
			Explain: fmt.Sprintf("the allow list (SystemCallFilter=%s, %s) does not contain %s", f.ModeLine.Value, f.ModeLine.Where(), name)})
	default: // deny list
		if !in {
			return Decision{Cause: CauseNotBlocked, Explain: fmt.Sprintf("the deny list does not contain %s", name)}
		}
		errno := e.errno
		if errno == errnoNone {
			errno = f.ErrorNumber
		}
		d := Decision{Cause: CauseDenyEntry, Blocked: true, Kills: errno == ErrnoKill, Errno: errno, Origin: e.origin,
			Explain: fmt.Sprintf("the deny list has %s: %s", name, e.origin)}
		if !d.Kills {
			d.Cause = CauseErrnoEntry
			from := ""
			if e.errno == errnoNone && f.ErrorNumberLine != nil {
				from = fmt.Sprintf(", from SystemCallErrorNumber=%s (%s)", f.ErrorNumberLine.Value, f.ErrorNumberLine.Where())
			}
			d.Explain += fmt.Sprintf("; it fails with %s%s (no kill, no audit record)", ErrnoName(errno), from)
		}
		return d
	}
}

// SilentDenials reports whether some denials of this filter return an errno instead of killing: those
// leave no audit record (systemd loads errno filters without the log flag) and no coredump.
func (f *Filter) SilentDenials() bool {
	if f.Mode == ModeNone {
		return false
	}
	if f.ErrorNumber != ErrnoKill {
		return true
	}
	for _, e := range f.entries {
		if e.errno != errnoNone && e.errno != ErrnoKill && (f.Mode == ModeDeny || f.Mode == ModeAllow) {
			return true
		}
	}
	return false
}

// ErrnoEntries lists the filter's entries that carry their own errno ("name:EPERM"), sorted.
func (f *Filter) ErrnoEntries() []string {
	var out []string
	for n, e := range f.entries {
		if e.errno != errnoNone && e.errno != ErrnoKill {
			out = append(out, n+":"+ErrnoName(e.errno))
		}
	}
	sort.Strings(out)
	return out
}
