package scan

import (
	"sort"
	"strconv"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Export is what one exported function of a library reaches through the library's call graph.
type Export struct {
	// Sys are the syscall numbers reached, with the call depth at which each is first found (0: in the
	// export's own function).
	Sys map[int]int `json:"sys"`
	// Imports are the symbols of other libraries it reaches (with the depth), and the constants the
	// number registers held at those calls.
	Imports []ImportAt `json:"imports,omitempty"`
	// NumberArg: the export is a syscall wrapper taking the number in this register (rdi, rax), else "".
	NumberArg string `json:"number_arg,omitempty"`
	Unknown   int    `json:"unknown,omitempty"`
}

// ImportAt is a reachable call to another library's symbol.
type ImportAt struct {
	Sym   string  `json:"sym"`
	Depth int     `json:"depth"`
	RDI   []int64 `json:"rdi,omitempty"`
	RAX   []int64 `json:"rax,omitempty"`
}

func regName(r reg) string {
	switch r {
	case rDI:
		return "rdi"
	case rAX:
		return "rax"
	case rSI:
		return "rsi"
	}
	return ""
}

// Summarize is the closure of export name over b's call graph (direct calls and tail jumps).
func (b *Binary) Summarize(name string) (Export, bool) {
	k, ok := b.Exports[name]
	if !ok {
		return Export{}, false
	}
	return b.closure([]int{k}), true
}

func (b *Binary) closure(roots []int) Export {
	e := Export{Sys: map[int]int{}}
	depth := map[int]int{}
	queue := []int{}
	for _, r := range roots {
		if _, seen := depth[r]; !seen {
			depth[r] = 0
			queue = append(queue, r)
		}
	}
	imports := map[string]int{}
	var calls []ImportAt
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		f, d := &b.funcs[k], depth[k]
		for _, nr := range f.sys {
			if old, ok := e.Sys[int(nr)]; !ok || d < old {
				e.Sys[int(nr)] = d
			}
		}
		e.Unknown += int(f.unknown)
		for _, ic := range f.imports {
			key := ic.Sym
			if ic.RDI != nil || ic.RAX != nil {
				key += "\x00" + fmtList(ic.RDI) + "\x00" + fmtList(ic.RAX)
			}
			if old, ok := imports[key]; ok && old <= d {
				continue
			}
			imports[key] = d
			calls = append(calls, ImportAt{Sym: ic.Sym, Depth: d, RDI: ic.RDI, RAX: ic.RAX})
		}
		for _, c := range f.calls {
			if _, seen := depth[int(c)]; !seen {
				depth[int(c)] = d + 1
				queue = append(queue, int(c))
			}
		}
	}
	// Keep the shallowest of each import call.
	best := map[string]ImportAt{}
	for _, c := range calls {
		key := c.Sym + "\x00" + fmtList(c.RDI) + "\x00" + fmtList(c.RAX)
		if old, ok := best[key]; !ok || c.Depth < old.Depth {
			best[key] = c
		}
	}
	for _, c := range best {
		e.Imports = append(e.Imports, c)
	}
	sort.Slice(e.Imports, func(i, j int) bool {
		if e.Imports[i].Sym != e.Imports[j].Sym {
			return e.Imports[i].Sym < e.Imports[j].Sym
		}
		return e.Imports[i].Depth < e.Imports[j].Depth
	})
	if len(roots) == 1 {
		e.NumberArg = regName(b.funcs[roots[0]].numberArg)
	}
	return e
}

func fmtList(p []int64) string {
	if p == nil {
		return "-"
	}
	var b []byte
	for _, v := range p {
		b = strconv.AppendInt(append(b, ','), v, 10)
	}
	return string(b)
}

// Own is what the program's own code reaches: every function of it (an over-approximation: code the
// program contains is taken as code it may run).
func (b *Binary) Own() Export {
	roots := make([]int, len(b.funcs))
	for i := range b.funcs {
		roots[i] = i
	}
	return b.closure(roots)
}

// likelyDepth is the deepest call depth a "likely" call is found at (1: the imported function's body).
const likelyDepth = 2

// Via is how a program reaches a syscall: from its own code, or through an imported symbol (the one the
// program calls) of a library, at a call depth.
type Via struct {
	Symbol string `json:"symbol,omitempty"` // "" for the program's own code
	Lib    string `json:"lib,omitempty"`
	Depth  int    `json:"depth"`
}

// Reached is one syscall the program can make.
type Reached struct {
	Nr   int    `json:"number"`
	Name string `json:"syscall"`
	Via  []Via  `json:"via"`
	// Confidence: "likely" when the program's own code, its start-up (the dynamic loader and
	// __libc_start_main) or an imported function makes it — in its own body or one call further
	// (glibc's public names are often thin wrappers of an internal one: adjtimex → clock_adjtime);
	// "possible" when only deeper library code does.
	Confidence string `json:"confidence"`
}

// Library is a loaded shared library and its summaries: scanned (Bin), or read back from a cache, where
// every export's summary is there already.
type Library struct {
	Name     string
	BuildID  string
	Needed   []string
	RunPath  []string
	Bin      *Binary // nil when the summaries came from a cache
	memo     map[string]Export
	complete bool // memo holds every export
}

// NewLibrary wraps a scanned library.
func NewLibrary(name string, b *Binary) *Library {
	return &Library{Name: name, BuildID: b.BuildID, Needed: b.Needed, RunPath: b.RunPath, Bin: b, memo: map[string]Export{}}
}

