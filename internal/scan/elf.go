// Package scan predicts, statically, the system calls an ELF program can make: the syscall instructions
// of its own code with their numbers (a short backward walk for the register that carries the number,
// across spills to the stack, so Go's and glibc's syscall wrappers resolve at their call sites), and for
// each symbol it imports from a shared library, the calls that library function reaches through the
// library's own call graph (direct calls and tail jumps; PLT and GOT calls to further libraries). It is
// pure: it reads the files it is given and writes nothing. x86-64 is analysed; other ABIs are named as not
// analysed, never guessed.
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
	"sort"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// ErrArch is returned for an ELF file of an ABI the scanner does not analyse.
var ErrArch = errors.New("not analysed: only x86-64 code is scanned so far")

// Binary is one ELF file's code, cut into functions.
type Binary struct {
	Path    string
	BuildID string
	Arch    syscalls.Arch
	Static  bool     // no PT_INTERP
	Interp  string   // PT_INTERP: the dynamic loader
	Go      bool     // a Go program (.gopclntab or .go.buildinfo)
	Needed  []string // DT_NEEDED
	RunPath []string // DT_RUNPATH / DT_RPATH
	// Exports are the defined dynamic function symbols (name → the function's index).
	Exports map[string]int
	funcs   []*fn
	// Unknown counts syscall sites whose number could not be found (computed numbers).
	Unknown int
}

// fn is one function: its syscall sites and edges.
type fn struct {
	name       string
	start, end uint64
	code       []inst
	c          *code
	sys        map[int]bool
	unknown    int
	numberArg  reg   // a wrapper: the number comes in this register (-1: not a wrapper)
	numberSlot int64 // or in this stack argument at entry, [rsp+numberSlot] (-1: not)
	calls      []int // functions called or tail-jumped to
	imports    []importCall
	ifunc      bool
}

// importCall is a call (or jump) to an imported symbol, with the constants the two number-carrying
// registers hold there (glibc's syscall() takes it in RDI, Go's wrappers in RAX).
type importCall struct {
	Sym      string
	RDI, RAX []int64
}

