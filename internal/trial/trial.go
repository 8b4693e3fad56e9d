// Package trial is sysdiag's permissive mode for a unit's seccomp hardening: the runtime drop-in that turns
// the unit's syscall filter into logging (the kernel's own SECCOMP_RET_LOG action, through systemd's
// SystemCallLog=), and the folding of the logged calls into the answer (pure); and the state machine of a
// whole trial — Run (run.go): the lock, the manager's log flag, the unit's run followed through its
// records, the restore of the unit and its neighbours (host.go), the answer and its notes, --write's
// rounds and roll-back (verify.go), and --abort (Env.Abort). Run asks the manager through Manager and
// Starter, touches files through Files, reads records from a Source and keeps time with a Clock, so that
// every decision is tested with a fake manager whose unit dies on a call, files in memory and no root
// (run_test.go). On a host they are Bus (the manager over D-Bus, dbus.go), LocalFiles and RunningKernel
// (local.go) and Live (the live sources, live.go); the command wires them in and renders the Answer.
package trial

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/cgroup"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// DropinName is the trial's runtime drop-in. It sorts after every other drop-in (zz-sysdiag.conf too), so
// its lines come last; under /run it is gone at reboot.
const DropinName = unitfile.TrialDropinName

// Marker starts the drop-in; the state line records what to bring the unit back to.
const (
	Marker    = "# written by sysdiag trial"
	stateLine = "# before the trial the unit was: "
)

// DropinPath is where the trial's drop-in goes: /run/systemd/system/UNIT.d, or for a user unit the user
// manager's runtime directory ($XDG_RUNTIME_DIR/systemd/user/UNIT.d).
func DropinPath(unit string, user bool, runtimeDir string) string {
	if user {
		return filepath.Join(runtimeDir, "systemd/user", unit+".d", DropinName)
	}
	return filepath.Join("/run/systemd/system", unit+".d", DropinName)
}

// Plan is what a trial changes, and what it can and cannot see.
type Plan struct {
	Dropin string
	// Logged is how many calls the trial logs (those the unit's filter would deny, on the native ABI).
	Logged int
	// Relaxed are the implicit filters turned off and logged (--relax-implicit: whole-call ones only);
	// Visible those left enforced whose errno denials the manager's log flag makes records (LogErrno);
	// Unseen those left enforced whose denials stay silent (an errno from any filter beats the log
	// action: the kernel runs every filter and the lowest action wins).
	Relaxed, Visible, Unseen []fixes.Implicit
	// LogErrno says the trial needs the manager's log flag ($SYSTEMD_LOG_SECCOMP=1) for Visible.
	LogErrno bool
	Warnings []string
	// Loose are the groups watched for tightening, with the calls of each the filter allows (logged too).
	Loose map[string][]string
	// the SystemCallLog= set: the calls logged (deny list), or those not (allow list: "~…")
	logSet   map[string]bool
	logInver bool
}

// Logs says whether the trial's SystemCallLog= logs a call named name.
func (p Plan) Logs(name string) bool { return p.logSet[name] != p.logInver }

// Options are what a trial may do beyond turning SystemCallFilter= into logging.
type Options struct {
	// Relax turns the whole-call implicit filters off and logs their calls (--relax-implicit).
	Relax bool
	// LogFlag says the manager can load the unit's filters with the kernel's log flag for the trial (the
	// system manager, v248+: ManagerEnvironment=), so the enforced implicit filters' errno denials are
	// recorded; Kernel is the running kernel's version (as major.point: "6.18"), for what stays invisible anyway.
	LogFlag bool
	Kernel  syscalls.Version
	// Tighten also logs the calls the filter allows of every group behind an open
	// `systemd-analyze security` row (fixes.LooseRows), to say which the unit never touches.
	Tighten bool
}

