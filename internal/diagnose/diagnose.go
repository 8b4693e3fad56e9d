// Package diagnose is the answer sysdiag gives, as data: what it knows of a unit (Unit), what the
// sources say about it (Evidence), and from those the findings — each blocked call with the line that
// blocked it — and the smallest verified fix (Diagnose). It is pure: the commands read the manager and
// the sources (host calls) and render the Result; why, watch and postmortem share every decision here.
package diagnose

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Result is the --json shape of `sysdiag why`.
type Result struct {
	Unit           string         `json:"unit"`
	User           bool           `json:"user,omitempty"`
	SystemdVersion string         `json:"systemd_version"`
	Table          string         `json:"table"`
	TableNote      string         `json:"table_note"`
	Invocations    []string       `json:"invocations"`
	Filter         FilterView     `json:"filter"`
	Violations     []Finding      `json:"violations"`
	Fix            *Fix           `json:"fix,omitempty"`
	Diagnosis      string         `json:"diagnosis"`
	Notes          []string       `json:"notes,omitempty"`
	Sources        []SourceReport `json:"sources"`
}

type FilterView struct {
	Mode          string   `json:"mode"`
	Lines         []Line   `json:"lines"`
	ErrorNumber   string   `json:"error_number"`
	Architectures []string `json:"architectures,omitempty"`
	SilentDenials bool     `json:"silent_denials"`
	Warnings      []string `json:"warnings,omitempty"`
	MatchesDBus   *bool    `json:"matches_dbus,omitempty"`
	// MatchesAnalyze: systemd's own offline loader (systemd-analyze --offline=true --root=DIR security)
	// shows the same SystemCallFilter=~@… rows as the model (--root only, where it ran).
	MatchesAnalyze *bool    `json:"matches_systemd_analyze,omitempty"`
	Files          []string `json:"files"`
}

