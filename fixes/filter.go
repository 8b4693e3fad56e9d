package fixes

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Assignment is one "Directive=value" line of a unit file or drop-in, with where it stands.
type Assignment struct {
	Directive string // SystemCallFilter, SystemCallErrorNumber, SystemCallArchitectures, SystemCallLog
	Value     string
	File      string // "" when it did not come from a file (D-Bus, a transient unit)
	Line      int
}

// Where is "file:line", or "(D-Bus)" for an assignment without a file.
func (a *Assignment) Where() string {
	if a == nil {
		return "(implicit)"
	}
	if a.File == "" {
		return "(D-Bus)"
	}
	return fmt.Sprintf("%s:%d", a.File, a.Line)
}

// Mode is the filter's mode, set by the first non-empty SystemCallFilter= line.
type Mode int

// The modes.
const (
	ModeNone  Mode = iota // no SystemCallFilter=: nothing is filtered
	ModeAllow             // allow list: what is not listed gets the negative action
	ModeDeny              // deny list (~): what is listed gets the negative action
)

func (m Mode) String() string { return [...]string{"none", "allow-list", "deny-list"}[m] }

// Errno values systemd stores beside a name.
const (
	errnoNone = -1         // no ":ERRNO" suffix
	ErrnoKill = 2147483646 // SECCOMP_ERROR_NUMBER_KILL (":kill", SystemCallErrorNumber=kill), v247+
)

// Origin says which assignment put a name where it is, and through which group.
type Origin struct {
	Assignment *Assignment // nil for the implicit @default of an allow list
	Via        string      // the @group named on the line that brought the name, "" if named directly
}

func (o Origin) String() string {
	s := o.Assignment.Where()
	if o.Assignment != nil {
		s = fmt.Sprintf("%s=%s (%s)", o.Assignment.Directive, o.Assignment.Value, s)
	}
	if o.Via != "" {
		s = o.Via + " in " + s
	}
	if o.Assignment == nil {
		s = "@default, which every allow list starts with"
	}
	return s
}

type entry struct {
	errno  int // errnoNone, an errno, or ErrnoKill
	origin Origin
}

// Filter is a unit's effective SystemCallFilter= for one systemd version, with where every name came from.
type Filter struct {
	Table    syscalls.Table
	Mode     Mode
	ModeLine *Assignment // the assignment that set the mode

	entries map[string]entry
	removed map[string]Origin // allow list: names a later ~line took out; deny list: names a later line let through

	ErrorNumber     int // the negative action: ErrnoKill (the default) or an errno
	ErrorNumberLine *Assignment
	Architectures   []string // SystemCallArchitectures=, "" entries dropped; empty = any
	ArchLines       []*Assignment
	LogLines        []*Assignment
	Warnings        []string // what systemd would have ignored, with a warning

	nameable Known // the target's libseccomp, when known (nil: not known, e.g. another host's files)
}

// Nameable reports whether the target's systemd can name the call in SystemCallFilter=: its libseccomp
// resolves the name. Unknown targets (offline) count as able.
func (f *Filter) Nameable(name string) bool { return f.nameable == nil || f.nameable(name) }

// Known tells whether the target's libseccomp can resolve a syscall name; systemd silently drops names
// it cannot (its parser is permissive). Nil means every name in sysdiag's tables.
type Known func(name string) bool

// Build models systemd's parsing of the assignments, in order (unit file first, then drop-ins sorted by
// name), for table t's systemd version: the first non-empty SystemCallFilter= sets the mode (an allow
// list starts with @default), later lines add to or remove from the set, an empty one resets; ":ERRNO"
// and ":kill" suffixes; SystemCallErrorNumber=; SystemCallArchitectures= (empty resets); SystemCallLog=.
func Build(t syscalls.Table, as []Assignment, known Known) *Filter {
	nameable := known
	if known == nil {
		known = syscalls.IsSyscall
	}
	f := &Filter{Table: t, entries: map[string]entry{}, removed: map[string]Origin{}, ErrorNumber: ErrnoKill, nameable: nameable}
	v := t.Version()
	for i := range as {
		a := &as[i]
		val := strings.TrimSpace(a.Value)
		switch a.Directive {
		case "SystemCallFilter":
			f.parseFilter(a, val, known, v)
		case "SystemCallErrorNumber":
			switch {
			case val == "" || (val == "kill" && v.Major >= 247):
				f.ErrorNumber, f.ErrorNumberLine = ErrnoKill, a
			default:
				n, ok := ParseErrno(val)
				if !ok || n <= 0 || n > 4095 {
					f.Warnings = append(f.Warnings, fmt.Sprintf("%s: SystemCallErrorNumber=%s is not valid: systemd ignores it (kill stays)", a.Where(), val))
					continue
				}
				f.ErrorNumber, f.ErrorNumberLine = n, a
			}
		case "SystemCallArchitectures":
			if val == "" {
				f.Architectures, f.ArchLines = nil, nil
				continue
			}
			f.Architectures = append(f.Architectures, strings.Fields(val)...)
			f.ArchLines = append(f.ArchLines, a)
		case "SystemCallLog":
			f.LogLines = append(f.LogLines, a)
		}
	}
	return f
}

