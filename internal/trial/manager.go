package trial

import (
	"bytes"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/syscalls"
)

// The implicit filters (ProtectClock= & co.) answer with an errno, which the kernel audits only when the
// filter was loaded with its log flag — and systemd sets that flag on every unit filter when
// $SYSTEMD_LOG_SECCOMP=1 is in the manager's own environment (v247; ManagerEnvironment= from v248). A
// trial sets it for its run with a manager drop-in, so those denials become records while the
// directives stay enforced.
//
// Measured on the real 252 and 257 (internal/e2e, TestTrialSeesImplicit): a daemon-reload is enough for
// the units started after it (≤ v254 forks them from the manager, v255+ hands systemd-executor the
// manager's environ; no reexec needed); removing the drop-in and reloading does NOT unset the variable
// (the manager only ever setenv()s it, and a reexec carries it over) — writing SYSTEMD_LOG_SECCOMP=0
// and reloading does turn the flag off again.

// ManagerConfDir is the system manager's runtime configuration drop-in directory (system.conf.d).
const ManagerConfDir = "/run/systemd/system.conf.d"

const managerConfPrefix = "zz-sysdiag-trial-"

// ManagerConfPath is a trial's manager drop-in, one per unit (trials of two units may overlap).
func ManagerConfPath(unit string) string {
	return filepath.Join(ManagerConfDir, managerConfPrefix+unit+".conf")
}

// IsManagerConf says whether a file name is one of the trials' manager drop-ins.
func IsManagerConf(name string) bool {
	return strings.HasPrefix(name, managerConfPrefix) && strings.HasSuffix(name, ".conf")
}

// ManagerConf is the manager drop-in turning the log flag on, or (on=false) off again.
func ManagerConf(on bool) string {
	v := "0"
	if on {
		v = "1"
	}
	return Marker + ": errno denials of every unit filter started meanwhile are logged (records only)\n[Manager]\nManagerEnvironment=SYSTEMD_LOG_SECCOMP=" + v + "\n"
}

// LogSeccompOn says whether the manager already loads unit filters with the log flag: from its initial
// environment (/proc/1/environ, where the kernel command line's VAR=value lands) and then its
// configuration files (system.conf, then the system.conf.d drop-ins in systemd's order, the trials' own
// left out), whose ManagerEnvironment= lines it applies in order. Values are systemd's booleans.
func LogSeccompOn(environ []byte, confs [][]byte) bool {
	on := false
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("SYSTEMD_LOG_SECCOMP=")); ok {
			on = fixes.IsTrue(string(v))
		}
	}
	for _, c := range confs {
		opts, err := unit.DeserializeOptions(bytes.NewReader(c))
		if err != nil {
			continue
		}
		for _, o := range opts {
			if o.Section != "Manager" || o.Name != "ManagerEnvironment" {
				continue
			}
			for _, w := range strings.Fields(o.Value) {
				w = strings.Trim(w, `"'`)
				if v, ok := strings.CutPrefix(w, "SYSTEMD_LOG_SECCOMP="); ok {
					on = fixes.IsTrue(v)
				}
			}
		}
	}
	return on
}

// LogFlagOn says whether the system manager of the host whose root is fsys (os.DirFS("/")) already
// loads unit filters with the log flag (LogSeccompOn): its initial environment (proc/1/environ), then
// system.conf and its drop-ins in systemd's order — the first system.conf of /etc, /run, /usr/local/lib,
// /usr/lib; each drop-in name once, the first directory's, in name order — the trials' own left out.
func LogFlagOn(fsys fs.FS) bool {
	dirs := []string{"etc", "run", "usr/local/lib", "usr/lib"}
	env, _ := fs.ReadFile(fsys, "proc/1/environ")
	var confs [][]byte
	for _, d := range dirs {
		if raw, err := fs.ReadFile(fsys, d+"/systemd/system.conf"); err == nil {
			confs = append(confs, raw)
			break
		}
	}
	byName := map[string]string{}
	var names []string
	for _, d := range dirs {
		es, _ := fs.ReadDir(fsys, d+"/systemd/system.conf.d")
		for _, e := range es {
			if n := e.Name(); strings.HasSuffix(n, ".conf") && !IsManagerConf(n) && byName[n] == "" {
				byName[n] = path.Join(d, "systemd/system.conf.d", n)
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if raw, err := fs.ReadFile(fsys, byName[n]); err == nil {
			confs = append(confs, raw)
		}
	}
	return LogSeccompOn(env, confs)
}

// ImplicitHit is a call an implicit filter answered with its errno during the trial (seen through the
// log flag): the directive responsible, not SystemCallFilter=.
type ImplicitHit struct {
	Syscall   string `json:"syscall"`
	Arch      string `json:"arch"`
	Directive string `json:"directive"`
	Where     string `json:"where"`
	Errno     string `json:"errno"`
	Condition string `json:"condition,omitempty"`
	Relaxing  string `json:"relaxing,omitempty"`
	// AlsoFilter says SystemCallFilter= denies it too (the errno won: the lowest action does).
	AlsoFilter bool `json:"also_system_call_filter,omitempty"`
	// Relaxed: the directive was off for the trial (--relax-implicit), the call logged instead.
	Relaxed bool `json:"relaxed,omitempty"`
}

// Sorted are a trial's calls by what they mean.
type Sorted struct {
	// Filter are the calls SystemCallFilter= blocks: the diagnosis and the fix.
	Filter []evidence.Violation
	// Implicit are the calls an enforced implicit filter answered with its errno.
	Implicit []ImplicitHit
	// Used are calls the filter allows, logged to watch the loose groups for tightening.
	Used []evidence.Violation
}

// Split sorts the trial's calls: those an enforced implicit filter answered with an errno (records with
// the errno action: only implicit filters keep one during a trial, SystemCallErrorNumber= is reset) go
// to Implicit, named by the directive; the errno ones SystemCallFilter= denies too, and the rest it
// blocks, to Filter; those it allows (watched for tightening) to Used. host is the native ABI.
func Split(p Plan, f *fixes.Filter, vs []evidence.Violation, host syscalls.Arch) Sorted {
	var out Sorted
	for _, v := range vs {
		blocked := f.Decide(v.Name, v.Arch, host).Blocked
		if v.Action != audit.ActionErrno {
			switch im := ImplicitOf(p, v.Name); {
			case blocked || v.Action.IsKill():
				out.Filter = append(out.Filter, v)
			case im != nil: // logged because --relax-implicit turned its directive off
				out.Implicit = append(out.Implicit, ImplicitHit{Syscall: v.Name, Arch: v.Arch.String(), Directive: im.Directive, Where: im.Where,
					Errno: im.Errno, Condition: im.Condition, Relaxing: im.Relaxing, Relaxed: true})
			default:
				out.Used = append(out.Used, v)
			}
			continue
		}
		var im *fixes.Implicit
		for i := range p.Visible {
			if p.Visible[i].Blocks(v.Name) {
				im = &p.Visible[i]
				break
			}
		}
		if blocked {
			out.Filter = append(out.Filter, v)
		}
		if im == nil {
			continue
		}
		out.Implicit = append(out.Implicit, ImplicitHit{Syscall: v.Name, Arch: v.Arch.String(), Directive: im.Directive, Where: im.Where, Errno: im.Errno,
			Condition: im.Condition, Relaxing: im.Relaxing, AlsoFilter: blocked})
	}
	return out
}
