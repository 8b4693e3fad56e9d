package journal

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/klauspost/compress/zstd"
)

// SigInfo is the NT_SIGINFO note of a core file: for a seccomp kill (Code == SysSeccomp), the blocked
// syscall and its AUDIT_ARCH — the same facts as the audit record, from the core alone.
type SigInfo struct {
	Signo    int
	Code     int
	CallAddr uint64
	Syscall  int
	Arch     uint32
}

// SysSeccomp is si_code for a SIGSYS sent by a seccomp filter.
const SysSeccomp = 1

// IsSeccomp reports whether the core records a seccomp kill.
func (s SigInfo) IsSeccomp() bool { return s.Signo == SIGSYS && s.Code == SysSeccomp }

const ntSigInfo = 0x53494749 // "SIGI"

// corePrefix bounds how much of a core is decompressed: the notes follow the program headers at the start.
const corePrefix = 32 << 20

// ReadCoreSigInfo reads the NT_SIGINFO note of a stored core file: plain ELF or zstd-compressed
// (systemd-coredump's .zst, as Debian stores them). Only the start of the core is decompressed.
//
// Only a regular file is read: the path comes from a journal entry, and a FIFO or a device there would
// block the read forever (it is opened non-blocking and checked with fstat before any read).
func ReadCoreSigInfo(path string) (SigInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return SigInfo{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return SigInfo{}, err
	} else if !fi.Mode().IsRegular() {
		return SigInfo{}, fmt.Errorf("%s: not a regular file", path)
	}
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".zst"):
		d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return SigInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		defer d.Close()
		r = d
	case strings.HasSuffix(path, ".xz"), strings.HasSuffix(path, ".lz4"):
		return SigInfo{}, fmt.Errorf("%s: only zstd-compressed or plain cores are read", path)
	}
	data, err := io.ReadAll(io.LimitReader(r, corePrefix))
	if err != nil {
		return SigInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	si, err := ParseCoreSigInfo(data)
	if err != nil {
		return SigInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return si, nil
}

// ParseCoreSigInfo finds the NT_SIGINFO note in the first bytes of an ELF core. It never panics on
// hostile input and returns a zero SigInfo with any error.
func ParseCoreSigInfo(data []byte) (si SigInfo, err error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return SigInfo{}, fmt.Errorf("not an ELF core: %w", err)
	}
	if ef.Type != elf.ET_CORE {
		return SigInfo{}, errors.New("not an ELF core file")
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz == 0 || p.Off >= uint64(len(data)) {
			continue
		}
		end := min(p.Off+p.Filesz, uint64(len(data)))
		if end < p.Off {
			continue
		}
		if si, ok := findSigInfo(data[p.Off:end], ef.ByteOrder, ef.Class); ok {
			return si, nil
		}
	}
	return SigInfo{}, errors.New("core has no NT_SIGINFO note")
}

func findSigInfo(notes []byte, bo binary.ByteOrder, class elf.Class) (SigInfo, bool) {
	align := func(n uint64) uint64 { return (n + 3) &^ 3 }
	for len(notes) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(notes)), uint64(bo.Uint32(notes[4:])), bo.Uint32(notes[8:])
		off := 12 + align(namesz)
		if off > uint64(len(notes)) || descsz > uint64(len(notes))-off {
			return SigInfo{}, false
		}
		desc := notes[off : off+descsz]
		if typ == ntSigInfo {
			return decodeSigInfo(desc, bo, class)
		}
		next := off + align(descsz)
		if next > uint64(len(notes)) {
			return SigInfo{}, false
		}
		notes = notes[next:]
	}
	return SigInfo{}, false
}

// decodeSigInfo reads siginfo_t: signo, errno, code, then (after padding to the pointer size on 64-bit)
// the SIGSYS fields _call_addr, _syscall, _arch.
func decodeSigInfo(d []byte, bo binary.ByteOrder, class elf.Class) (SigInfo, bool) {
	if len(d) < 32 {
		return SigInfo{}, false
	}
	si := SigInfo{Signo: int(int32(bo.Uint32(d))), Code: int(int32(bo.Uint32(d[8:])))}
	if class == elf.ELFCLASS64 {
		si.CallAddr = bo.Uint64(d[16:])
		si.Syscall = int(int32(bo.Uint32(d[24:])))
		si.Arch = bo.Uint32(d[28:])
	} else {
		si.CallAddr = uint64(bo.Uint32(d[12:]))
		si.Syscall = int(int32(bo.Uint32(d[16:])))
		si.Arch = bo.Uint32(d[20:])
	}
	return si, true
}
