// Package check predicts a unit's seccomp kills before it runs: the programs its Exec*= lines run, the
// system calls each can make (internal/scan: their own code and, through the libraries' call graphs,
// their imports), and which of those the unit's filter — SystemCallFilter= and the implicit filters of
// ProtectClock= & co. — would block. It reads files only (a unit's "/" as an fs.FS) and decides; the
// command renders and, asked, writes.
//
// A prediction covers only what was analysed: a program, a library it needs or its dynamic loader that
// could not be (not found under the root, not an ELF file, another architecture's code, past the
// scanner's bounds) is named with its reason in Program.NotAnalysed or Program.Error, and Incomplete
// gathers them for the unit's answer.
package check

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/internal/scan"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// MaxELF bounds the size of a file the scanner reads (a hostile tree's huge file is refused, not read).
// The scanner bounds what it reads of one further (internal/scan: 64 MiB of code).
const MaxELF = 512 << 20

// NotAnalysed is a file a prediction leaves out, and why: a program, a library it needs (not found under
// the root, not an ELF file, another architecture's, too large) or its dynamic loader. The calls it would
// make are not counted: a prediction with one is incomplete.
type NotAnalysed struct {
	Path   string `json:"path"` // the file; for a library not found, the name the program needs
	What   string `json:"what"` // "program", "library" or "dynamic loader"
	Reason string `json:"reason"`
	// Programs are the unit's programs whose predictions it leaves out (in a unit's answer).
	Programs []string `json:"programs,omitempty"`
}

// Program is one program a unit runs, and what it can call.
type Program struct {
	Path    string   `json:"path"`
	From    []string `json:"from"` // the Exec lines that run it ("ExecStart (unit.service:5)")
	Interp  string   `json:"interpreter_of,omitempty"`
	RunBy   string   `json:"run_by,omitempty"` // a "#!" script: its interpreter, analysed as a program of its own
	Static  bool     `json:"static"`
	Go      bool     `json:"go"`
	Libs    []string `json:"libraries"`
	Missing []string `json:"missing_libraries,omitempty"`
	// NotAnalysed are its libraries and loader that could not be analysed (the program itself: Error).
	NotAnalysed []NotAnalysed  `json:"not_analysed,omitempty"`
	Unknown     int            `json:"computed_numbers"` // syscall sites whose number is computed: not followed
	Reached     []scan.Reached `json:"reached"`
	Notes       []string       `json:"notes"`
	Error       string         `json:"error,omitempty"` // why the program itself was not analysed
	Seconds     float64        `json:"seconds"`
	BuildID     string         `json:"build_id,omitempty"`
}

// Loader scans programs and the libraries they load under one "/", each library once (by path).
type Loader struct {
	FS      fs.FS
	Dirs    []string // the loader's default directories; nil: Debian's multiarch ones
	libs    map[string]*scan.Library
	errs    map[string]error
	interps map[string]*scan.Binary
	// Cache, when set, keeps library summaries by build-id between runs.
	Cache *Cache
}

// NewLoader reads programs under fsys.
func NewLoader(fsys fs.FS) *Loader {
	return &Loader{FS: fsys, libs: map[string]*scan.Library{}, errs: map[string]error{}}
}

var defaultDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}

// open scans the file at p; an error is a reason for a person, without the path: "not found", "not an
// ELF file", "too large (…)".
func (l *Loader) open(p string) (*scan.Binary, error) {
	b, err := l.scan(p)
	if err != nil {
		return b, errors.New(reason(b, err))
	}
	return b, nil
}

