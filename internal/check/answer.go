package check

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Answer is `sysdiag check`'s answer (its --json): the programs analysed, the calls their unit's filters
// would block, the diagnosis of those and the fix, all a prediction. Analysed starts it, Predict fills it
// in, Status decides what it means for the exit status.
type Answer struct {
	Unit       string             `json:"unit"`
	Prediction bool               `json:"prediction"`
	Systemd    string             `json:"systemd_version"`
	Table      string             `json:"table"`
	TableNote  string             `json:"table_note"`
	Filter     string             `json:"filter_mode"`
	Programs   []*Program         `json:"programs"`
	Blocked    []Blocked          `json:"blocked"`
	Findings   []diagnose.Finding `json:"findings"`
	Fix        *diagnose.Fix      `json:"fix,omitempty"`
	Notes      []string           `json:"notes"`
	// Incomplete: something could not be analysed (NotAnalysed says what and why); the prediction
	// covers only the rest.
	Incomplete  bool          `json:"incomplete"`
	NotAnalysed []NotAnalysed `json:"not_analysed"`

	s *Subject
}

// Status is what an *Error means for the exit status.
type Status int

const (
	StatusUsage      Status = iota + 1 // the command line is wrong: no --filter, a --filter value no group
	StatusNotFound                     // the unit runs no program
	StatusFailure                      // the unit's commands could not be read
	StatusPredicted                    // calls were predicted blocked
	StatusIncomplete                   // something could not be analysed, and nothing was predicted blocked
)