type Line struct {
	Directive string `json:"directive"`
	Value     string `json:"value"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
}

type Finding struct {
	Violation
	BlockedBy BlockedBy `json:"blocked_by"`
}

type BlockedBy struct {
	Cause   string `json:"cause"`
	Explain string `json:"explain"`
	Line    *Line  `json:"line,omitempty"`
	Via     string `json:"via,omitempty"`
	Kills   bool   `json:"kills"`
	Errno   string `json:"errno,omitempty"`
}

type Fix struct {
	Alt
	DropinPath   string   `json:"dropin_path"`
	Verified     bool     `json:"verified"`
	Verification []string `json:"verification"`
	Alternatives []Alt    `json:"alternatives"`
	Commands     []string `json:"commands"`
	Written      bool     `json:"written,omitempty"`
}

type Alt struct {
	Label         string   `json:"label"`
	Allow         []string `json:"allow"`
	Deny          []string `json:"deny,omitempty"`
	Architectures []string `json:"architectures"`
	Dropin        string   `json:"dropin"`
	NewlyAllowed  []string `json:"newly_allowed"`
	Exposure      Exposure `json:"exposure"`
	Note          string   `json:"note,omitempty"`
}

type Exposure struct {
	Before float64           `json:"before"`
	After  float64           `json:"after"`
	Delta  float64           `json:"delta"`
	Rows   []fixes.RowChange `json:"rows"`
}

// Evidence is what the sources say about the unit.
type Evidence struct {
	Invocations  []journal.Invocation // the ones looked at, oldest first
	Violations   []evidence.Violation
	Unattributed []evidence.Violation // kills during those invocations that no evidence ties to any unit
	Reports      []SourceReport
	LastExit     *journal.UnitExit
	Searched     string
	Host         syscalls.Arch // the recording host's native ABI ("native" in SystemCallArchitectures=); 0: this machine
}

// UnknownCall is what why, events and postmortem say of a kill known only from a coredump (or the
// manager's exit entry): no audit record names the call, and no core file told it.
const UnknownCall = "killed by SIGSYS, call unknown: no audit record in the window"

// Diagnose turns the unit, its filter and the evidence into the answer. Pure.
func Diagnose(u *Unit, f *fixes.Filter, t syscalls.Table, note string, ev *Evidence) *Result {
	res := &Result{Unit: u.Name, User: u.User, SystemdVersion: t.Requested.String(), Table: t.Label(), TableNote: note,
		Invocations: []string{}, Violations: []Finding{}}
	for _, inv := range ev.Invocations {
		res.Invocations = append(res.Invocations, inv.ID)
	}
	res.Filter = FilterView{Mode: f.Mode.String(), ErrorNumber: fixes.ErrnoName(f.ErrorNumber), Architectures: f.Architectures,
		SilentDenials: f.SilentDenials(), Warnings: f.Warnings, Files: u.Files, Lines: []Line{}}
	for _, a := range u.Assigns {
		res.Filter.Lines = append(res.Filter.Lines, Line{a.Directive, a.Value, a.File, a.Line})
	}
	if u.Live && strings.HasSuffix(u.Name, ".service") {
		m := sameNames(fixes.LocalNames(f.Names()), fixes.LocalNames(u.DBusFilter))
		res.Filter.MatchesDBus = &m
		if !m {
			res.Notes = append(res.Notes, "the unit's files and the running manager disagree about SystemCallFilter= (a daemon-reload pending?): the answer follows the files")
		}
	}
	for _, v := range ev.Unattributed {
		n := fmt.Sprintf("a kill at %s during this invocation is not tied to any unit: pid %d (%s), %s", v.Time.UTC().Format(time.RFC3339), v.PID, v.Exe, v.Name)
		if v.How.Detail != "" {
			n += " — " + v.How.Detail
		} else {
			n += " — no coredump, not the main process, no journal entry of that pid"
		}
		res.Notes = append(res.Notes, n+"; if it was this unit's, 'sysdiag events' lists it and a trial run shows every call")
	}
	for _, file := range u.Files {
		if filepath.Base(file) == unitfile.TrialDropinName {
			res.Notes = append(res.Notes, "a trial's drop-in is in place ("+file+"): the unit runs with its filter turned into logging; if no trial runs, 'sysdiag trial --abort "+u.Name+"' restores it")
		}
	}
	if u.NeedReload {
		res.Notes = append(res.Notes, "systemd reports NeedDaemonReload=yes for this unit: its files changed since it was loaded")
	}
	host := ev.Host
	if host == 0 {
		host = HostArch(ev.Violations) // "native" is the recording host's ABI
	}
	var blocked []fixes.Blocked
	for _, v := range ev.Violations {
		wv := Finding{Violation: ViolationOf(v, t)}
		if !v.Known() {
			wv.BlockedBy = BlockedBy{Cause: "unknown", Explain: "the coredump has no audit record and no readable core file: the syscall is unknown"}
			res.Violations = append(res.Violations, wv)
			continue
		}
		wv.BlockedBy = Blocked(f, v, host)
		res.Violations = append(res.Violations, wv)
		blocked = append(blocked, fixes.Blocked{Name: v.Name, Arch: v.Arch, Nr: v.Syscall})
	}
	res.Diagnosis = summary(u, f, res, ev)
	if len(blocked) == 0 {
		return res
	}
	home := u.Home
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" { // $HOME unset: the passwd entry, never a path relative to the working directory
		if me, err := user.Current(); err == nil {
			home = me.HomeDir
		}
	}
	dropin := filepath.Join(unitfile.DropInDir(u.Name, u.User, home), unitfile.DropInName)
	// An earlier drop-in of sysdiag's is replaced by the new one: carry what it allowed.
	var keep fixes.Keep
	for _, a := range u.Assigns {
		switch {
		case a.File != dropin:
		case a.Directive == "SystemCallFilter" && !strings.HasPrefix(a.Value, "~"):
			keep.Allow = append(keep.Allow, strings.Fields(a.Value)...)
		case a.Directive == "SystemCallArchitectures":
			keep.Architectures = append(keep.Architectures, strings.Fields(a.Value)...)
		}
	}
	minimal, alts := fixes.Propose(f, blocked, host, 1, keep)
	if len(minimal.Unnameable) > 0 {
		res.Notes = append(res.Notes, minimal.Note)
	}
	if len(minimal.Allow) == 0 && len(minimal.Architectures) == 0 {
		// Nothing can be let through by name: the errno-for-every-denied-call variant, if there is one.
		var rest []fixes.Fix
		found := false
		for _, a := range alts {
			if a.ErrorNumber != "" && !found {
				minimal, found = a, true
				continue
			}
			rest = append(rest, a)
		}
		if !found {
			return res
		}
		alts = rest
	}
	fx := &Fix{Alt: altOf(minimal), DropinPath: dropin, Alternatives: []Alt{}}
	for _, a := range alts {
		fx.Alternatives = append(fx.Alternatives, altOf(a))
	}
	sc := "systemctl" + UserFlag(u.User)
	fx.Commands = []string{sc + " daemon-reload", sc + " restart " + u.Name}
	// The "before" of the check: for a live service the manager's own SystemCallFilter property, not
	// sysdiag's reading of the files and group tables (the model), when the manager has one.
	before := f
	if u.Live && strings.HasSuffix(u.Name, ".service") && len(u.DBusFilter) > 0 {
		before = fixes.FromManager(f, u.DBusAllow, u.DBusFilter)
		fx.Verification = append(fx.Verification, fmt.Sprintf("before: the manager's own SystemCallFilter property (%d names), not sysdiag's model of the files", len(u.DBusFilter)))
	}
	after := before
	if minimal.ErrorNumber != "" {
		after = after.With(fixes.Assignment{Directive: "SystemCallErrorNumber", Value: minimal.ErrorNumber})
	}
	if len(minimal.Architectures) > 0 {
		after = after.With(fixes.Assignment{Directive: "SystemCallArchitectures", Value: strings.Join(minimal.Architectures, " ")})
	}
	if len(minimal.Allow) > 0 {
		after = after.With(fixes.Assignment{Directive: "SystemCallFilter", Value: strings.Join(minimal.Allow, " ")})
	}
	fx.Verified = true
	for _, b := range blocked {
		vd, err := fixes.Verify(before, after, b.Arch, host, b.Nr)
		if err != nil {
			fx.Verified = false
			fx.Verification = append(fx.Verification, err.Error())
			continue
		}
		fx.Verification = append(fx.Verification, vd.Detail)
		if minimal.ErrorNumber != "" {
			vd.Verified = vd.Killed(vd.Before) && !vd.Killed(vd.After) // the promise: an errno, not a kill
		}
		if !vd.Verified {
			fx.Verified = false
		}
	}
	res.Fix = fx
	return res
}

func altOf(f fixes.Fix) Alt {
	a := Alt{Label: f.Label, Allow: f.Allow, Deny: f.Deny, Architectures: f.Architectures, Dropin: f.DropIn,
		NewlyAllowed: f.NewlyAllowed, Note: f.Note,
		Exposure: Exposure{Before: round2(f.Exposure.Before), After: round2(f.Exposure.After), Delta: round2(f.Exposure.Delta), Rows: f.Exposure.Rows}}
	if a.Allow == nil {
		a.Allow = []string{}
	}
	if a.Architectures == nil {
		a.Architectures = []string{}
	}
	if a.NewlyAllowed == nil {
		a.NewlyAllowed = []string{}
	}
	if a.Exposure.Rows == nil {
		a.Exposure.Rows = []fixes.RowChange{}
	}
	return a
}

func round2(x float64) float64 { return float64(int(x*100+0.5)) / 100 }

// sameNames compares the model's names with the manager's D-Bus list, ignoring order.
func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// summary is the one-paragraph answer, also when nothing was found.
func summary(u *Unit, f *fixes.Filter, res *Result, ev *Evidence) string {
	if len(res.Violations) > 0 {
		var names []string
		for _, v := range res.Violations {
			if v.Syscall != "" {
				names = append(names, v.Syscall)
			}
		}
		if len(names) == 0 { // known only from a coredump or an exit: no record names the call
			return fmt.Sprintf("%s was killed by its seccomp filter (SIGSYS), call unknown: no audit record in the window", u.Name)
		}
		return fmt.Sprintf("%s was killed by its seccomp filter: %s blocked", u.Name, strings.Join(uniq(names), ", "))
	}
	var parts []string
	if e := ev.LastExit; e != nil && e.ExitCode == "exited" {
		switch e.ExitStatus {
		case 228:
			parts = append(parts, "its last run ended with status 228/SECCOMP: systemd could not install the filter (not a violation; see the unit's log)")
		case 232:
			parts = append(parts, "its last run ended with status 232/ADDRESS_FAMILIES: RestrictAddressFamilies= could not be installed (not a violation)")
		case 203:
			parts = append(parts, "its last run ended with status 203/EXEC: the program could not be executed (e.g. \"Exec format error\" for a binary of an ABI this kernel cannot run), before any filter mattered: no SystemCallFilter= or SystemCallArchitectures= change will help")
		}
	}
	if f.Mode == fixes.ModeNone {
		parts = append(parts, "the unit has no SystemCallFilter=, so seccomp did not kill it")
	}
	if f.SilentDenials() {
		parts = append(parts, fmt.Sprintf("its filter makes denied calls fail with %s instead of killing: such denials leave no audit record and no coredump (systemd loads errno filters without the log flag); to see them, run the unit once with SystemCallErrorNumber= emptied in a drop-in (denials then kill and are recorded), or with $SYSTEMD_LOG_SECCOMP=1 in the manager's environment",
			errnoWord(f)))
	}
	for _, im := range fixes.Implicits(f.Table, u.Assigns) {
		parts = append(parts, "possibly denied silently by "+im.Summary()+" (no audit record; sysdiag trial "+u.Name+" shows every such call)")
	}
	if n := len(ev.Unattributed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d kill(s) during its run could not be tied to it or to any unit (see the notes)", n))
	}
	msg := "no seccomp kill found for " + u.Name
	if ev.Searched != "" {
		msg += " (searched " + ev.Searched + ")"
	}
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	return msg
}

func errnoWord(f *fixes.Filter) string {
	if f.ErrorNumber != fixes.ErrnoKill {
		return fixes.ErrnoName(f.ErrorNumber)
	}
	return "an errno"
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Violation is one violation in --json output (events, why, watch share it).
type Violation struct {
	Time      string    `json:"time"`
	Unit      string    `json:"unit,omitempty"`
	UserUnit  bool      `json:"user_unit,omitempty"`
	Manager   string    `json:"manager,omitempty"`
	PID       int       `json:"pid"`
	UID       uint32    `json:"uid"`
	Comm      string    `json:"comm,omitempty"`
	Exe       string    `json:"exe,omitempty"`
	Syscall   string    `json:"syscall"`
	Number    int       `json:"number"`
	Arch      string    `json:"arch"`
	AuditArch string    `json:"audit_arch"`
	Compat    int       `json:"compat"`
	Groups    []string  `json:"groups"`
	Action    string    `json:"action"`
	Code      string    `json:"code"`
	Sig       int       `json:"sig"`
	Serial    uint64    `json:"serial,omitempty"`
	Node      string    `json:"node,omitempty"`
	MachineID string    `json:"machine_id,omitempty"` // the host's, where a journal of several hosts names it
	Sources   []string  `json:"sources"`
	Function  string    `json:"function,omitempty"`
	Frames    []Frame   `json:"frames,omitempty"`
	Coredump  *Coredump `json:"coredump,omitempty"`
	// AttributedBy says how Unit was found: "coredump", "cgroup", "main-pid", "journal-pid", "main-exit".
	AttributedBy *evidence.Attribution `json:"attributed_by,omitempty"`
	Extra        map[string]bool       `json:"-"`
}

type Frame struct {
	Function string `json:"function,omitempty"`
	Module   string `json:"module,omitempty"`
	Offset   uint64 `json:"offset"`
}

type Coredump struct {
	Cmdline  string `json:"cmdline,omitempty"`
	Cgroup   string `json:"cgroup,omitempty"`
	Filename string `json:"filename,omitempty"`
}

func ViolationOf(v evidence.Violation, t syscalls.Table) Violation {
	j := Violation{Time: v.Time.UTC().Format(time.RFC3339Nano), Unit: v.Unit, UserUnit: v.UserUnit, Manager: v.Manager,
		PID: v.PID, UID: v.UID, Comm: v.Comm, Exe: v.Exe, Syscall: v.Name, Number: v.Syscall, Arch: v.Arch.String(),
		AuditArch: v.Arch.Hex(), Compat: v.Compat, Groups: GroupNames(v, t), Action: v.Action.String(),
		Code: CodeHex(v.Code), Sig: v.Sig, Serial: v.Serial, Node: v.Node, MachineID: v.Machine, Sources: v.Sources}
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
			j.Frames = append(j.Frames, Frame{f.Function, f.Module, f.Offset})
		}
		j.Coredump = &Coredump{Cmdline: c.Cmdline, Cgroup: c.Cgroup, Filename: c.Filename}
	}
	return j
}

func CodeHex(c uint32) string {
	const hexd = "0123456789abcdef"
	b := []byte("0x00000000")
	for i := 9; i >= 2; i-- {
		b[i] = hexd[c&0xf]
		c >>= 4
	}
	return string(b)
}

// GroupNames lists the groups of v's syscall, smallest first, without @known (every syscall is there).
// A flood of records names the same few syscalls: the answers are remembered per table and name.
func GroupNames(v evidence.Violation, t syscalls.Table) []string {
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

// Unit is what sysdiag knows of a unit: its files' settings with provenance, and the manager's state
// of it (internal/unit).
type Unit = unit.Unit

// SourceReport says what one evidence source gave (internal/sources reads them).
type SourceReport = sources.Report

// UserFlag is " --user" for a user unit's commands.
func UserFlag(user bool) string {
	if user {
		return " --user"
	}
	return ""
}

// Blocked says which line of f blocked v's call, for the recording host's native ABI host.
func Blocked(f *fixes.Filter, v evidence.Violation, host syscalls.Arch) BlockedBy {
	d := f.Decide(v.Name, v.Arch, host)
	b := BlockedBy{Cause: string(d.Cause), Explain: d.Explain, Via: d.Origin.Via, Kills: d.Kills}
	if a := d.Origin.Assignment; a != nil {
		b.Line = &Line{a.Directive, a.Value, a.File, a.Line}
	}
	if d.Blocked && !d.Kills {
		b.Errno = fixes.ErrnoName(d.Errno)
	}
	return b
}

// CompareAnalyze checks the model's SystemCallFilter=~@… rows against those systemd-analyze security
// showed for the unit (row id → set), recording the outcome in res: a note names every row they
// disagree on. analyzeVersion is the major version of the systemd-analyze that ran; rows are compared
// only when it is the target's (the group tables differ between releases).
func CompareAnalyze(res *Result, f *fixes.Filter, rows map[string]bool, analyzeVersion int) {
	if analyzeVersion != f.Table.Version().Major {
		return // another release's tables: not comparable (matches_systemd_analyze stays unset)
	}
	var diff []string
	n := 0
	for _, r := range syscalls.SecurityRows() {
		set, ok := rows[r.ID]
		if !ok {
			continue
		}
		n++
		if set != f.SecurityRowSet(r.Group) {
			diff = append(diff, fmt.Sprintf("%s (systemd-analyze: set=%v, sysdiag: set=%v)", r.ID, set, !set))
		}
	}
	if n == 0 {
		return
	}
	m := len(diff) == 0
	res.Filter.MatchesAnalyze = &m
	if !m {
		res.Notes = append(res.Notes, "systemd's own offline loader reads this unit's filter differently from sysdiag: "+strings.Join(diff, "; ")+" — please report it")
	}
}