func (l *Loader) scan(p string) (*scan.Binary, error) {
	f, err := l.FS.Open(strings.TrimPrefix(p, "/"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errNotRegular
	}
	if st.Size() > MaxELF {
		return nil, fmt.Errorf("too large (%d MiB, the bound is %d MiB per file)", st.Size()>>20, MaxELF>>20)
	}
	var r io.ReaderAt
	size := st.Size()
	if ra, ok := f.(io.ReaderAt); ok {
		r = ra
	} else {
		data, err := io.ReadAll(io.LimitReader(f, MaxELF))
		if err != nil {
			return nil, err
		}
		r, size = bytes.NewReader(data), int64(len(data))
	}
	return scan.Open(r, size, p)
}

var errNotRegular = errors.New("not a regular file")

// reason says why a file was not analysed, for a person (b: what the scanner read of it, or nil).
func reason(b *scan.Binary, err error) string {
	var fe *elf.FormatError
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "not found"
	case errors.Is(err, scan.ErrArch):
		if b != nil && b.Arch.Known() && b.Arch != syscalls.ArchX86_64 {
			return fmt.Sprintf("%s code: only x86-64 is analysed", b.Arch)
		}
		if b != nil {
			return fmt.Sprintf("not x86-64 code (%s): only x86-64 is analysed", b.Machine)
		}
		return "not x86-64 code: only x86-64 is analysed"
	case errors.As(err, &fe) && strings.Contains(fe.Error(), "bad magic"), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "not an ELF file"
	case errors.As(err, &fe):
		return "not a valid ELF file: " + err.Error()
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return err.Error()
}

// find is where the dynamic loader would find a DT_NEEDED name for an object at from: a name with a
// slash as it is, else the object's RUNPATH ($ORIGIN its directory), then the default directories.
func (l *Loader) find(name, from string, runpath []string) (string, bool) {
	if strings.Contains(name, "/") {
		return name, l.exists(name)
	}
	dirs := append([]string(nil), runpath...)
	for i, d := range dirs {
		dirs[i] = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", path.Dir(from)), "$ORIGIN", path.Dir(from))
	}
	ds := l.Dirs
	if ds == nil {
		ds = defaultDirs
	}
	for _, d := range append(dirs, ds...) {
		if p := path.Join(d, name); strings.HasPrefix(p, "/") && l.exists(p) {
			return p, true
		}
	}
	return "", false
}

func (l *Loader) exists(p string) bool {
	st, err := fs.Stat(l.FS, strings.TrimPrefix(p, "/"))
	return err == nil && st.Mode().IsRegular()
}

func (l *Loader) library(p string) (*scan.Library, error) {
	if lib, ok := l.libs[p]; ok {
		return lib, nil
	}
	if err, ok := l.errs[p]; ok {
		return nil, err
	}
	if l.Cache != nil {
		if id := l.buildID(p); id != "" {
			if lib := l.Cache.Get(path.Base(p), id); lib != nil {
				l.libs[p] = lib
				return lib, nil
			}
		}
	}
	b, err := l.open(p)
	if err != nil {
		l.errs[p] = err
		return nil, err
	}
	lib := scan.NewLibrary(path.Base(p), b)
	l.libs[p] = lib
	return lib, nil
}

// buildID reads only the library's build-id note ("" when it has none or cannot be read).
func (l *Loader) buildID(p string) string {
	f, err := l.FS.Open(strings.TrimPrefix(p, "/"))
	if err != nil {
		return ""
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	st, err := f.Stat()
	if !ok || err != nil {
		return ""
	}
	return scan.BuildID(ra, st.Size())
}

// Save writes the scanned libraries' summaries to the cache, when there is one.
func (l *Loader) Save() error {
	if l.Cache == nil {
		return nil
	}
	var errs []error
	for _, lib := range l.libs {
		errs = append(errs, l.Cache.Put(lib))
	}
	return errors.Join(errs...)
}

// Analyze scans one program: its code, its libraries (breadth-first, as the loader loads them) and its
// dynamic loader.
func (l *Loader) Analyze(p string) *Program {
	t0 := time.Now()
	prog := &Program{Path: p, Libs: []string{}, Notes: []string{}, Reached: []scan.Reached{}}
	defer func() { prog.Seconds = time.Since(t0).Seconds() }()
	b, err := l.open(p)
	if err != nil {
		prog.Error = err.Error()
		return prog
	}
	prog.Static, prog.Go, prog.Unknown, prog.BuildID = b.Static, b.Go, b.Unknown, b.BuildID
	var libs []*scan.Library
	type need struct {
		name, from string
		runpath    []string
	}
	queue := []need{}
	for _, n := range b.Needed {
		queue = append(queue, need{n, p, b.RunPath})
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n.name] {
			continue
		}
		seen[n.name] = true
		lp, ok := l.find(n.name, n.from, n.runpath)
		if !ok {
			prog.Missing = append(prog.Missing, n.name)
			prog.NotAnalysed = append(prog.NotAnalysed, NotAnalysed{Path: n.name, What: "library",
				Reason: "not found in the loader's search path (needed by " + n.from + ")"})
			continue
		}
		lib, err := l.library(lp)
		if err != nil {
			prog.NotAnalysed = append(prog.NotAnalysed, NotAnalysed{Path: lp, What: "library", Reason: err.Error()})
			continue
		}
		libs = append(libs, lib)
		prog.Libs = append(prog.Libs, lp)
		for _, m := range lib.Needed {
			queue = append(queue, need{m, lp, lib.RunPath})
		}
	}
	var interp *scan.Binary
	if b.Interp != "" {
		if ib, err := l.interp(b.Interp); err == nil {
			interp = ib
		} else {
			prog.NotAnalysed = append(prog.NotAnalysed, NotAnalysed{Path: b.Interp, What: "dynamic loader", Reason: err.Error()})
		}
	}
	prog.Reached = scan.Reach(b, libs, interp)
	if prog.Unknown > 0 {
		prog.Notes = append(prog.Notes, fmt.Sprintf("%d syscall site(s) in its own code take a computed number: not followed", prog.Unknown))
	}
	return prog
}

// interp scans the dynamic loader once (as a program: all its code runs at start-up).
func (l *Loader) interp(p string) (*scan.Binary, error) {
	if l.interps == nil {
		l.interps = map[string]*scan.Binary{}
	}
	if b, ok := l.interps[p]; ok {
		return b, nil
	}
	if err, ok := l.errs[p]; ok {
		return nil, err
	}
	b, err := l.open(p)
	if err != nil {
		l.errs[p] = err
		return nil, err
	}
	l.interps[p] = b
	return b, nil
}

// AnalyzeTarget analyses one of a unit's programs: Analyze, with the lines that run it and what the
// command line said of it. A program whose path is not known offline is not analysed.
func (l *Loader) AnalyzeTarget(t Target) *Program {
	var p *Program
	switch {
	case t.NotAnalysed != "":
		p = &Program{Path: t.Path, Libs: []string{}, Notes: []string{}, Reached: []scan.Reached{}, Error: t.NotAnalysed}
	case t.RunBy != "":
		// The kernel runs the interpreter, analysed as its own target; what the script makes it do is
		// within the interpreter's calls, the programs it runs are not followed (the package's doc).
		p = &Program{Path: t.Path, Libs: []string{}, Notes: []string{}, Reached: []scan.Reached{}, RunBy: t.RunBy}
	case !strings.HasPrefix(t.Path, "/"):
		p = &Program{Path: t.Path, Libs: []string{}, Notes: []string{}, Reached: []scan.Reached{}, Error: "not found in systemd's search path for programs"}
	default:
		p = l.Analyze(t.Path)
	}
	p.From = t.From
	p.Interp = t.Interp
	p.Notes = append(p.Notes, t.Notes...)
	return p
}

// Incomplete lists, once each, what the programs' predictions leave out: a program that could not be
// analysed, and the libraries and loaders that could not be, each with the programs it concerns. Empty:
// the prediction covers every program and everything they load (but dlopen(), see the package's doc).
func Incomplete(progs []*Program) []NotAnalysed {
	out := []NotAnalysed{}
	idx := map[string]int{}
	add := func(n NotAnalysed, prog string) {
		key := n.What + "\x00" + n.Path
		if i, ok := idx[key]; ok {
			out[i].Programs = appendNew(out[i].Programs, prog)
			return
		}
		idx[key] = len(out)
		n.Programs = []string{prog}
		out = append(out, n)
	}
	for _, p := range progs {
		if p.Error != "" {
			add(NotAnalysed{Path: p.Path, What: "program", Reason: p.Error}, p.Path)
			continue
		}
		for _, n := range p.NotAnalysed {
			add(n, p.Path)
		}
	}
	return out
}

// Target is one program a unit's commands run, with the lines that run it.
type Target struct {
	Path   string
	From   []string
	Interp string // for an interpreter: the script it runs
	RunBy  string // for a "#!" script: its interpreter (a target of its own)
	Notes  []string
	// NotAnalysed says why the program cannot be analysed ("" when it can): a specifier in its path
	// that is not known offline.
	NotAnalysed string
}

// Targets are the programs the unit's commands run under fsys: each command's program (symlinks
// resolved; a name without a slash searched in systemd's fixed path), a "#!" script's interpreter (the
// script's own commands are not followed), and for `sh -c '…'` the plain commands of the line.
func Targets(fsys fs.FS, cmds []unitfile.Command, unit string) []Target {
	var out []Target
	idx := map[string]int{}
	add := func(p, from, interp, note string) {
		if p == "" {
			return
		}
		if i, ok := idx[p]; ok {
			out[i].From = appendNew(out[i].From, from)
			if note != "" {
				out[i].Notes = appendNew(out[i].Notes, note)
			}
			return
		}
		idx[p] = len(out)
		t := Target{Path: p, From: []string{from}, Interp: interp}
		if note != "" {
			t.Notes = []string{note}
		}
		out = append(out, t)
	}
	for _, c := range cmds {
		from := fmt.Sprintf("%s (%s:%d)", c.Directive, c.File, c.Line)
		if strings.Contains(c.Path, "%") {
			p, ok := Specifiers(c.Path, unit)
			if !ok {
				out = append(out, Target{Path: c.Path, From: []string{from}, NotAnalysed: "a specifier in its path that is not known offline"})
				continue
			}
			c.Path = p
		}
		progs := unitfile.Programs(fsys, []unitfile.Command{c})
		if len(progs) == 0 {
			continue
		}
		add(progs[0], from, "", "")
		if len(progs) > 1 {
			out[idx[progs[0]]].RunBy = progs[1]
			add(progs[1], from, progs[0], "interpreter of the script "+progs[0]+": the script's own commands are not followed")
		}
		base := path.Base(progs[0])
		if (base == "sh" || base == "bash" || base == "dash") && len(c.Args) >= 3 && c.Args[1] == "-c" {
			for _, w := range simpleCommands(c.Args[2]) {
				sub := unitfile.Programs(fsys, []unitfile.Command{{Path: w, Args: []string{w}}})
				if len(sub) > 0 && strings.HasPrefix(sub[0], "/") {
					add(sub[0], from+" via "+base+" -c", "", "")
				}
			}
		}
	}
	return out
}

// simpleCommands are the first words of the simple commands of a shell line that are plain program
// names or paths (no expansion, no assignment, no builtin that runs nothing).
func simpleCommands(line string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(";&|\n()", r) }) {
		words := strings.Fields(part)
		for len(words) > 0 && (words[0] == "exec" || words[0] == "then" || words[0] == "else" || words[0] == "do" ||
			words[0] == "if" || words[0] == "while" || words[0] == "until" || words[0] == "!" || words[0] == "command") {
			words = words[1:]
		}
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "=") {
			words = words[1:] // VAR=value before the command
		}
		if len(words) == 0 {
			continue
		}
		w := words[0]
		if strings.ContainsAny(w, "$`\"'=*?[]{}<>~") || shellBuiltin[w] {
			continue
		}
		out = append(out, w)
	}
	sort.Strings(out)
	return compact(out)
}

