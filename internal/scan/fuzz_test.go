package scan

import (
	"bytes"
	"testing"
)

// FuzzOpen: any bytes as an ELF file — an error or a scan, never a panic or a hang (seeds: a tiny static
// program, testdata/fuzz/FuzzOpen).
func FuzzOpen(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Open(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err == nil && b != nil {
			b.Own()
			for name := range b.Exports {
				b.Summarize(name)
				break
			}
		}
	})
}

// FuzzWalk: any bytes as x86-64 code — the sweep and the backward walks from every syscall and call end.
func FuzzWalk(f *testing.F) {
	f.Add([]byte{0xb8, 0x29, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3})                            // mov eax,41; syscall; ret
	f.Add([]byte{0x48, 0x89, 0xf8, 0x0f, 0x05, 0xc3})                                        // mov rax,rdi; syscall; ret
	f.Add([]byte{0xbe, 0xe7, 0, 0, 0, 0xeb, 0x00, 0x89, 0xf0, 0x0f, 0x05, 0x74, 0xf9, 0xf4}) // a label and a jump back
	f.Fuzz(func(t *testing.T, code []byte) {
		in := sweepX86(code, 0x1000)
		c := newCode(in)
		for j, i := range in {
			if isSyscall(i) || isCall(i) {
				c.valueOf(j, loc{reg: rAX, valid: true}, walkBudget)
				c.valueOf(j, loc{reg: rDI, valid: true}, walkBudget)
			}
		}
	})
}
