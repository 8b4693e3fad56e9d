package scan

import (
	"golang.org/x/arch/x86/x86asm"
)

// The x86-64 part: a linear sweep of the executable sections with golang.org/x/arch's decoder, and a
// short backward walk from each syscall instruction (and each call of a syscall wrapper) for the value
// of the register that carries the number. Another architecture plugs in as another sweep with the same
// output (funcs with their sites, calls and imports).

// reg is a general-purpose register family (RAX=0 … R15=15), whatever the operand width; -1 for none.
type reg int

const (
	rAX reg = 0
	rCX reg = 1
	rDX reg = 2
	rSP reg = 4
	rBP reg = 5
	rSI reg = 6
	rDI reg = 7
	r8  reg = 8
	r9  reg = 9
	r10 reg = 10
	r11 reg = 11
)

func family(r x86asm.Reg) reg {
	switch {
	case r >= x86asm.RAX && r <= x86asm.R15:
		return reg(r - x86asm.RAX)
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return reg(r - x86asm.EAX)
	case r >= x86asm.AX && r <= x86asm.R15W:
		return reg(r - x86asm.AX)
	case r >= x86asm.AL && r <= x86asm.BL:
		return reg(r - x86asm.AL)
	case r >= x86asm.AH && r <= x86asm.BH:
		return reg(r - x86asm.AH)
	case r >= x86asm.SPB && r <= x86asm.DIB:
		return reg(r-x86asm.SPB) + 4
	case r >= x86asm.R8B && r <= x86asm.R15B:
		return reg(r-x86asm.R8B) + 8
	}
	return -1
}

// callerSaved are clobbered by a call in both the SysV and Go's internal ABI.
func callerSaved(r reg) bool {
	switch r {
	case rAX, rCX, rDX, rSI, rDI, r8, r9, r10, r11:
		return true
	}
	return false
}

// inst is one decoded instruction.
type inst struct {
	addr uint64
	in   x86asm.Inst
}

// loc is where a value is tracked: a register, or a stack slot (base register + displacement).
type loc struct {
	reg   reg
	slot  bool
	base  reg
	disp  int64
	valid bool
}

// values is what a backward walk found for a location: constants, whether some path reached the
// function's entry with it in a register (entry >= 0: a wrapper's number argument), and whether some
// path ended without an answer.
type values struct {
	consts map[int64]bool
	entry  reg
	// entrySlot: the value was in the caller's outgoing stack arguments at entry, [rsp+entrySlot]
	// (Go's ABI0 assembly: syscall.Syscall's trap+0(FP) is [rsp+8]); -1 when not.
	entrySlot int64
	unknown   bool
}

// code is a function's instructions, with its jump targets (address → the jumps to it) for the walks.
type code struct {
	in      []inst
	sources map[uint64][]int
}

func newCode(in []inst) *code {
	c := &code{in: in, sources: map[uint64][]int{}}
	for k, i := range in {
		if i.in.Op == x86asm.CALL {
			continue
		}
		if t, ok := target(i); ok && i.in.Op >= x86asm.JA && i.in.Op <= x86asm.JS || ok && i.in.Op == x86asm.JMP {
			c.sources[t] = append(c.sources[t], k)
		}
	}
	return c
}

// valueOf walks back from instruction i of c (exclusive) for the value of location l. At a label (a jump
// target) it also follows the jumps to it, and an unconditional jump or return before a label ends the
// fall-through path; a call ends it for a caller-saved register. budget bounds the work.
func (c *code) valueOf(i int, l loc, budget int) values {
	v := values{consts: map[int64]bool{}, entry: -1, entrySlot: -1}
	seen := map[[2]int]bool{}
	c.walk(i, l, &budget, &v, seen)
	return v
}