func (f *Filter) parseFilter(a *Assignment, val string, known Known, v syscalls.Version) {
	if val == "" {
		f.Mode, f.ModeLine = ModeNone, nil
		f.entries, f.removed = map[string]entry{}, map[string]Origin{}
		return
	}
	invert := false
	if strings.HasPrefix(val, "~") {
		invert, val = true, val[1:]
	}
	if f.Mode == ModeNone {
		f.ModeLine = a
		if invert {
			f.Mode = ModeDeny
		} else {
			f.Mode = ModeAllow
			f.apply("@default", errnoNone, false, Origin{}, known, v, false)
		}
	}
	for _, word := range strings.Fields(val) {
		name, errno := word, errnoNone
		if i := strings.IndexByte(word, ':'); i >= 0 {
			name = word[:i]
			n, ok := parseErrnoOrAction(word[i+1:], v)
			if !ok {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s: %q: bad error number, systemd ignores the entry", a.Where(), word))
				continue
			}
			errno = n
		}
		o := Origin{Assignment: a}
		if strings.HasPrefix(name, "@") {
			if _, ok := f.Table.Group(name); !ok {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s: unknown group %s in systemd v%s: ignored", a.Where(), name, f.Table.Label()))
				continue
			}
			o.Via = name
		} else if !known(name) {
			f.Warnings = append(f.Warnings, fmt.Sprintf("%s: unknown syscall %s: ignored", a.Where(), name))
			continue
		}
		if f.Mode == ModeAllow && !invert && errno != errnoNone && v.Major >= 249 {
			f.Warnings = append(f.Warnings, fmt.Sprintf("%s: allow-listed system calls cannot take an error number: %q", a.Where(), word))
		}
		f.apply(name, errno, invert, o, known, v, true)
	}
}

// apply is seccomp_parse_syscall_filter(): put the name (or each member of the group) into the set when
// the line's sense matches the mode, remove it otherwise.
func (f *Filter) apply(name string, errno int, invert bool, o Origin, known Known, v syscalls.Version, user bool) {
	if strings.HasPrefix(name, "@") {
		g, ok := f.Table.Group(name)
		if !ok {
			return
		}
		for _, m := range g.Members {
			f.apply(m.Name, errno, invert, o, known, v, user)
		}
		return
	}
	if !known(name) {
		return
	}
	allow := f.Mode == ModeAllow
	put := invert != allow // (!invert) == allow_list
	// v249+: "~name:ERRNO" after an allow list keeps the entry, with its errno.
	if allow && invert && errno != errnoNone && v.Major >= 249 {
		put = true
	}
	if put {
		if allow && !invert {
			errno = errnoNone // an allow-listed name cannot carry an errno
		}
		f.entries[name] = entry{errno: errno, origin: o}
		delete(f.removed, name)
		return
	}
	if _, ok := f.entries[name]; ok || f.Mode == ModeDeny {
		f.removed[name] = o
	}
	delete(f.entries, name)
}

