// Package scan predicts, statically, the system calls an ELF program can make: the syscall instructions
// of its own code with their numbers (a short backward walk for the register that carries the number,
// across spills to the stack, so Go's and glibc's syscall wrappers resolve at their call sites), and for
// each symbol it imports from a shared library, the calls that library function reaches through the
// library's own call graph (direct calls and tail jumps; PLT and GOT calls to further libraries). It is
// pure: it reads the files it is given and writes nothing. x86-64 is analysed; other ABIs are named as not
// analysed, never guessed. A file past the scanner's bounds (64 MiB of code, 64 MiB of symbol and
// relocation tables, a million functions) is refused with a TooLargeError, never half read: the code is
// decoded function by function, not kept decoded whole, so a file within them takes a few hundred MiB.
package scan

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// ErrArch is returned for an ELF file of an ABI the scanner does not analyse.
var ErrArch = errors.New("not analysed: only x86-64 code is scanned so far")

// The bounds of one file's analysis. The scanner holds a file's code in memory (it decodes it twice:
// once for the function starts, then function by function), its symbol and relocation tables, one
// function's decoded instructions at a time (32 bytes each), and the call graph it keeps. Past these
// bounds a file is refused as too large (a TooLargeError), never half read: with them a file takes at
// most a few hundred MiB. libLLVM.so.19.1, 56 MiB of code, 13 MiB of tables and 79 k functions, is
// analysed in about 230 MiB.
var (
	// maxCode bounds the bytes of the executable sections.
	maxCode int64 = 64 << 20
	// maxTables bounds the bytes of the symbol, string and relocation tables and Go's .gopclntab.
	maxTables int64 = 64 << 20
	// maxFuncs bounds the functions (symbols and call targets; libLLVM-19 has 79 k).
	maxFuncs = 1 << 20
	// maxFuncInsts bounds the instructions of one function.
	maxFuncInsts = 1 << 21
)

// TooLargeError is returned for a file past a bound of the scanner: it is not analysed.
type TooLargeError struct {
	What  string // "code", "symbol and relocation tables", "functions", "instructions in one function"
	Size  int64  // what the file has (for a function: more than Bound)
	Bound int64
}

func (e *TooLargeError) Error() string {
	switch e.What {
	case "instructions in one function":
		return fmt.Sprintf("too large (a function of more than %d instructions, the bound is %d)", e.Bound, e.Bound)
	case "functions":
		return fmt.Sprintf("too large (more than %d functions, the bound is %d)", e.Bound, e.Bound)
	}
	return fmt.Sprintf("too large (%.1f MiB of %s, the bound is %d MiB)", float64(e.Size)/(1<<20), e.What, e.Bound>>20)
}

// Binary is one ELF file's code, cut into functions.
type Binary struct {
	Path    string
	BuildID string
	Arch    syscalls.Arch
	Machine string   // the ELF header's machine and class ("EM_AARCH64, ELFCLASS64"), for a refusal
	Static  bool     // no PT_INTERP
	Interp  string   // PT_INTERP: the dynamic loader
	Go      bool     // a Go program (.gopclntab or .go.buildinfo)
	Needed  []string // DT_NEEDED
	RunPath []string // DT_RUNPATH / DT_RPATH
	// Exports are the defined dynamic function symbols (name → the function's index).
	Exports map[string]int
	funcs   []fn
	// Unknown counts syscall sites whose number could not be found (computed numbers).
	Unknown int
}

// fn is one function: its syscall sites and edges (what is kept of it once its code is analysed).
type fn struct {
	name       string
	start, end uint64
	sys        []uint16 // the syscall numbers it makes, each once
	unknown    int32
	numberArg  reg     // a wrapper: the number comes in this register (-1: not a wrapper)
	numberSlot int64   // or in this stack argument at entry, [rsp+numberSlot] (-1: not)
	calls      []int32 // functions called or tail-jumped to, each once
	imports    []importCall
	ifunc      bool
}