func (c *code) walk(i int, l loc, budget *int, v *values, seen map[[2]int]bool) {
	key := [2]int{i, int(l.reg)<<20 | int(l.base)<<16 | int(l.disp&0xffff)}
	if seen[key] {
		return
	}
	seen[key] = true
	for j := i - 1; ; j-- {
		*budget--
		if *budget < 0 {
			v.unknown = true
			return
		}
		// Crossing into the start of the block at j+1: the jumps to it are predecessors too.
		if j+1 < len(c.in) && j+1 <= i {
			for _, src := range c.sources[c.in[j+1].addr] {
				c.walk(src, l, budget, v, seen)
			}
		}
		if j < 0 {
			switch {
			case !l.slot && l.reg >= 0:
				v.entry = l.reg // the function's entry: the caller's value
			case l.slot && l.base == rSP && l.disp > 0 && l.disp < 256:
				v.entrySlot = l.disp // a stack argument (the stack pointer never moved on this path)
			default:
				v.unknown = true
			}
			return
		}
		in := c.in[j].in
		switch in.Op {
		case x86asm.JMP, x86asm.RET, x86asm.UD2, x86asm.HLT:
			return // no fall-through into j+1; its jumps were followed above
		case x86asm.CMP, x86asm.TEST, x86asm.BT, x86asm.NOP:
			continue // reads only
		case x86asm.PUSH, x86asm.POP:
			if l.slot && l.base == rSP {
				v.unknown = true // the stack pointer moved: slots shift
				return
			}
			if in.Op == x86asm.PUSH {
				continue
			}
		case x86asm.CALL:
			if !l.slot && callerSaved(l.reg) {
				v.unknown = true
				return
			}
			continue
		}
		dst, isReg := in.Args[0].(x86asm.Reg)
		dm, isMem := in.Args[0].(x86asm.Mem)
		writes := false
		switch {
		case !l.slot && isReg && family(dst) == l.reg:
			writes = true
		case l.slot && isMem && family(dm.Base) == l.base && dm.Disp == l.disp && dm.Index == 0:
			writes = true
		}
		if !writes {
			if l.slot && isReg && family(dst) == l.base {
				v.unknown = true // the slot's base moved
				return
			}
			continue
		}
		switch in.Op {
		case x86asm.MOV:
			switch src := in.Args[1].(type) {
			case x86asm.Imm:
				v.consts[int64(src)] = true
				return
			case x86asm.Reg:
				l = loc{reg: family(src), valid: true}
			case x86asm.Mem:
				if src.Index != 0 || src.Base == x86asm.RIP || family(src.Base) < 0 {
					v.unknown = true
					return
				}
				l = loc{slot: true, base: family(src.Base), disp: src.Disp, valid: true}
			default:
				v.unknown = true
				return
			}
		case x86asm.XOR, x86asm.SUB:
			if r, ok := in.Args[1].(x86asm.Reg); ok && isReg && family(r) == family(dst) {
				v.consts[0] = true
				return
			}
			v.unknown = true
			return
		default:
			v.unknown = true
			return
		}
	}
}

// sweepX86 decodes [addr, addr+len(code)) linearly. Undecodable bytes are skipped one at a time.
func sweepX86(code []byte, addr uint64) []inst {
	out := make([]inst, 0, len(code)/3+1)
	for off := 0; off < len(code); {
		in, err := x86asm.Decode(code[off:], 64)
		if err != nil || in.Len == 0 {
			off++
			continue
		}
		out = append(out, inst{addr + uint64(off), in})
		off += in.Len
	}
	return out
}

// target is the destination of a direct call or jump (rel32/rel8), ok false for an indirect one.
func target(i inst) (uint64, bool) {
	if r, ok := i.in.Args[0].(x86asm.Rel); ok {
		return uint64(int64(i.addr) + int64(i.in.Len) + int64(r)), true
	}
	return 0, false
}

// ripSlot is the address a rip-relative memory operand names (a GOT slot for `call [rip+X]`).
func ripSlot(i inst) (uint64, bool) {
	if m, ok := i.in.Args[0].(x86asm.Mem); ok && m.Base == x86asm.RIP && m.Index == 0 {
		return uint64(int64(i.addr) + int64(i.in.Len) + m.Disp), true
	}
	return 0, false
}

func isSyscall(i inst) bool { return i.in.Op == x86asm.SYSCALL }

func isCall(i inst) bool { return i.in.Op == x86asm.CALL }

func isJmp(i inst) bool {
	return i.in.Op == x86asm.JMP
}

func isRet(i inst) bool { return i.in.Op == x86asm.RET }

// ripSource is the address a rip-relative source operand names (lea r, [rip+X]).
func ripSource(i inst) (uint64, bool) {
	if i.in.Op != x86asm.LEA {
		return 0, false
	}
	if m, ok := i.in.Args[1].(x86asm.Mem); ok && m.Base == x86asm.RIP && m.Index == 0 {
		return uint64(int64(i.addr) + int64(i.in.Len) + m.Disp), true
	}
	return 0, false
}