// CachedLibrary is a library whose summaries of every export were kept (by build-id).
func CachedLibrary(name, buildID string, needed, runpath []string, exports map[string]Export) *Library {
	return &Library{Name: name, BuildID: buildID, Needed: needed, RunPath: runpath, memo: exports, complete: true}
}

// Export is the memoized summary of a symbol (ok false when the library does not define it).
func (l *Library) Export(sym string) (Export, bool) {
	if e, ok := l.memo[sym]; ok || l.complete || l.Bin == nil {
		return e, ok
	}
	e, ok := l.Bin.Summarize(sym)
	if ok {
		l.memo[sym] = e
	}
	return e, ok
}

// All summarizes every export (for a cache) and returns them.
func (l *Library) All() map[string]Export {
	if !l.complete && l.Bin != nil {
		for sym := range l.Bin.Exports {
			l.Export(sym)
		}
		l.complete = true
	}
	return l.memo
}

// Cached says the summaries came from a cache.
func (l *Library) Cached() bool { return l.Bin == nil }

// Reach combines the program's own code with the libraries it loads (in the dynamic loader's search
// order: the first that defines a symbol wins) and, for a dynamic program, its loader (interp).
func Reach(prog *Binary, libs []*Library, interp *Binary) []Reached {
	byNr := map[int][]Via{}
	add := func(nr int, v Via) {
		if nr < 0 || nr >= 4096 {
			return
		}
		for _, old := range byNr[nr] {
			if old.Symbol == v.Symbol && old.Lib == v.Lib {
				return
			}
		}
		byNr[nr] = append(byNr[nr], v)
	}
	startup := map[int]bool{}
	own := prog.Own()
	for nr := range own.Sys {
		add(nr, Via{Depth: 0})
	}
	if interp != nil {
		for nr := range interp.Own().Sys {
			add(nr, Via{Symbol: "(start-up)", Lib: interp.Path, Depth: 1})
			startup[nr] = true
		}
	}
	// Each imported symbol's closure across the libraries, memoized by symbol (relative depths; a
	// cycle between libraries is cut where it closes), then attributed to the program's imports.
	r := &resolver{libs: libs, memo: map[string]map[int]int{}, busy: map[string]bool{}}
	for _, ic := range own.Imports {
		for nr, d := range r.call(ic.Sym, ic.RDI, ic.RAX) {
			lib := r.lib[ic.Sym]
			add(nr, Via{Symbol: ic.Sym, Lib: lib, Depth: 1 + d})
			if ic.Sym == "__libc_start_main" {
				startup[nr] = true
			}
		}
	}
	var out []Reached
	for nr, vs := range byNr {
		sort.Slice(vs, func(i, j int) bool {
			if vs[i].Depth != vs[j].Depth {
				return vs[i].Depth < vs[j].Depth
			}
			return vs[i].Symbol < vs[j].Symbol
		})
		if len(vs) > 5 {
			vs = vs[:5]
		}
		name, _ := syscalls.Name(prog.Arch, nr)
		conf := "possible"
		if vs[0].Depth <= likelyDepth || startup[nr] {
			conf = "likely"
		}
		out = append(out, Reached{Nr: nr, Name: name, Via: vs, Confidence: conf})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Nr < out[j].Nr })
	return out
}

// resolver computes imported symbols' closures over the libraries, once per symbol.
type resolver struct {
	libs []*Library
	memo map[string]map[int]int
	busy map[string]bool
	lib  map[string]string // symbol → the library that defines it
	n    int
}

// call is what a call of sym reaches (number → depth below the call), with the constants the number
// registers hold at this call (for a wrapper).
func (r *resolver) call(sym string, rdi, rax []int64) map[int]int {
	base := r.closure(sym)
	e, _, ok := r.export(sym)
	if !ok || e.NumberArg == "" {
		return base
	}
	nums := map[string][]int64{"rdi": rdi, "rax": rax}[e.NumberArg]
	if len(nums) == 0 {
		return base
	}
	out := make(map[int]int, len(base)+len(nums))
	for k, v := range base {
		out[k] = v
	}
	for _, n := range nums {
		if n >= 0 && n < 4096 {
			out[int(n)] = 0
		}
	}
	return out
}

func (r *resolver) export(sym string) (Export, string, bool) {
	if r.lib == nil {
		r.lib = map[string]string{}
	}
	for _, l := range r.libs {
		if e, ok := l.Export(sym); ok {
			r.lib[sym] = l.Name
			return e, l.Name, true
		}
	}
	return Export{}, "", false
}

func (r *resolver) closure(sym string) map[int]int {
	if m, ok := r.memo[sym]; ok {
		return m
	}
	if r.busy[sym] {
		return nil // a cycle: its other members carry the rest
	}
	e, _, ok := r.export(sym)
	if !ok {
		r.memo[sym] = nil
		return nil
	}
	r.busy[sym] = true
	out := make(map[int]int, len(e.Sys))
	for nr, d := range e.Sys {
		out[nr] = d
	}
	if r.n++; r.n < 200000 { // bounded: a pathological graph
		for _, ic := range e.Imports {
			for nr, d := range r.call(ic.Sym, ic.RDI, ic.RAX) {
				if old, ok := out[nr]; !ok || ic.Depth+1+d < old {
					out[nr] = ic.Depth + 1 + d
				}
			}
		}
	}
	delete(r.busy, sym)
	r.memo[sym] = out
	return out
}