// addSys adds a syscall number, reporting whether it is new.
func (f *fn) addSys(n int64) bool {
	if n < 0 || n >= 4096 {
		return false
	}
	for _, s := range f.sys {
		if int64(s) == n {
			return false
		}
	}
	f.sys = append(f.sys, uint16(n))
	return true
}

func (f *fn) wrapper() bool { return f.numberArg >= 0 || f.numberSlot >= 0 }

// importCall is a call (or jump) to an imported symbol, with the constants the two number-carrying
// registers hold there (glibc's syscall() takes it in RDI, Go's wrappers in RAX).
type importCall struct {
	Sym      string
	RDI, RAX []int64
}

// section is an executable section's code.
type section struct {
	addr uint64
	code []byte
	plt  bool
}

// layout is where a file's code lies: its sections, its functions' starts, its PLT stubs' symbols and its
// GOT slots' symbols.
type layout struct {
	secs  []section // by address
	addrs []uint64  // function starts, ascending
	plt   map[uint64]string
	slots map[uint64]string
}

func (l *layout) text(a uint64) *section {
	for i := range l.secs {
		s := &l.secs[i]
		if !s.plt && a >= s.addr && a-s.addr < uint64(len(s.code)) {
			return s
		}
	}
	return nil
}

func (l *layout) inText(a uint64) bool { return l.text(a) != nil }

// pltOf is the symbol of the PLT stub at a (16-byte aligned within its section).
func (l *layout) pltOf(a uint64) (string, bool) {
	for _, s := range l.secs {
		if s.plt && a >= s.addr && a-s.addr < uint64(len(s.code)) {
			n, ok := l.plt[s.addr+(a-s.addr)/16*16]
			return n, ok
		}
	}
	return "", false
}

// index is the function containing a, -1 if none.
func (l *layout) index(a uint64) int {
	return sort.Search(len(l.addrs), func(i int) bool { return l.addrs[i] > a }) - 1
}

