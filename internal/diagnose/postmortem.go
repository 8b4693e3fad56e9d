package diagnose

import (
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Postmortem is the answer for a window after a deploy: every unit killed in it, per host, each with its
// calls folded and one fix; the kills nothing ties to a unit; the units that failed with an errno-mode
// filter and no record.
type Postmortem struct {
	Since        string         `json:"since"`
	Until        string         `json:"until,omitempty"`
	Hosts        []HostReport   `json:"hosts"`
	Unattributed []Violation    `json:"unattributed"`
	Silent       []Silent       `json:"silent"`
	Sources      []SourceReport `json:"sources"`
}

// HostReport is one host's killed units.
type HostReport struct {
	Host  string       `json:"host"` // the record's node= or the journal's hostname; "" is this host
	Units []UnitReport `json:"units"`
}

// UnitReport is why's answer for one unit over the window, with each distinct call once and its count.
type UnitReport struct {
	*Result
	Kills int         `json:"kills"`
	Calls []CallCount `json:"calls"`
	// NRestarts and StartLimitHit are the manager's, where it is reachable.
	NRestarts     *uint32 `json:"n_restarts,omitempty"`
	StartLimitHit bool    `json:"start_limit_hit,omitempty"`
}

// CallCount is one blocked call of a unit in the window: how often, first and last time.
type CallCount struct {
	Syscall string `json:"syscall"`
	Number  int    `json:"number"`
	Arch    string `json:"arch"`
	Action  string `json:"action"`
	Count   int    `json:"count"`
	First   string `json:"first"`
	Last    string `json:"last"`
}

// Silent is a unit that failed in the window (an exit code, no signal) whose filter answers denied calls
// with an errno: such denials leave no record, so the deploy is not clean just because nothing was killed.
type Silent struct {
	Host    string   `json:"host,omitempty"`
	Unit    string   `json:"unit"`
	User    bool     `json:"user,omitempty"`
	Result  string   `json:"result"`
	Errno   string   `json:"errno"`
	Errnos  []string `json:"errno_entries,omitempty"` // deny entries with their own :ERRNO
	Explain string   `json:"explain"`
}

// UnitKey names a unit on a host.
type UnitKey struct {
	Host string
	Unit string
	User bool
}

// Group sorts the window's violations by (host, unit), oldest first within each; kills that no evidence
// ties to a unit come back apart, never dropped. Logged calls (SystemCallLog=) are not kills and are
// left out.
func Group(vs []evidence.Violation) (map[UnitKey][]evidence.Violation, []evidence.Violation) {
	by := map[UnitKey][]evidence.Violation{}
	var lost []evidence.Violation
	for _, v := range vs {
		if !v.Action.IsKill() {
			continue
		}
		if v.Unit == "" {
			lost = append(lost, v)
			continue
		}
		k := UnitKey{v.Node, v.Unit, v.UserUnit}
		by[k] = append(by[k], v)
	}
	for k := range by {
		sort.SliceStable(by[k], func(i, j int) bool { return by[k][i].Time.Before(by[k][j].Time) })
	}
	return by, lost
}

// Keys lists the groups' keys in a stable order: host, then unit.
func Keys(by map[UnitKey][]evidence.Violation) []UnitKey {
	keys := make([]UnitKey, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Host != keys[j].Host {
			return keys[i].Host < keys[j].Host
		}
		if keys[i].Unit != keys[j].Unit {
			return keys[i].Unit < keys[j].Unit
		}
		return !keys[i].User && keys[j].User
	})
	return keys
}

// InvocationsOf are the invocations the violations name (by coredump or attribution), oldest first.
func InvocationsOf(vs []evidence.Violation) []journal.Invocation {
	var out []journal.Invocation
	seen := map[string]bool{}
	for _, v := range vs {
		id := v.How.Invocation
		if id == "" && v.Coredump != nil {
			id = v.Coredump.Invocation
		}
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, journal.Invocation{ID: id, Start: v.Time, End: v.Time})
		}
	}
	return out
}

