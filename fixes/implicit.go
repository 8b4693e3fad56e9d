package fixes

import (
	"sort"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// ImplicitDirectives are the directives, other than SystemCallFilter=, for which systemd installs a
// seccomp filter of its own (exec-invoke.c:context_has_seccomp, v247–v261), and DynamicUser=, which forces
// one of them on.
var ImplicitDirectives = []string{"ProtectClock", "ProtectKernelModules", "ProtectKernelLogs", "ProtectKernelTunables",
	"ProtectHostname", "PrivateDevices", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
	"RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute", "DynamicUser"}

// Implicit is a seccomp filter systemd installs for a directive other than SystemCallFilter=. Its action
// is an errno hard-coded per directive — SystemCallErrorNumber= does not touch it — and an errno denial
// leaves no audit record (unless the filter carries the kernel's log flag), so a unit it breaks fails
// with a bare "Operation not permitted" and nothing says why. From systemd's exec-invoke.c/execute.c and
// seccomp-util.c (the fact sheet: FACTS-SECCOMP §1b).
type Implicit struct {
	Directive string      `json:"directive"`
	Line      *Assignment `json:"-"`
	Where     string      `json:"where"` // file:line of the assignment, or what implies it
	// Calls are the calls it filters, for this version's tables; Whole says it denies them whatever the
	// arguments (a trial can log such a call: SystemCallLog= takes names only), else Condition says which
	// arguments it denies.
	Calls     []string `json:"calls"`
	Whole     bool     `json:"whole"`
	Condition string   `json:"condition,omitempty"`
	Errno     string   `json:"errno"`
	// Relaxing says what else turning the directive off gives back (it is not only a filter).
	Relaxing string `json:"relaxing,omitempty"`
	Note     string `json:"note,omitempty"`
}

// Implicits lists the implicit filters the assignments install on table t's systemd, in systemd's
// install order. The last assignment of a directive wins; an empty one resets it to its default (off).
func Implicits(t syscalls.Table, as []Assignment) []Implicit {
	last := map[string]*Assignment{}
	for i := range as {
		a := &as[i]
		last[a.Directive] = a
		if strings.TrimSpace(a.Value) == "" {
			delete(last, a.Directive)
		}
	}
	v := t.Version()
	group := func(name string) []string {
		if g, ok := t.Group(name); ok {
			return g.Expanded
		}
		return nil
	}
	var out []Implicit
	add := func(dir string, calls []string, whole bool, cond, errno, relaxing string) *Implicit {
		a := last[dir]
		im := Implicit{Directive: dir, Line: a, Calls: known(calls), Whole: whole, Condition: cond, Errno: errno, Relaxing: relaxing}
		if a != nil {
			im.Where = a.Where()
		}
		out = append(out, im)
		return &out[len(out)-1]
	}
	on := func(dir string) bool { a := last[dir]; return a != nil && IsTrue(a.Value) }

	// Install order (exec-invoke.c:exec_invoke): hostname; address families, MDWE, realtime, SUID/SGID,
	// namespaces; sysctl, modules, logs, clock, devices; personality.
	if a := last["ProtectHostname"]; a != nil {
		val := strings.ToLower(strings.TrimSpace(a.Value))
		if IsTrue(val) || (strings.HasPrefix(val, "yes:") && v.Major >= 258) || (val == "private" && v.Major < 258) {
			add("ProtectHostname", []string{"sethostname", "setdomainname"}, true, "", "EPERM", "a private UTS namespace")
		}
	}
	if a := last["RestrictAddressFamilies"]; a != nil {
		cond := "socket() whose family (arg0) is not in " + strings.TrimSpace(a.Value)
		if strings.HasPrefix(strings.TrimSpace(a.Value), "~") {
			cond = "socket() whose family (arg0) is in " + strings.TrimPrefix(strings.TrimSpace(a.Value), "~")
		}
		im := add("RestrictAddressFamilies", []string{"socket"}, false, cond, "EAFNOSUPPORT", "")
		im.Note = "only on ABIs without socketcall (not i386); socketpair() and inherited sockets are not affected"
	}
	if on("MemoryDenyWriteExecute") {
		im := add("MemoryDenyWriteExecute", []string{"mmap", "mprotect", "pkey_mprotect", "shmat"}, false,
			"a mapping both writable and executable, or made executable later (PROT_EXEC, SHM_EXEC)", "EPERM", "")
		if v.Major >= 254 {
			im.Note = "from v254 on a kernel ≥ 6.3 systemd uses prctl(PR_SET_MDWE) instead: the kernel answers EACCES and there is no seccomp filter or record at all"
		}
	}
	if on("RestrictRealtime") {
		add("RestrictRealtime", []string{"sched_setscheduler"}, false, "a realtime policy (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE)", "EPERM", "LimitRTPRIO=0")
	}
	if a := last["RestrictSUIDSGID"]; (a != nil && IsTrue(a.Value)) || on("DynamicUser") {
		im := add("RestrictSUIDSGID", []string{"chmod", "fchmod", "fchmodat", "fchmodat2", "mkdir", "mkdirat", "mknod", "mknodat", "creat", "open", "openat", "openat2"}, false,
			"a mode with S_ISUID or S_ISGID; openat2 as a whole (ENOSYS from v248)", "EPERM", "")
		if a == nil || !IsTrue(a.Value) {
			im.Line, im.Where = last["DynamicUser"], "implied by DynamicUser=yes ("+last["DynamicUser"].Where()+"), which cannot be undone"
		}
	}
	if a := last["RestrictNamespaces"]; a != nil && restrictsNamespaces(a.Value) {
		add("RestrictNamespaces", []string{"unshare", "clone", "setns", "clone3"}, false,
			"namespace flags the setting does not retain; clone3 as a whole (ENOSYS, so libc falls back to clone)", "EPERM", "")
	}
	if on("ProtectKernelTunables") {
		add("ProtectKernelTunables", []string{"_sysctl"}, true, "", "EPERM", "read-only /proc/sys, /sys and more")
	}
	if on("ProtectKernelModules") {
		add("ProtectKernelModules", group("@module"), true, "", "EPERM", "CAP_SYS_MODULE, and /usr/lib/modules")
	}
	if on("ProtectKernelLogs") {
		add("ProtectKernelLogs", []string{"syslog"}, true, "", "EPERM", "CAP_SYSLOG, /dev/kmsg and /proc/kmsg")
	}
	if on("ProtectClock") {
		add("ProtectClock", group("@clock"), true, "", "EPERM", "CAP_SYS_TIME and CAP_WAKE_ALARM: a root service can set the clock")
	}
	if on("PrivateDevices") {
		add("PrivateDevices", group("@raw-io"), true, "", "EPERM", "CAP_MKNOD and CAP_SYS_RAWIO, and the host's /dev")
	}
	if on("LockPersonality") {
		add("LockPersonality", []string{"personality"}, false, "a personality other than the unit's (Personality=, else PER_LINUX)", "EPERM", "")
	}
	return out
}

// Blocks reports whether the implicit filter may deny a call named name.
func (im Implicit) Blocks(name string) bool {
	for _, c := range im.Calls {
		if c == name {
			return true
		}
	}
	return false
}

// Summary is one line for a person: "ProtectClock= (unit.service:7): adjtimex clock_adjtime … answer EPERM".
func (im Implicit) Summary() string {
	s := im.Directive + "="
	if im.Where != "" {
		s += " (" + im.Where + ")"
	}
	s += ": " + strings.Join(im.Calls, " ")
	if im.Condition != "" {
		s += " — " + im.Condition + " —"
	}
	return s + " answer " + im.Errno
}

func known(calls []string) []string {
	var out []string
	for _, c := range calls {
		if syscalls.IsSyscall(c) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// IsTrue is systemd's parse_boolean for "yes".
func IsTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}

// restrictsNamespaces: RestrictNamespaces= filters something — yes, a list not naming every type, or a
// "~list" naming any.
func restrictsNamespaces(v string) bool {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	case "0", "no", "n", "false", "f", "off", "":
		return false
	}
	if strings.HasPrefix(v, "~") {
		return strings.TrimSpace(v[1:]) != ""
	}
	all := map[string]bool{"cgroup": true, "ipc": true, "net": true, "mnt": true, "pid": true, "user": true, "uts": true, "time": true}
	for _, w := range strings.Fields(v) {
		delete(all, w)
	}
	return len(all) > 0
}
