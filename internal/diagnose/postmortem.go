package diagnose

import (
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Postmortem is the answer for a window after a deploy: every unit killed in it, per host, each with its
// calls folded and one fix; the kills nothing ties to a unit; the units that failed with an errno-mode
// filter and no record.
type Postmortem struct {
	Since string       `json:"since"`
	Until string       `json:"until,omitempty"`
	Hosts []HostReport `json:"hosts"`
	// Unattributed are examples of the kills nothing ties to a unit: the earliest (at most
	// attribute.Limits.Examples). UnattributedTotal counts them all, UnattributedGroups by host, program and call.
	Unattributed       []Violation    `json:"unattributed"`
	UnattributedTotal  int            `json:"unattributed_total"`
	UnattributedGroups []UntiedGroup  `json:"unattributed_groups"`
	Silent             []Silent       `json:"silent"`
	Sources            []SourceReport `json:"sources"`
}

// HostReport is one host's killed units.
type HostReport struct {
	Host      string `json:"host"`                 // the record's node= or the journal's hostname; "" is this host
	MachineID string `json:"machine_id,omitempty"` // the journal's _MACHINE_ID, where a journal of several hosts names it
	// SystemdVersion is the version the host's own journal names (its manager's start-up line), "" when
	// it names none; each unit's table says which version its groups are of, and why.
	SystemdVersion string       `json:"systemd_version,omitempty"`
	Units          []UnitReport `json:"units"`
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
	Host      string   `json:"host,omitempty"`
	MachineID string   `json:"machine_id,omitempty"`
	Unit      string   `json:"unit"`
	User      bool     `json:"user,omitempty"`
	Result    string   `json:"result"`
	Errno     string   `json:"errno"`
	Errnos    []string `json:"errno_entries,omitempty"` // deny entries with their own :ERRNO
	// Implicit are the errno filters of other directives (ProtectClock= & co.) the unit runs under.
	Implicit []fixes.Implicit `json:"implicit,omitempty"`
	Explain  string           `json:"explain"`
}

// UnitKey names a unit on a host (attribute.Store files the kills by it).
type UnitKey = attribute.UnitKey

// UntiedGroup counts the window's kills that no evidence ties to a unit, of one program and call on one host.
type UntiedGroup = attribute.UntiedGroup

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
		if keys[i].Machine != keys[j].Machine {
			return keys[i].Machine < keys[j].Machine
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
func Fold(res *Result, vs []evidence.Violation) UnitReport { return fold(res, vs, nil, UnitKey{}) }

// foldKey is one distinct call: its name, arch, action and number.
type foldKey struct {
	name   string
	arch   syscalls.Arch
	action audit.Action
	nr     int
}

// fold is Fold over the kills a store kept of unit k (vs, oldest first); s, when not nil, has the exact
// numbers of all the unit's kills, kept or not.
func fold(res *Result, vs []evidence.Violation, s *attribute.Store, k UnitKey) UnitReport {
	var order []foldKey
	counts := map[foldKey]*CallCount{}
	rep := map[foldKey]evidence.Violation{}
	var firsts []Finding
	for i, v := range vs {
		ck := foldKey{v.Name, v.Arch, v.Action, v.Syscall}
		ts := stamp(v.Time)
		if c := counts[ck]; c != nil {
			c.Count++
			c.Last = ts
			continue
		}
		order = append(order, ck)
		rep[ck] = v
		counts[ck] = &CallCount{Syscall: v.Name, Number: v.Syscall, Arch: v.Arch.String(), Action: v.Action.String(), Count: 1, First: ts, Last: ts}
		if i < len(res.Violations) {
			firsts = append(firsts, res.Violations[i])
		}
	}
	r := UnitReport{Result: res, Kills: len(vs)}
	if s != nil {
		r.Kills = s.Kills(k)
	}
	for _, ck := range order {
		c := *counts[ck]
		if s != nil {
			if n, first, last, ok := s.Call(k, rep[ck]); ok {
				c.Count, c.First, c.Last = n, stamp(first), stamp(last)
			}
		}
		r.Calls = append(r.Calls, c)
	}
	res.Violations = firsts
	return r
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// SilentOf says whether a unit that failed with result (an exit code) under filter f and implicit filters
// ims may have been denied silently: its filter answers some denied calls with an errno, or a directive
// such as ProtectClock= installs an errno filter of its own; neither leaves a record. ok false when not.
func SilentOf(k UnitKey, result string, f *fixes.Filter, ims []fixes.Implicit) (Silent, bool) {
	if !f.SilentDenials() && len(ims) == 0 {
		return Silent{}, false
	}
	s := Silent{Host: k.Host, MachineID: k.Machine, Unit: k.Unit, User: k.User, Result: result, Implicit: ims}
	var what []string
	if f.SilentDenials() {
		s.Errno = fixes.ErrnoName(f.ErrorNumber)
		if f.ErrorNumber == fixes.ErrnoKill {
			s.Errno = ""
		}
		s.Errnos = f.ErrnoEntries()
		if s.Errno != "" {
			what = append(what, "calls its filter denies fail with "+s.Errno)
		} else {
			what = append(what, "the calls "+strings.Join(s.Errnos, " ")+" fail with an errno")
		}
	}
	for _, im := range ims {
		what = append(what, "by "+im.Summary())
	}
	s.Explain = k.Unit + " failed (" + result + ") with no seccomp record, and " + strings.Join(what, "; ") +
		" — silently: possibly denied; run sysdiag trial " + k.Unit + " to see every such call"
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

// Loaded is what a UnitSource knows of one unit: its files (or only its name, and why not), the table
// of its host's systemd with a note saying which and why, and what the fix's libseccomp can name.
type Loaded struct {
	Unit    *Unit
	Table   syscalls.Table
	Note    string
	Known   fixes.Known
	LoadErr error // the unit's files could not be read: the fix is computed from the calls alone
}

// UnitSource reads a unit of a host for the post-mortem: from the running manager, a copy of the host's
// tree, or the files of the user whose manager the kills name (vs). An error fails the whole report; a
// unit that cannot be read is a Loaded with LoadErr.
type UnitSource interface {
	Load(k UnitKey, vs []evidence.Violation) (Loaded, error)
}

// PostmortemInput is a window's evidence: its kills, attributed (an attribute.Store after its Attribute,
// or a slice after attribute.Attribute), and the units that failed with an exit code in it.
type PostmortemInput struct {
	Window audit.Window
	Unit   string // only units matching this glob ("" every unit)
	// Store holds the window's kills, bounded; when nil, Kills are put into one with attribute.DefaultLimits.
	Store   *attribute.Store
	Kills   []evidence.Violation
	Failed  []journal.UnitResult
	Sources []SourceReport
	// Versions are the systemd versions hosts' journals name (journal.ManagerStart), by machine id, else hostname.
	Versions map[string]string
	// Table names the groups of the kills that no evidence ties to a unit (on no known host's version).
	Table syscalls.Table
}

// BuildPostmortem answers a window: every killed unit of every host, its calls folded and one fix for
// them all (verified, or by name when its files are missing); the kills tied to no unit, counted by
// host, program and call, the earliest listed; the units that failed under an errno-mode filter with no
// record. Pure but for what src reads.
func BuildPostmortem(in PostmortemInput, src UnitSource) (*Postmortem, error) {
	store := in.Store
	if store == nil {
		lim := attribute.DefaultLimits
		lim.JournalPIDs = 0 // attributed already: nothing is kept for it
		store = attribute.NewStore(attribute.Facts{}, lim)
		for _, v := range in.Kills {
			store.Add(v)
		}
	}
	by := store.Units()
	total, groups, lost := store.Untied()
	pm := &Postmortem{Since: in.Window.Since.UTC().Format(time.RFC3339), Unattributed: []Violation{}, Silent: []Silent{},
		Hosts: []HostReport{}, Sources: in.Sources, UnattributedTotal: total, UnattributedGroups: groups}
	if !in.Window.Until.IsZero() {
		pm.Until = in.Window.Until.UTC().Format(time.RFC3339)
	}
	match := func(unit string) bool {
		if in.Unit == "" {
			return true
		}
		ok, _ := path.Match(in.Unit, unit)
		return ok
	}
	hostIdx := map[journal.Host]int{}
	killed := map[UnitKey]bool{}
	for _, k := range Keys(by) {
		if !match(k.Unit) {
			continue
		}
		vs := by[k]
		l, err := src.Load(k, vs)
		if err != nil {
			return nil, err
		}
		u := l.Unit
		f := fixes.Build(l.Table, u.Assigns, l.Known)
		res := Diagnose(u, f, l.Table, l.Note, &Evidence{Invocations: InvocationsOf(vs), Violations: vs, Host: HostArch(vs)})
		if l.LoadErr != nil {
			res.Notes = append(res.Notes, "the unit's files could not be read ("+l.LoadErr.Error()+"): no line, and the fix is computed from the calls alone, not verified")
			res.Fix = FixByName(u, vs, u.Home)
		}
		rep := fold(res, vs, store, k)
		if u.Live && u.NRestarts != nil {
			rep.NRestarts = u.NRestarts
		}
		rep.StartLimitHit = u.Result == "start-limit-hit"
		h := k.HostOf()
		i, ok := hostIdx[h]
		if !ok {
			i = len(pm.Hosts)
			hostIdx[h] = i
			pm.Hosts = append(pm.Hosts, HostReport{Host: k.Host, MachineID: k.Machine, SystemdVersion: HostVersion(in.Versions, h)})
		}
		pm.Hosts[i].Units = append(pm.Hosts[i].Units, rep)
		killed[UnitKey{Host: k.Host, Machine: k.Machine, Unit: k.Unit, User: k.User}] = true
	}
	for _, v := range lost {
		pm.Unattributed = append(pm.Unattributed, ViolationOf(v, in.Table))
	}
	// Units that failed quietly under an errno-mode filter: not killed, and their filter can deny silently.
	seen := map[UnitKey]bool{}
	for _, r := range in.Failed {
		k := UnitKey{Host: r.Host.Hostname, Machine: r.Host.MachineID, Unit: r.Unit, User: r.User}
		if killedOn(killed, k) || seen[k] || !match(r.Unit) {
			continue
		}
		seen[k] = true
		l, err := src.Load(k, nil)
		if err != nil {
			return nil, err
		}
		if l.LoadErr != nil {
			continue // no filter to read: nothing says it denies silently
		}
		if s, ok := SilentOf(k, r.Result, fixes.Build(l.Table, l.Unit.Assigns, nil), fixes.Implicits(l.Table, l.Unit.Assigns)); ok {
			pm.Silent = append(pm.Silent, s)
		}
	}
	return pm, nil
}

// killedOn: the unit was killed on a host compatible with k's (records may name a host the unit's
// journal entries name differently, or not at all).
func killedOn(killed map[UnitKey]bool, k UnitKey) bool {
	for o := range killed {
		if o.Unit == k.Unit && o.User == k.User && o.HostOf().Compatible(k.HostOf()) {
			return true
		}
	}
	return false
}

// HostVersion is the version ManagerVersions found for h, "" none.
func HostVersion(vs map[string]string, h journal.Host) string { return unit.Own(vs, h) }

// ManagerVersions keeps, per host (machine id, else hostname), the version of the latest manager start-up
// line: what the host ran at the end of the window when its manager started before it.
func ManagerVersions(starts []journal.ManagerStart) map[string]string {
	out := map[string]string{}
	latest := map[string]time.Time{}
	for _, s := range starts {
		k := s.Host.MachineID
		if k == "" {
			k = s.Host.Hostname
		}
		if t, ok := latest[k]; !ok || !s.Time.Before(t) {
			latest[k], out[k] = s.Time, s.Version
			if s.Host.MachineID != "" && s.Host.Hostname != "" {
				out[s.Host.Hostname] = s.Version // audit node= names the host by name alone
			}
		}
	}
	return out
}