// Error is a check that found no answer, or an answer a pipeline stops on: its Status, and a hint that
// names the next step.
type Error struct {
	Status Status
	Err    error
	Hint   string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExecUnit is the unit `check --exec PATH --filter VALUE…` stands for: the one program under fsys, and
// the SystemCallFilter= values in order as its lines. No filter is a StatusUsage error.
func ExecUnit(fsys fs.FS, path string, filters []string) (*diagnose.Unit, []Target, error) {
	if len(filters) == 0 {
		return nil, nil, &Error{StatusUsage, fmt.Errorf("--exec needs at least one --filter"), "e.g. --filter @system-service --filter '~@network-io'"}
	}
	u := &diagnose.Unit{Name: "(--exec " + path + ")"}
	for i, f := range filters {
		u.Assigns = append(u.Assigns, fixes.Assignment{Directive: "SystemCallFilter", Value: f, File: "--filter", Line: i + 1})
	}
	ts := Targets(fsys, []unitfile.Command{{Directive: "--exec", Path: path, Args: []string{path}, File: "command line"}}, "")
	return u, ts, runsSome(u, ts)
}

// UnitTargets are the programs of u's Exec*= lines, read from its files under fsys, and the values that
// could not be read (skipped, each "FILE:LINE: …"). A unit whose every command was skipped is a
// StatusFailure error, one with none a StatusNotFound error.
func UnitTargets(fsys fs.FS, u *diagnose.Unit) (ts []Target, skipped []string, err error) {
	cmds, skipped, err := unitfile.CommandsChecked(fsys, u.Files)
	if err != nil {
		return nil, nil, &Error{StatusFailure, fmt.Errorf("reading the unit's commands: %w", err), ""}
	}
	ts = Targets(fsys, cmds, u.Name)
	if len(ts) == 0 && len(skipped) > 0 {
		return nil, skipped, &Error{StatusFailure, fmt.Errorf("%s: no command could be read: %s", u.Name, strings.Join(skipped, "; ")), "systemd refuses such a line too: fix its quoting"}
	}
	return ts, skipped, runsSome(u, ts)
}

func runsSome(u *diagnose.Unit, ts []Target) error {
	if len(ts) == 0 {
		return &Error{StatusNotFound, fmt.Errorf("%s runs no program sysdiag can find (no Exec*= line)", u.Name), ""}
	}
	return nil
}

// Retarget finds the targets' programs again under another root (--programs-root): a script's
// interpreter is found again from its script.
func Retarget(fsys fs.FS, ts []Target) []Target {
	var cmds []unitfile.Command
	for _, t := range ts {
		if t.Interp != "" {
			continue
		}
		cmds = append(cmds, unitfile.Command{Directive: strings.Join(t.From, ", "), Path: t.Path, Args: []string{t.Path}})
	}
	return Targets(fsys, cmds, "")
}

// Subject is what a check is about: the unit, the group table of its systemd version (chosen as Note
// says), and its filters under that table — SystemCallFilter= and the implicit ones.
type Subject struct {
	Unit      *diagnose.Unit
	Table     syscalls.Table
	Note      string
	Filter    *fixes.Filter
	Implicits []fixes.Implicit
}

// NewSubject builds u's filters under table t (known: the syscall names its manager resolves, as
// fixes.Build takes them). With exec (check --exec), a --filter value that names nothing is the user's
// mistake, a StatusUsage error, not a line systemd would skip.
func NewSubject(u *diagnose.Unit, t syscalls.Table, note string, known fixes.Known, exec bool) (*Subject, error) {
	f := fixes.Build(t, u.Assigns, known)
	if exec {
		for _, w := range f.Warnings {
			if strings.HasPrefix(w, "--filter:") {
				return nil, &Error{StatusUsage, errors.New(w), "see 'sysdiag groups' for the groups of systemd v" + t.Label() + ", 'sysdiag syscall NAME' for a call"}
			}
		}
	}
	return &Subject{u, t, note, f, fixes.Implicits(t, u.Assigns)}, nil
}

// Scan is how a check reads programs: under FS, each with the libraries it loads (each library once),
// their summaries kept in Cache when it is set. Progress, when set, hears of each program before it is
// scanned; Warn, when set, of a cache that could not be written.
type Scan struct {
	FS       fs.FS
	Cache    *Cache
	Progress func(path string)
	Warn     func(error)
}

// Analyse scans the targets' programs and starts the subject's answer from them (Analysed).
func (sc Scan) Analyse(s *Subject, ts []Target) (*Answer, error) {
	l := NewLoader(sc.FS)
	l.Cache = sc.Cache
	var progs []*Program
	for _, t := range ts {
		if sc.Progress != nil {
			sc.Progress(t.Path)
		}
		progs = append(progs, l.AnalyzeTarget(t))
	}
	a, err := Analysed(s, progs)
	if err == nil {
		if err := l.Save(); err != nil && sc.Warn != nil {
			sc.Warn(err)
		}
	}
	return a, err
}

// Analysed starts the subject's answer from its programs as analysed: what could not be is gathered in
// NotAnalysed. When none of them could be, there is no answer, only a StatusIncomplete error: never a
// "nothing found" a gate could mistake for one.
func Analysed(s *Subject, progs []*Program) (*Answer, error) {
	t := s.Table
	a := &Answer{Unit: s.Unit.Name, Prediction: true, Systemd: t.Requested.String(), Table: t.Label(), TableNote: s.Note,
		Filter: s.Filter.Mode.String(), Programs: progs, Notes: []string{}, Findings: []diagnose.Finding{}, s: s}
	a.NotAnalysed = Incomplete(progs)
	a.Incomplete = len(a.NotAnalysed) > 0
	var errs []string
	for _, p := range progs {
		if p.Error == "" && p.RunBy == "" {
			return a, nil
		}
		errs = append(errs, p.Path+": "+p.Error)
	}
	return nil, &Error{StatusIncomplete, fmt.Errorf("none of %s's programs could be analysed: %s", a.Unit, strings.Join(errs, "; ")),
		"a tree of unit files only? --programs-root / reads the programs and libraries of this machine"}
}

// Predict finds what the unit's filters block of its programs' calls (native ABI host), and diagnoses
// those reached likely — all of them with possible — as why would: which line blocks each, and the fix.
func (a *Answer) Predict(host syscalls.Arch, possible bool) {
	s := a.s
	a.Blocked = Predict(s.Filter, s.Implicits, a.Programs, host)
	if a.Blocked == nil {
		a.Blocked = []Blocked{}
	}
	if vs := Violations(a.Blocked, !possible); len(vs) > 0 {
		res := diagnose.Diagnose(s.Unit, s.Filter, s.Table, s.Note, &diagnose.Evidence{Violations: vs, Host: host})
		a.Findings, a.Fix = res.Violations, res.Fix
		a.Notes = append(a.Notes, res.Notes...)
	}
	if s.Filter.Mode == fixes.ModeNone && len(s.Implicits) == 0 {
		a.Notes = append(a.Notes, "the unit has no SystemCallFilter= and no directive with a filter of its own: nothing is blocked")
	}
}

// Status is what the answer means for a pipeline: StatusPredicted when a call is predicted blocked —
// even if the prediction is incomplete: what was found is found —, else StatusIncomplete when something
// could not be analysed, else nil. rootOnly: the programs were looked for under a --root with no
// --programs-root (a program not found there is then likely on this machine).
func (a *Answer) Status(rootOnly bool) error {
	incomplete := ""
	if a.Incomplete {
		incomplete = fmt.Sprintf("; incomplete: %d file(s) could not be analysed", len(a.NotAnalysed))
	}
	if len(a.Blocked) > 0 {
		return &Error{StatusPredicted, fmt.Errorf("%d call(s) of %s's programs would be blocked by its filter (a prediction%s)", len(a.Blocked), a.Unit, incomplete), ""}
	}
	if !a.Incomplete {
		return nil
	}
	hint := ""
	for _, n := range a.NotAnalysed {
		if strings.HasPrefix(n.Reason, "not found") && rootOnly {
			hint = "the tree under --root lacks them: copy them in, or read this machine's programs and libraries with --programs-root /"
		}
	}
	return &Error{StatusIncomplete, fmt.Errorf("the prediction for %s is incomplete: %d file(s) could not be analysed (listed above); it covers only what was", a.Unit, len(a.NotAnalysed)), hint}
}