// Open reads an ELF file of size bytes and cuts its code into functions. Sections that claim more bytes
// than the file has are refused before anything is allocated for them (a hostile file's header is not
// trusted).
func Open(r io.ReaderAt, size int64, path string) (*Binary, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := &Binary{Path: path, Exports: map[string]int{}}
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
	type sec struct {
		addr uint64
		code []byte
		plt  bool
	}
	var secs []sec
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL && (s.Offset > uint64(size) || s.FileSize > uint64(size)-s.Offset) {
			return nil, fmt.Errorf("%s: section %q lies outside the file's %d bytes", path, s.Name, size)
		}
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_EXECINSTR == 0 || s.Size == 0 || s.Flags&elf.SHF_COMPRESSED != 0 {
			continue // code is never compressed; a "compressed" code section would be a decompression bomb
		}
		if s.Size > 256<<20 {
			return nil, fmt.Errorf("%s: section %s is %d bytes: too large to scan", path, s.Name, s.Size)
		}
		data, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, s.Name, err)
		}
		secs = append(secs, sec{s.Addr, data, strings.HasPrefix(s.Name, ".plt")})
	}
	dyn, _ := f.DynamicSymbols()
	slots := gotSlots(f, dyn)

	// Function starts: symbols (static and dynamic; Go's pclntab), call targets, the entry point.
	starts := map[uint64]string{}
	ifuncs := map[uint64]bool{}
	addSym := func(s elf.Symbol) {
		t := elf.ST_TYPE(s.Info)
		if (t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC) || s.Value == 0 || s.Section == elf.SHN_UNDEF {
			return
		}
		if _, ok := starts[s.Value]; !ok || starts[s.Value] == "" {
			starts[s.Value] = s.Name
		}
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
			if _, ok := starts[g.Entry]; !ok || starts[g.Entry] == "" {
				starts[g.Entry] = g.Name
			}
		}
	}
	if f.Entry != 0 {
		if _, ok := starts[f.Entry]; !ok {
			starts[f.Entry] = "_start"
		}
	}
	// Each code section's first byte starts a function too: in a stripped program main often comes
	// first in .text (gcc's .text.startup) and nothing calls it directly (_start hands its address to
	// __libc_start_main), so without this its code would belong to no function.
	for _, s := range secs {
		if _, ok := starts[s.addr]; !ok && !s.plt {
			starts[s.addr] = ""
		}
	}

	// Decode, and the PLT stubs: a stub's rip-relative jump names its GOT slot.
	plt := map[uint64]string{} // stub entry (16-byte aligned within its section) → symbol
	var all []inst
	total := 0
	for _, s := range secs {
		total += len(s.code)
	}
	all = make([]inst, 0, total/4+16)
	inText := func(a uint64) bool {
		for _, s := range secs {
			if !s.plt && a >= s.addr && a < s.addr+uint64(len(s.code)) {
				return true
			}
		}
		return false
	}
	pltOf := func(a uint64) (string, bool) {
		for _, s := range secs {
			if s.plt && a >= s.addr && a < s.addr+uint64(len(s.code)) {
				n, ok := plt[s.addr+(a-s.addr)/16*16]
				return n, ok
			}
		}
		return "", false
	}
	for _, s := range secs {
		code := sweepX86(s.code, s.addr)
		if s.plt {
			for _, i := range code {
				if isJmp(i) {
					if slot, ok := ripSlot(i); ok {
						if n, ok := slots[slot]; ok {
							plt[s.addr+(i.addr-s.addr)/16*16] = n
						}
					}
				}
			}
			continue
		}
		for _, i := range code {
			if isCall(i) {
				if t, ok := target(i); ok && inText(t) {
					if _, seen := starts[t]; !seen {
						starts[t] = ""
					}
				}
			}
		}
		all = append(all, code...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].addr < all[j].addr })

	// Cut: each function runs from its start to the next.
	addrs := make([]uint64, 0, len(starts))
	for a := range starts {
		if inText(a) {
			addrs = append(addrs, a)
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	index := func(a uint64) int { // the function containing a, -1 if none
		k := sort.Search(len(addrs), func(i int) bool { return addrs[i] > a }) - 1
		if k < 0 {
			return -1
		}
		return k
	}
	b.funcs = make([]*fn, len(addrs))
	for k, a := range addrs {
		end := ^uint64(0)
		if k+1 < len(addrs) {
			end = addrs[k+1]
		}
		name := starts[a]
		if name == "" {
			name = fmt.Sprintf("sub_%x", a)
		}
		b.funcs[k] = &fn{name: name, start: a, end: end, sys: map[int]bool{}, numberArg: -1, numberSlot: -1, ifunc: ifuncs[a]}
	}
	// all is sorted and each function is a range of addresses: its code is a subslice, not a copy.
	for k, f := range b.funcs {
		lo := sort.Search(len(all), func(i int) bool { return all[i].addr >= f.start })
		hi := sort.Search(len(all), func(i int) bool { return all[i].addr >= f.end })
		b.funcs[k].code = all[lo:hi:hi]
	}
	for _, s := range dyn {
		t := elf.ST_TYPE(s.Info)
		if (t == elf.STT_FUNC || t == elf.STT_GNU_IFUNC) && s.Section != elf.SHN_UNDEF && s.Value != 0 {
			if k := index(s.Value); k >= 0 && b.funcs[k].start == s.Value {
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

	// Pass 1: syscall sites, edges, import calls.
	for k, f := range b.funcs {
		f.c = newCode(f.code)
		for j, i := range f.code {
			switch {
			case isSyscall(i):
				v := f.c.valueOf(j, loc{reg: rAX, valid: true}, walkBudget)
				for n := range v.consts {
					if n >= 0 && n < 4096 {
						f.sys[int(n)] = true
					}
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
					if n, ok := pltOf(t); ok {
						f.imports = append(f.imports, b.importCall(f, j, n))
					} else if c := index(t); c >= 0 && (isCall(i) || c != k) && inText(t) {
						f.calls = append(f.calls, c)
					}
				} else if slot, ok := ripSlot(i); ok {
					if n, ok := slots[slot]; ok {
						f.imports = append(f.imports, b.importCall(f, j, n))
					}
				}
			case f.ifunc:
				// An IFUNC resolver returns the implementation's address: count it as called.
				if a, ok := ripSource(i); ok {
					if c := index(a); c >= 0 && inText(a) {
						f.calls = append(f.calls, c)
					}
				}
			}
		}
	}
	// Pass 2, to a fixpoint: calls of wrappers resolve to numbers; a function passing its own entry
	// register on to a wrapper is a wrapper too.
	for round := 0; round < 4; round++ {
		changed := false
		for _, f := range b.funcs {
			for j, i := range f.code {
				if !isCall(i) && !isJmp(i) {
					continue
				}
				t, ok := target(i)
				if !ok {
					continue
				}
				c := index(t)
				if c < 0 || b.funcs[c].start != t || b.funcs[c].numberArg < 0 && b.funcs[c].numberSlot < 0 {
					continue
				}
				l := loc{reg: b.funcs[c].numberArg, valid: true}
				if b.funcs[c].numberArg < 0 {
					// The callee's [rsp+d] at entry is the caller's [rsp+d-8] before the call (a tail
					// jump pushes nothing: [rsp+d]).
					d := b.funcs[c].numberSlot - 8
					if isJmp(i) {
						d += 8
					}
					l = loc{slot: true, base: rSP, disp: d, valid: true}
				}
				v := f.c.valueOf(j, l, walkBudget)
				for n := range v.consts {
					if n >= 0 && n < 4096 && !f.sys[int(n)] {
						f.sys[int(n)] = true
						changed = true
					}
				}
				if v.entry >= 0 && len(v.consts) == 0 && f.numberArg < 0 && f.numberSlot < 0 {
					f.numberArg = v.entry
					changed = true
				}
				if v.entrySlot >= 0 && len(v.consts) == 0 && f.numberArg < 0 && f.numberSlot < 0 {
					f.numberSlot = v.entrySlot
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	for _, f := range b.funcs {
		b.Unknown += f.unknown
		f.code, f.c = nil, nil // done with the instructions
	}
	return b, nil
}

func (b *Binary) importCall(f *fn, j int, sym string) importCall {
	c := importCall{Sym: sym}
	c.RDI = sorted(f.c.valueOf(j, loc{reg: rDI, valid: true}, walkBudget).consts)
	c.RAX = sorted(f.c.valueOf(j, loc{reg: rAX, valid: true}, walkBudget).consts)
	return c
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