var shellBuiltin = map[string]bool{"fi": true, "done": true, "true": true, "false": true, "cd": true, "echo": true, "printf": true,
	"test": true, "[": true, "export": true, "set": true, "unset": true, "read": true, "exit": true, "return": true,
	"shift": true, "wait": true, "trap": true, "umask": true, "ulimit": true, ":": true, ".": true, "source": true, "eval": true}

func compact(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func appendNew(s []string, x string) []string {
	for _, y := range s {
		if y == x {
			return s
		}
	}
	return append(s, x)
}

// Specifiers expands the unit-name specifiers of systemd.unit(5) that are known offline in a command's
// program path (%n %N %p %P %i %I %j %J %f %%, and the system manager's fixed directories %t %S %C %L %E
// %T %V); ok false for any other (%h %u %H %b …: the running host's).
func Specifiers(s, unit string) (string, bool) {
	full := unit
	base := strings.TrimSuffix(full, path.Ext(full))
	prefix, instance := base, ""
	if i := strings.Index(base, "@"); i >= 0 {
		prefix, instance = base[:i], base[i+1:]
	}
	jp := prefix
	if i := strings.LastIndex(prefix, "-"); i >= 0 {
		jp = prefix[i+1:]
	}
	unesc := func(x string) string { return strings.ReplaceAll(x, "-", "/") }
	vals := map[byte]string{'n': full, 'N': base, 'p': prefix, 'P': unesc(prefix), 'i': instance, 'I': unesc(instance),
		'j': jp, 'J': unesc(jp), 'f': "/" + unesc(instance), '%': "%",
		't': "/run", 'S': "/var/lib", 'C': "/var/cache", 'L': "/var/log", 'E': "/etc", 'T': "/tmp", 'V': "/var/tmp"}
	if instance == "" {
		vals['f'] = "/" + unesc(prefix)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		v, ok := vals[s[i+1]]
		if !ok {
			return "", false
		}
		b.WriteString(v)
		i++
	}
	return b.String(), true
}