// NewPlan builds the drop-in for filter f and the unit's implicit filters ims. The unit's state before
// the trial ("active", "inactive", …) is written into it, for --abort after a crash.
func NewPlan(f *fixes.Filter, ims []fixes.Implicit, o Options, state string) (Plan, error) {
	var p Plan
	for _, im := range ims {
		switch {
		case o.Relax && im.Whole:
			p.Relaxed = append(p.Relaxed, im)
		case o.LogFlag && !noSeccomp(f.Table.Version(), o.Kernel, im):
			p.Visible = append(p.Visible, im)
		default:
			p.Unseen = append(p.Unseen, im)
		}
	}
	p.LogErrno = len(p.Visible) > 0
	probe := map[string]bool{}
	if o.Tighten {
		p.Loose = f.LooseRows()
		for _, calls := range p.Loose {
			for _, n := range calls {
				probe[n] = true
			}
		}
	}
	relaxed := func(name string) bool {
		if probe[name] {
			return true // logged though allowed: watched for tightening
		}
		for _, im := range p.Relaxed {
			if im.Blocks(name) {
				return true
			}
		}
		return false
	}
	names := syscalls.AllNames()
	if g, ok := f.Table.Group("@known"); ok {
		names = g.Expanded
	}
	var lines []string
	switch f.Mode {
	case fixes.ModeAllow:
		// Log everything but what the filter lets through: SystemCallLog=~<allowed>. The allow list's
		// @default is in f already (systemd adds it to SystemCallFilter=, not to SystemCallLog=).
		var allowed []string
		for _, n := range names {
			if f.Allowed(n) && !relaxed(n) {
				allowed = append(allowed, n)
			}
		}
		if f.Table.Version().Major >= 257 && !slices.Contains(allowed, "write") && !probe["write"] {
			allowed = append(allowed, "write") // forced into allow lists from v257
		}
		sort.Strings(allowed)
		p.Logged = len(names) - len(allowed)
		p.logSet, p.logInver = set(allowed), true
		lines = append(lines, "SystemCallLog=~"+strings.Join(allowed, " "))
	default:
		var denied []string
		for _, n := range names {
			if !f.Allowed(n) || relaxed(n) {
				denied = append(denied, n)
			}
		}
		if len(denied) == 0 && !p.LogErrno {
			return p, fmt.Errorf("the unit has no SystemCallFilter= and no implicit filter the trial can log: nothing to try")
		}
		p.Logged = len(denied)
		p.logSet = set(denied)
		if len(denied) > 0 {
			lines = append(lines, "SystemCallLog="+strings.Join(denied, " "))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the unit's syscall filter turned into logging for the trial; 'sysdiag trial --abort UNIT' removes it\n", Marker)
	fmt.Fprintf(&b, "%s%s\n", stateLine, state)
	b.WriteString("[Service]\nSystemCallFilter=\nSystemCallErrorNumber=\n")
	for _, im := range p.Relaxed {
		fmt.Fprintf(&b, "%s=no\n", im.Directive)
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s is off for the trial: that also gives back %s — not a dry run", im.Directive, im.Relaxing))
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	p.Dropin = b.String()
	if p.LogErrno {
		var ds []string
		for _, im := range p.Visible {
			ds = append(ds, im.Directive+"=")
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s stay enforced; their errno denials are logged for the trial with SYSTEMD_LOG_SECCOMP=1 in the manager's environment (%s): every unit started meanwhile logs its seccomp errno denials too (records only; a process keeps its filter's flag until it restarts)",
			strings.Join(ds, " "), ManagerConfDir))
	}
	if f.Mode != fixes.ModeNone {
		p.Warnings = append([]string{"the unit runs without its syscall filter until the trial ends: every call the filter would block is let through and logged"}, p.Warnings...)
	} else if len(lines) > 0 && f.Table.Version().Major <= 254 {
		p.Warnings = append(p.Warnings, "the unit has no SystemCallFilter=: the trial's SystemCallLog= is a seccomp filter, for which systemd ≤ v254 implies NoNewPrivileges=yes in a unit running as a user without CAP_SYS_ADMIN (setuid programs lose their privilege for the trial)")
	}
	return p, nil
}

// noSeccomp says the implicit filter may not be a seccomp filter at all on this systemd and kernel:
// MemoryDenyWriteExecute= is prctl(PR_SET_MDWE) from v254 on kernels ≥ 6.3, which leaves no record.
func noSeccomp(v, kernel syscalls.Version, im fixes.Implicit) bool {
	if im.Directive != "MemoryDenyWriteExecute" || v.Major < 254 {
		return false
	}
	return kernel.Major == 0 || kernel.Major > 6 || kernel.Major == 6 && kernel.Point >= 3
}

// StateOf reads the state line of a trial's drop-in ("" when it is not one).
func StateOf(dropin string) (state string, ok bool) {
	if !strings.HasPrefix(dropin, Marker) {
		return "", false
	}
	for _, l := range strings.Split(dropin, "\n") {
		if s, ok := strings.CutPrefix(l, stateLine); ok {
			return strings.TrimSpace(s), true
		}
	}
	return "", true
}

// Call is one call the trial saw logged (or killed: SystemCallArchitectures= stays), folded by name, ABI
// and program.
type Call struct {
	Syscall  string    `json:"syscall"`
	Number   int       `json:"number"`
	Arch     string    `json:"arch"`
	Exe      string    `json:"exe"`
	Count    int       `json:"count"`
	FirstPID int       `json:"first_pid"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Action   string    `json:"action"`
	// Allowed: the filter allows it — logged only to watch a loose group for tightening.
	Allowed bool `json:"allowed_by_filter,omitempty"`
}

type key struct {
	name, arch, exe, action string
}

// Folder folds a trial's records; memory grows with the distinct calls, not with the records.
type Folder struct {
	calls   map[key]*Call
	order   []key
	first   map[key]evidence.Violation
	Records int
}

// NewFolder starts an empty fold.
func NewFolder() *Folder {
	return &Folder{calls: map[key]*Call{}, first: map[key]evidence.Violation{}}
}

// Add counts one of the unit's records (logged, killed, or answered with an errno by a filter loaded
// with the log flag; others are skipped).
func (f *Folder) Add(v evidence.Violation) {
	if v.Action != audit.ActionLog && v.Action != audit.ActionErrno && !v.Action.IsKill() {
		return
	}
	f.Records++
	k := key{v.Name, v.Arch.String(), v.Exe, v.Action.String()}
	if c := f.calls[k]; c != nil {
		c.Count++
		c.Last = v.Time
		return
	}
	f.order = append(f.order, k)
	f.calls[k] = &Call{Syscall: v.Name, Number: v.Syscall, Arch: v.Arch.String(), Exe: v.Exe, Count: 1, FirstPID: v.PID, First: v.Time, Last: v.Time, Action: v.Action.String()}
	f.first[k] = v
}

// Calls are the folded calls, in the order first seen.
func (f *Folder) Calls() []Call {
	out := make([]Call, 0, len(f.order))
	for _, k := range f.order {
		out = append(out, *f.calls[k])
	}
	return out
}

// Violations is one violation per distinct call and ABI (the first seen), for the diagnosis and fix.
func (f *Folder) Violations() []evidence.Violation {
	seen := map[string]bool{}
	var out []evidence.Violation
	for _, k := range f.order {
		v := f.first[k]
		id := k.name + "/" + k.arch
		if seen[id] || !v.Known() {
			continue
		}
		seen[id] = true
		out = append(out, v)
	}
	return out
}

// ImplicitOf is the relaxed implicit filter behind a call (the trial turned it off), nil when none.
func ImplicitOf(p Plan, name string) *fixes.Implicit {
	for i := range p.Relaxed {
		if p.Relaxed[i].Blocks(name) {
			return &p.Relaxed[i]
		}
	}
	return nil
}

// ParseKernel reads a kernel release (uname -r: "6.18.44-cloud-amd64") as major.point; zero when it
// cannot.
func ParseKernel(release string) syscalls.Version {
	f := strings.FieldsFunc(release, func(r rune) bool { return r < '0' || r > '9' })
	var v syscalls.Version
	if len(f) >= 2 {
		fmt.Sscan(f[0], &v.Major)
		fmt.Sscan(f[1], &v.Point)
		v.Raw = release
	}
	return v
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Claim ties records to the unit on trial. By cgroup first; a record whose process cannot be read (gone
// before its record was handled, or in another PID namespace) is the unit's when its program is one of
// the unit's (its Exec lines' programs, and those seen in the unit's records so far), or when it is a
// call only the trial's own SystemCallLog= logs (a log action for a call of the trial's set): Guessed
// counts those.
type Claim struct {
	Unit     string
	User     bool
	Plan     Plan
	programs map[string]bool
	Guessed  int
}

// NewClaim starts a claim for the unit and its Exec lines' programs.
func NewClaim(unit string, user bool, p Plan, programs []string) *Claim {
	return &Claim{Unit: unit, User: user, Plan: p, programs: set(programs)}
}

// Mine says whether the record, whose process was in cgroup unit u ("" when unknown), is the unit's.
func (c *Claim) Mine(u cgroup.Unit, r audit.Record) bool {
	if u.Name != "" {
		if u.Name != c.Unit || u.User != c.User {
			return false
		}
		if r.Exe != "" {
			c.programs[r.Exe] = true
		}
		return true
	}
	if r.Exe != "" && c.programs[r.Exe] {
		return true
	}
	if r.Action == audit.ActionLog && r.Name != "" && c.Plan.logSet != nil && c.Plan.Logs(r.Name) {
		c.Guessed++
		if r.Exe != "" {
			c.programs[r.Exe] = true
		}
		return true
	}
	return false
}
