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

// inst is one decoded instruction, reduced to what the walks read: 32 bytes (x86asm.Inst is over 200,
// and a large library is tens of millions of instructions).
type inst struct {
	addr   uint64
	v0, v1 int64 // the first two operands' values: an immediate, a branch displacement, a memory displacement
	op     op
	len    uint8
	k0, k1 kind
	r0, r1 reg8  // a register operand's family; a memory operand's base's (-1: none, or not a general register)
	m0, m1 uint8 // a memory operand's memIndex and memRIP
}

// op is an instruction's class, as far as the walks and the call graph care.
type op uint8

const (
	opOther   op = iota
	opSyscall    // SYSCALL
	opCall       // CALL
	opJmp        // JMP
	opJcc        // a conditional jump (JA … JS)
	opEnd        // RET, UD2, HLT: no fall-through
	opRead       // CMP, TEST, BT, NOP: read only
	opPush       // PUSH
	opPop        // POP
	opMov        // MOV
	opZero       // XOR, SUB: zero with the same register twice
	opLea        // LEA
)

// kind is what an operand is.
type kind uint8

const (
	kNone kind = iota
	kReg
	kMem
	kImm
	kRel
	kOther
)

// reg8 is a reg in a byte.
type reg8 int8

const (
	memIndex = 1 << iota // the memory operand has an index register
	memRIP               // its base is RIP
)

func classify(o x86asm.Op) op {
	switch o {
	case x86asm.SYSCALL:
		return opSyscall
	case x86asm.CALL:
		return opCall
	case x86asm.JMP:
		return opJmp
	case x86asm.RET, x86asm.UD2, x86asm.HLT:
		return opEnd
	case x86asm.CMP, x86asm.TEST, x86asm.BT, x86asm.NOP:
		return opRead
	case x86asm.PUSH:
		return opPush
	case x86asm.POP:
		return opPop
	case x86asm.MOV:
		return opMov
	case x86asm.XOR, x86asm.SUB:
		return opZero
	case x86asm.LEA:
		return opLea
	}
	if o >= x86asm.JA && o <= x86asm.JS {
		return opJcc
	}
	return opOther
}

func operand(a x86asm.Arg) (k kind, r reg8, m uint8, v int64) {
	switch a := a.(type) {
	case nil:
		return kNone, -1, 0, 0
	case x86asm.Reg:
		return kReg, reg8(family(a)), 0, 0
	case x86asm.Mem:
		if a.Index != 0 {
			m |= memIndex
		}
		if a.Base == x86asm.RIP {
			m |= memRIP
		}
		return kMem, reg8(family(a.Base)), m, a.Disp
	case x86asm.Imm:
		return kImm, -1, 0, int64(a)
	case x86asm.Rel:
		return kRel, -1, 0, int64(a)
	}
	return kOther, -1, 0, 0
}

// decodeX86 decodes the instruction at the start of code, at addr (ok false: not an instruction).
func decodeX86(code []byte, addr uint64) (inst, bool) {
	in, err := x86asm.Decode(code, 64)
	if err != nil || in.Len <= 0 || in.Len > 15 {
		return inst{}, false
	}
	i := inst{addr: addr, op: classify(in.Op), len: uint8(in.Len)}
	i.k0, i.r0, i.m0, i.v0 = operand(in.Args[0])
	i.k1, i.r1, i.m1, i.v1 = operand(in.Args[1])
	return i, true
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
	sources map[uint64][]int32
}

func newCode(in []inst) *code {
	c := &code{in: in, sources: map[uint64][]int32{}}
	for k, i := range in {
		if i.op != opJcc && i.op != opJmp {
			continue
		}
		if t, ok := target(i); ok {
			c.sources[t] = append(c.sources[t], int32(k))
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
				c.walk(int(src), l, budget, v, seen)
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
		in := &c.in[j]
		switch in.op {
		case opJmp, opEnd:
			return // no fall-through into j+1; its jumps were followed above
		case opRead:
			continue // reads only
		case opPush, opPop:
			if l.slot && l.base == rSP {
				v.unknown = true // the stack pointer moved: slots shift
				return
			}
			if in.op == opPush {
				continue
			}
		case opCall:
			if !l.slot && callerSaved(l.reg) {
				v.unknown = true
				return
			}
			continue
		}
		isReg, isMem := in.k0 == kReg, in.k0 == kMem
		dst := reg(in.r0)
		writes := false
		switch {
		case !l.slot && isReg && dst == l.reg:
			writes = true
		case l.slot && isMem && dst == l.base && in.v0 == l.disp && in.m0&memIndex == 0:
			writes = true
		}
		if !writes {
			if l.slot && isReg && dst == l.base {
				v.unknown = true // the slot's base moved
				return
			}
			continue
		}
		switch in.op {
		case opMov:
			switch in.k1 {
			case kImm:
				v.consts[in.v1] = true
				return
			case kReg:
				l = loc{reg: reg(in.r1), valid: true}
			case kMem:
				if in.m1&(memIndex|memRIP) != 0 || in.r1 < 0 {
					v.unknown = true
					return
				}
				l = loc{slot: true, base: reg(in.r1), disp: in.v1, valid: true}
			default:
				v.unknown = true
				return
			}
		case opZero:
			if in.k1 == kReg && isReg && in.r1 == in.r0 {
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

// sweep decodes code (at base) linearly from address from, calling each for every instruction until it
// returns false. Undecodable bytes are skipped one at a time.
func sweep(code []byte, base, from uint64, each func(inst) bool) {
	if from < base {
		return
	}
	for off := from - base; off < uint64(len(code)); {
		i, ok := decodeX86(code[off:], base+off)
		if !ok {
			off++
			continue
		}
		if !each(i) {
			return
		}
		off += uint64(i.len)
	}
}

// sweepX86 decodes [addr, addr+len(code)) linearly into a slice (for small code: the tests').
func sweepX86(code []byte, addr uint64) []inst {
	var out []inst
	sweep(code, addr, addr, func(i inst) bool { out = append(out, i); return true })
	return out
}

// target is the destination of a direct call or jump (rel32/rel8), ok false for an indirect one.
func target(i inst) (uint64, bool) {
	if i.k0 == kRel {
		return uint64(int64(i.addr) + int64(i.len) + i.v0), true
	}
	return 0, false
}

// ripSlot is the address a rip-relative memory operand names (a GOT slot for `call [rip+X]`).
func ripSlot(i inst) (uint64, bool) {
	if i.k0 == kMem && i.m0 == memRIP {
		return uint64(int64(i.addr) + int64(i.len) + i.v0), true
	}
	return 0, false
}

func isSyscall(i inst) bool { return i.op == opSyscall }

func isCall(i inst) bool { return i.op == opCall }

func isJmp(i inst) bool { return i.op == opJmp }

// ripSource is the address a rip-relative source operand names (lea r, [rip+X]).
func ripSource(i inst) (uint64, bool) {
	if i.op == opLea && i.k1 == kMem && i.m1 == memRIP {
		return uint64(int64(i.addr) + int64(i.len) + i.v1), true
	}
	return 0, false
}