// Fold reduces a unit's answer over a window: one finding per distinct call (the first), and the count,
// first and last time of each. A restart loop killed 40 times on one call is one call with count 40.
func Fold(res *Result, vs []evidence.Violation) UnitReport {
	type key struct {
		name, arch, action string
		nr                 int
	}
	var order []key
	counts := map[key]*CallCount{}
	var firsts []Finding
	for i, v := range vs {
		k := key{v.Name, v.Arch.String(), v.Action.String(), v.Syscall}
		t := v.Time.UTC().Format(time.RFC3339Nano)
		if c := counts[k]; c != nil {
			c.Count++
			c.Last = t
			continue
		}
		order = append(order, k)
		counts[k] = &CallCount{Syscall: v.Name, Number: v.Syscall, Arch: v.Arch.String(), Action: v.Action.String(), Count: 1, First: t, Last: t}
		if i < len(res.Violations) {
			firsts = append(firsts, res.Violations[i])
		}
	}
	r := UnitReport{Result: res, Kills: len(vs)}
	for _, k := range order {
		r.Calls = append(r.Calls, *counts[k])
	}
	res.Violations = firsts
	return r
}

// SilentOf says whether a unit that failed with result (an exit code) under filter f may have been denied
// silently: its filter answers some denied calls with an errno, which leaves no record. ok false when not.
func SilentOf(k UnitKey, result string, f *fixes.Filter) (Silent, bool) {
	if !f.SilentDenials() {
		return Silent{}, false
	}
	s := Silent{Host: k.Host, Unit: k.Unit, User: k.User, Result: result, Errno: fixes.ErrnoName(f.ErrorNumber)}
	if f.ErrorNumber == fixes.ErrnoKill {
		s.Errno = ""
	}
	s.Errnos = f.ErrnoEntries()
	what := "calls its filter denies fail with " + s.Errno
	if s.Errno == "" {
		what = "the calls " + strings.Join(s.Errnos, " ") + " fail with an errno"
	}
	s.Explain = k.Unit + " failed (" + result + ") with no seccomp record, and " + what +
		" — silently: possibly denied; run it once with SystemCallErrorNumber= emptied (denials then kill and are recorded), then sysdiag why"
	return s, true
}

// HostArch is the recording host's native ABI, from a host's violations: the arch of its records with
// compat=0 (an i386 call on x86_64 has compat=1), else the machine sysdiag runs on.
func HostArch(vs []evidence.Violation) syscalls.Arch {
	for _, v := range vs {
		if v.Known() && v.Compat == 0 && v.Arch != 0 {
			return v.Arch
		}
	}
	return syscalls.HostArch()
}

// FixByName is the fix for a unit whose files could not be read: the blocked calls allowed by name
// (a non-inverted SystemCallFilter= line relaxes both an allow and a deny list), marked unverified —
// without the unit's lines there is no before to check.
func FixByName(u *Unit, vs []evidence.Violation, home string) *Fix {
	seen := map[string]bool{}
	var names []string
	for _, v := range vs {
		if v.Name != "" && !seen[v.Name] {
			seen[v.Name] = true
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	line := strings.Join(names, " ")
	sc := "systemctl" + UserFlag(u.User)
	return &Fix{
		Alt: Alt{Label: "by name", Allow: names, Architectures: []string{}, NewlyAllowed: []string{}, Exposure: Exposure{Rows: []fixes.RowChange{}},
			Dropin: "# written by sysdiag: let the calls the filter blocked through\n[Service]\nSystemCallFilter=" + line + "\n",
			Note:   "the unit's files were not available: computed from the calls alone"},
		DropinPath:   filepath.Join(unitfile.DropInDir(u.Name, u.User, home), unitfile.DropInName),
		Verification: []string{"not verified: the unit's files were not available, so its filter before the fix is unknown"},
		Alternatives: []Alt{},
		Commands:     []string{sc + " daemon-reload", sc + " restart " + u.Name},
	}
}