// Names returns the set as systemd's D-Bus property SystemCallFilter lists it: sorted names, deny and
// errno entries as "name:ERRNONAME" ("name:kill"). Like systemd (property_get_syscall_filter), an allow
// list's errno entries are left out, though they are in the loaded filter.
func (f *Filter) Names() []string {
	out := make([]string, 0, len(f.entries))
	for n, e := range f.entries {
		if f.Mode == ModeAllow && e.errno != errnoNone {
			continue
		}
		switch {
		case e.errno == ErrnoKill:
			n += ":kill"
		case e.errno >= 0:
			n += ":" + ErrnoName(e.errno)
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Allowed reports whether the filter lets name through (on the native ABI).
func (f *Filter) Allowed(name string) bool {
	e, in := f.entries[name]
	switch f.Mode {
	case ModeAllow:
		return in && e.errno == errnoNone
	case ModeDeny:
		return !in
	}
	return true
}

// ParseErrno accepts an errno name (EPERM) or number (1).
func ParseErrno(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n <= 4095
	}
	for n, name := range errnoNames {
		if name == s {
			return n, true
		}
	}
	if n, ok := errnoAliases[s]; ok {
		return n, true
	}
	return 0, false
}

func parseErrnoOrAction(s string, v syscalls.Version) (int, bool) {
	if s == "kill" && v.Major >= 247 {
		return ErrnoKill, true
	}
	return ParseErrno(s)
}

// ErrnoName names an errno ("EPERM"), or gives its number.
func ErrnoName(n int) string {
	if n == ErrnoKill {
		return "kill"
	}
	if s, ok := errnoNames[n]; ok {
		return s
	}
	return strconv.Itoa(n)
}

// errnoNames are the kernel's errno names (asm-generic, as on x86, arm and the other common ABIs; mips,
// sparc, alpha and parisc number some differently), from golang.org/x/sys/unix, the names systemd's
// errno_from_name() accepts.
var errnoNames = func() map[int]string {
	m := map[int]string{}
	for n := 1; n < 256; n++ {
		if name := unix.ErrnoName(syscall.Errno(n)); name != "" {
			m[n] = name
		}
	}
	m[11], m[35], m[95] = "EAGAIN", "EDEADLK", "EOPNOTSUPP" // the names errno(3) and systemd print first
	return m
}()

// errnoAliases are the second names of a number (glibc's and systemd's lists have them too).
var errnoAliases = map[string]int{"EWOULDBLOCK": 11, "EDEADLOCK": 35, "ENOTSUP": 95, "EAGAIN": 11, "EDEADLK": 35, "EOPNOTSUPP": 95}

// FromManager is the filter the running manager reports for a unit (its SystemCallFilter D-Bus property:
// allow-list flag and expanded names, "name:ERRNO" for errno entries), with f's SystemCallErrorNumber=
// and SystemCallArchitectures=: the "before" of a verification that does not rest on sysdiag's reading
// of the unit files and group tables.
func FromManager(f *Filter, allow bool, names []string) *Filter {
	var plain, errnos []string
	for _, n := range names {
		if allow && strings.Contains(n, ":") {
			errnos = append(errnos, n) // an allow list's "~name:ERRNO" entries
		} else {
			plain = append(plain, n)
		}
	}
	val := strings.Join(plain, " ")
	if !allow {
		val = "~" + val
	}
	as := []Assignment{{Directive: "SystemCallFilter", Value: val}}
	if len(errnos) > 0 {
		as = append(as, Assignment{Directive: "SystemCallFilter", Value: "~" + strings.Join(errnos, " ")})
	}
	if f.ErrorNumberLine != nil {
		as = append(as, *f.ErrorNumberLine)
	}
	for _, a := range f.ArchLines {
		as = append(as, *a)
	}
	return Build(f.Table, as, f.nameable)
}

// LocalNames keeps the names (bare, or "name:ERRNO") that this machine's ABIs have (the native one, and
// i386 beside x86_64, arm beside aarch64), sorted: the ones a comparison with the manager's list can
// trust. The manager renders the others through libseccomp's pseudo-numbers, which do not round-trip
// (252.39 on x86_64 reports @debug's powerpc-only sys_debug_setcontext as switch_endian).
func LocalNames(names []string) []string {
	arches := []syscalls.Arch{syscalls.HostArch()}
	switch arches[0] {
	case syscalls.ArchX86_64:
		arches = append(arches, syscalls.ArchI386)
	case syscalls.ArchAARCH64:
		arches = append(arches, syscalls.ArchARM)
	}
	var out []string
	for _, n := range names {
		bare, _, _ := strings.Cut(n, ":")
		for _, a := range arches {
			if _, ok := syscalls.Number(a, bare); ok {
				out = append(out, n)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}