// Open reads an ELF file of size bytes and cuts its code into functions. Sections that claim more bytes
// than the file has are refused before anything is allocated for them (a hostile file's header is not
// trusted), and so is a file past the scanner's bounds (a *TooLargeError).
//
// The code is decoded twice, never kept decoded whole: a first sweep finds the function starts (call
// targets); a second cuts it function by function, each function's instructions analysed and dropped
// before the next. The wrappers' callers are decoded a third time, alone.
func Open(r io.ReaderAt, size int64, path string) (*Binary, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := &Binary{Path: path, Exports: map[string]int{}, Machine: f.Machine.String() + ", " + f.Class.String()}
	switch f.Machine {
	case elf.EM_X86_64:
		b.Arch = syscalls.ArchX86_64
	case elf.EM_386:
		b.Arch = syscalls.ArchI386
		return b, ErrArch
	case elf.EM_AARCH64:
		b.Arch = syscalls.ArchAARCH64
		return b, ErrArch
	default:
		return b, ErrArch
	}
	if f.Class != elf.ELFCLASS64 {
		return b, ErrArch
	}

	// The bounds, from the section headers, before anything is read.
	var codeBytes, tableBytes uint64
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL && (s.Offset > uint64(size) || s.FileSize > uint64(size)-s.Offset) {
			return nil, fmt.Errorf("section %q lies outside the file's %d bytes", s.Name, size)
		}
		switch {
		case s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL:
		case s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_EXECINSTR != 0 && s.Flags&elf.SHF_COMPRESSED == 0:
			codeBytes += s.FileSize
		case s.Type == elf.SHT_SYMTAB || s.Type == elf.SHT_DYNSYM || s.Type == elf.SHT_STRTAB || s.Type == elf.SHT_RELA || s.Name == ".gopclntab":
			tableBytes += max(s.Size, s.FileSize) // Size: uncompressed
		}
	}
	if codeBytes > uint64(maxCode) {
		return nil, &TooLargeError{"code", int64(codeBytes), maxCode}
	}
	if tableBytes > uint64(maxTables) {
		return nil, &TooLargeError{"symbol and relocation tables", int64(tableBytes), maxTables}
	}

	b.BuildID = buildID(f)
	b.Static = true
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b.Static = false
			if p.Filesz > 0 && p.Filesz < 4096 && p.Off+p.Filesz <= uint64(size) {
				buf := make([]byte, p.Filesz)
				if _, err := p.ReadAt(buf, 0); err == nil {
					b.Interp = strings.TrimRight(string(buf), "\x00")
				}
			}
		}
	}
	b.Go = f.Section(".gopclntab") != nil || f.Section(".go.buildinfo") != nil
	if libs, err := f.ImportedLibraries(); err == nil {
		b.Needed = libs
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		if vs, err := f.DynString(tag); err == nil {
			for _, v := range vs {
				b.RunPath = append(b.RunPath, strings.Split(v, ":")...)
			}
		}
	}

	// Executable sections, and the PLT stubs' symbols.
	l := &layout{plt: map[uint64]string{}}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_EXECINSTR == 0 || s.Size == 0 || s.Flags&elf.SHF_COMPRESSED != 0 {
			continue // code is never compressed; a "compressed" code section would be a decompression bomb
		}
		data := make([]byte, s.FileSize) // within the file (checked above): read once, at its size
		if _, err := s.ReadAt(data, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		l.secs = append(l.secs, section{s.Addr, data, strings.HasPrefix(s.Name, ".plt")})
	}
	sort.SliceStable(l.secs, func(i, j int) bool { return l.secs[i].addr < l.secs[j].addr })
	dyn, _ := f.DynamicSymbols()
	l.slots = gotSlots(f, dyn)

	// Function starts: symbols (static and dynamic; Go's pclntab), call targets, the entry point.
	starts := map[uint64]string{}
	ifuncs := map[uint64]bool{}
	addStart := func(a uint64, name string) {
		if old, ok := starts[a]; !ok || old == "" {
			starts[a] = name
		}
	}
	addSym := func(s elf.Symbol) {
		t := elf.ST_TYPE(s.Info)
		if (t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC) || s.Value == 0 || s.Section == elf.SHN_UNDEF {
			return
		}
		addStart(s.Value, s.Name)
		if t == elf.STT_GNU_IFUNC {
			ifuncs[s.Value] = true
		}
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			addSym(s)
		}
	}
	for _, s := range dyn {
		addSym(s)
	}
	if b.Go {
		for _, g := range goFuncs(f) {
			addStart(g.Entry, g.Name)
		}
	}
	if f.Entry != 0 {
		if _, ok := starts[f.Entry]; !ok {
			starts[f.Entry] = "_start"
		}
	}
	if len(starts) > maxFuncs {
		return nil, &TooLargeError{"functions", int64(len(starts)), int64(maxFuncs)}
	}
	// Each code section's first byte starts a function too: in a stripped program main often comes
	// first in .text (gcc's .text.startup) and nothing calls it directly (_start hands its address to
	// __libc_start_main), so without this its code would belong to no function.
	for _, s := range l.secs {
		if _, ok := starts[s.addr]; !ok && !s.plt {
			starts[s.addr] = ""
		}
	}

	// The first sweep: the PLT stubs (a stub's rip-relative jump names its GOT slot), and the call
	// targets, which start functions.
	for _, s := range l.secs {
		if s.plt {
			sweep(s.code, s.addr, s.addr, func(i inst) bool {
				if isJmp(i) {
					if slot, ok := ripSlot(i); ok {
						if n, ok := l.slots[slot]; ok {
							l.plt[s.addr+(i.addr-s.addr)/16*16] = n
						}
					}
				}
				return true
			})
			continue
		}
		sweep(s.code, s.addr, s.addr, func(i inst) bool {
			if isCall(i) {
				if t, ok := target(i); ok && l.inText(t) {
					if _, seen := starts[t]; !seen {
						starts[t] = ""
					}
				}
			}
			return len(starts) <= maxFuncs
		})
	}
	if len(starts) > maxFuncs {
		return nil, &TooLargeError{"functions", int64(len(starts)), int64(maxFuncs)}
	}

	// Cut: each function runs from its start to the next.
	l.addrs = make([]uint64, 0, len(starts))
	for a := range starts {
		if l.inText(a) {
			l.addrs = append(l.addrs, a)
		}
	}
	slices.Sort(l.addrs)
	b.funcs = make([]fn, len(l.addrs))
	for k, a := range l.addrs {
		end := ^uint64(0)
		if k+1 < len(l.addrs) {
			end = l.addrs[k+1]
		}
		name := starts[a]
		if name == "" {
			name = fmt.Sprintf("sub_%x", a)
		}
		b.funcs[k] = fn{name: name, start: a, end: end, numberArg: -1, numberSlot: -1, ifunc: ifuncs[a]}
	}
	starts, ifuncs = nil, nil
	for _, s := range dyn {
		t := elf.ST_TYPE(s.Info)
		if (t == elf.STT_FUNC || t == elf.STT_GNU_IFUNC) && s.Section != elf.SHN_UNDEF && s.Value != 0 {
			if k := l.index(s.Value); k >= 0 && b.funcs[k].start == s.Value {
				b.Exports[s.Name] = k
			}
		}
	}
	if b.Go && len(b.Exports) == 0 {
		// A Go program has no dynamic exports; its runtime's entry is where everything starts.
		for k, f := range b.funcs {
			b.Exports[f.name] = k
		}
	}

	// The second sweep, function by function (the sweep's instructions by address, as the first
	// sweep decoded them): syscall sites, edges, import calls.
	const none = ^uint64(0)
	first := make([]uint64, len(b.funcs)) // each function's first instruction, to decode it again
	for k := range first {
		first[k] = none
	}
	var buf []inst
	cur := -1
	var tooLarge error
	for _, s := range l.secs {
		if s.plt || tooLarge != nil {
			continue
		}
		sweep(s.code, s.addr, s.addr, func(i inst) bool {
			k := cur
			if k < 0 || i.addr < l.addrs[k] || k+1 < len(l.addrs) && i.addr >= l.addrs[k+1] {
				k = l.index(i.addr)
			}
			if k < 0 || k < cur {
				return true // before the first function, or a section overlapping the last
			}
			if k != cur {
				if cur >= 0 {
					b.sites(cur, newCode(buf), l)
				}
				cur, buf = k, buf[:0]
				first[k] = i.addr
			}
			if len(buf) >= maxFuncInsts {
				tooLarge = &TooLargeError{"instructions in one function", int64(len(buf)), int64(maxFuncInsts)}
				return false
			}
			buf = append(buf, i)
			return true
		})
	}
	if tooLarge != nil {
		return nil, tooLarge
	}
	if cur >= 0 {
		b.sites(cur, newCode(buf), l)
	}

	// Pass 2, to a fixpoint: calls of wrappers resolve to numbers; a function passing its own entry
	// register on to a wrapper is a wrapper too. Only the functions calling a wrapper are decoded again.
	for round := 0; round < 4; round++ {
		changed := false
		for k := range b.funcs {
			if first[k] == none || !b.callsWrapper(k) {
				continue
			}
			buf = buf[:0]
			s, end := l.text(first[k]), b.funcs[k].end
			if s == nil {
				continue
			}
			sweep(s.code, s.addr, first[k], func(i inst) bool {
				if i.addr >= end || len(buf) >= maxFuncInsts {
					return false
				}
				buf = append(buf, i)
				return true
			})
			if b.wrapperCalls(k, newCode(buf), l) {
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for _, f := range b.funcs {
		b.Unknown += int(f.unknown)
	}
	return b, nil
}

// sites finds function k's syscall sites, calls and import calls in its code c.
func (b *Binary) sites(k int, c *code, l *layout) {
	f := &b.funcs[k]
	for j, i := range c.in {
		switch {
		case isSyscall(i):
			v := c.valueOf(j, loc{reg: rAX, valid: true}, walkBudget)
			for n := range v.consts {
				f.addSys(n)
			}
			switch {
			case v.entry >= 0 && len(v.consts) == 0:
				f.numberArg = v.entry
			case v.entrySlot >= 0 && len(v.consts) == 0:
				f.numberSlot = v.entrySlot
			case len(v.consts) == 0:
				f.unknown++
			}
		case isCall(i) || isJmp(i):
			if t, ok := target(i); ok {
				if n, ok := l.pltOf(t); ok {
					f.imports = append(f.imports, importCallAt(c, j, n))
				} else if cl := l.index(t); cl >= 0 && (isCall(i) || cl != k) && l.inText(t) {
					f.calls = append(f.calls, int32(cl))
				}
			} else if slot, ok := ripSlot(i); ok {
				if n, ok := l.slots[slot]; ok {
					f.imports = append(f.imports, importCallAt(c, j, n))
				}
			}
		case f.ifunc:
			// An IFUNC resolver returns the implementation's address: count it as called.
			if a, ok := ripSource(i); ok {
				if cl := l.index(a); cl >= 0 && l.inText(a) {
					f.calls = append(f.calls, int32(cl))
				}
			}
		}
	}
	// Each edge once: the closures only ask whether one is there.
	slices.Sort(f.calls)
	f.calls = slices.Clip(slices.Compact(f.calls))
	f.imports = compactImports(f.imports)
}

// callsWrapper says function k calls (or is) a syscall wrapper: its calls may carry numbers.
func (b *Binary) callsWrapper(k int) bool {
	if b.funcs[k].wrapper() {
		return true
	}
	for _, c := range b.funcs[k].calls {
		if b.funcs[c].wrapper() {
			return true
		}
	}
	return false
}

// wrapperCalls resolves function k's calls of wrappers to numbers (c its code), reporting a change.
func (b *Binary) wrapperCalls(k int, c *code, l *layout) bool {
	f := &b.funcs[k]
	changed := false
	for j, i := range c.in {
		if !isCall(i) && !isJmp(i) {
			continue
		}
		t, ok := target(i)
		if !ok {
			continue
		}
		cl := l.index(t)
		if cl < 0 || b.funcs[cl].start != t || !b.funcs[cl].wrapper() {
			continue
		}
		callee := &b.funcs[cl]
		lc := loc{reg: callee.numberArg, valid: true}
		if callee.numberArg < 0 {
			// The callee's [rsp+d] at entry is the caller's [rsp+d-8] before the call (a tail
			// jump pushes nothing: [rsp+d]).
			d := callee.numberSlot - 8
			if isJmp(i) {
				d += 8
			}
			lc = loc{slot: true, base: rSP, disp: d, valid: true}
		}
		v := c.valueOf(j, lc, walkBudget)
		for n := range v.consts {
			if f.addSys(n) {
				changed = true
			}
		}
		if v.entry >= 0 && len(v.consts) == 0 && !f.wrapper() {
			f.numberArg = v.entry
			changed = true
		}
		if v.entrySlot >= 0 && len(v.consts) == 0 && !f.wrapper() {
			f.numberSlot = v.entrySlot
			changed = true
		}
	}
	return changed
}

func importCallAt(c *code, j int, sym string) importCall {
	ic := importCall{Sym: sym}
	ic.RDI = sorted(c.valueOf(j, loc{reg: rDI, valid: true}, walkBudget).consts)
	ic.RAX = sorted(c.valueOf(j, loc{reg: rAX, valid: true}, walkBudget).consts)
	return ic
}

// compactImports keeps each import call (symbol and constants) once.
func compactImports(ics []importCall) []importCall {
	if len(ics) < 2 {
		return slices.Clip(ics)
	}
	key := func(ic importCall) string { return ic.Sym + "\x00" + fmtList(ic.RDI) + "\x00" + fmtList(ic.RAX) }
	seen := make(map[string]bool, len(ics))
	out := ics[:0]
	for _, ic := range ics {
		if k := key(ic); !seen[k] {
			seen[k] = true
			out = append(out, ic)
		}
	}
	return slices.Clip(out)
}

// walkBudget bounds one backward walk (instructions visited, over every path).
const walkBudget = 64

func sorted(m map[int64]bool) []int64 {
	if len(m) == 0 {
		return nil
	}
	out := make([]int64, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// gotSlots maps GOT slot addresses to the symbols their relocations name (JUMP_SLOT, GLOB_DAT).
func gotSlots(f *elf.File, dyn []elf.Symbol) map[uint64]string {
	out := map[uint64]string{}
	for _, name := range []string{".rela.plt", ".rela.dyn"} {
		s := f.Section(name)
		if s == nil || s.Type != elf.SHT_RELA {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for off := 0; off+24 <= len(data); off += 24 {
			r := elf.Rela64{Off: binary.LittleEndian.Uint64(data[off:]), Info: binary.LittleEndian.Uint64(data[off+8:])}
			typ := elf.R_X86_64(elf.R_TYPE64(r.Info))
			idx := int(elf.R_SYM64(r.Info))
			if (typ == elf.R_X86_64_JMP_SLOT || typ == elf.R_X86_64_GLOB_DAT) && idx >= 1 && idx-1 < len(dyn) {
				out[r.Off] = dyn[idx-1].Name
			}
		}
	}
	return out
}

// buildID is the GNU build-id note, hex ("" when there is none).
func buildID(f *elf.File) string {
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		return ""
	}
	data, err := s.Data()
	if err != nil || len(data) < 16 {
		return ""
	}
	nameSz := binary.LittleEndian.Uint32(data[0:])
	descSz := binary.LittleEndian.Uint32(data[4:])
	start := 12 + (nameSz+3)&^3
	if uint64(start)+uint64(descSz) > uint64(len(data)) || !bytes.HasPrefix(data[12:], []byte("GNU")) {
		return ""
	}
	return hex.EncodeToString(data[start : start+descSz])
}

// goFuncs are a Go program's functions from its pclntab (stripped binaries keep it).
func goFuncs(f *elf.File) []gosym.Func {
	pcln := f.Section(".gopclntab")
	text := f.Section(".text")
	if pcln == nil || text == nil || pcln.Flags&elf.SHF_COMPRESSED != 0 || pcln.Size > 256<<20 {
		return nil
	}
	data, err := pcln.Data()
	if err != nil {
		return nil
	}
	// Function entries are offsets from runtime.text, which debug/gosym takes to be the address it is
	// given; with the external linker (a cgo program) C code comes first in .text, so the start is read
	// from the go1.18+ header when it lies inside .text.
	start := text.Addr
	if len(data) >= 32 && data[7] == 8 && (binary.LittleEndian.Uint32(data) == 0xfffffff0 || binary.LittleEndian.Uint32(data) == 0xfffffff1) {
		if ts := binary.LittleEndian.Uint64(data[24:]); ts > text.Addr && ts < text.Addr+text.Size {
			start = ts
		}
	}
	var t *gosym.Table
	func() {
		defer func() { recover() }() // a hostile pclntab must not take the scan down
		t, err = gosym.NewTable(nil, gosym.NewLineTable(data, start))
	}()
	if err != nil || t == nil {
		return nil
	}
	return t.Funcs
}

// BuildID reads only an ELF file's GNU build-id ("" when it has none).
func BuildID(r io.ReaderAt, size int64) string {
	f, err := elf.NewFile(r)
	if err != nil {
		return ""
	}
	defer f.Close()
	if s := f.Section(".note.gnu.build-id"); s == nil || s.Offset > uint64(size) || s.Size > 4096 {
		return ""
	}
	return buildID(f)
}
