//go:build cgo

package fixes

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	seccomp "github.com/seccomp/libseccomp-golang"
	"github.com/sysdiag/sysdiag/syscalls"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Verdict is the seccomp action a filter returns for a call, before and after a fix.
type Verdict struct {
	Before, After uint32 // SECCOMP_RET_* values
	Verified      bool   // Before blocks and After allows (or logs)
	Detail        string
}

var scmpArch = map[syscalls.Arch]seccomp.ScmpArch{
	syscalls.ArchX86_64: seccomp.ArchAMD64, syscalls.ArchI386: seccomp.ArchX86, syscalls.ArchAARCH64: seccomp.ArchARM64,
	syscalls.ArchARM: seccomp.ArchARM, syscalls.ArchRISCV64: seccomp.ArchRISCV64, syscalls.ArchPPC64LE: seccomp.ArchPPC64LE,
	syscalls.ArchPPC64: seccomp.ArchPPC64, syscalls.ArchS390X: seccomp.ArchS390X,
}

const (
	retAllow       = 0x7fff0000
	retLog         = 0x7ffc0000
	retKillProcess = 0x80000000
	retActionMask  = 0xffff0000
)

// Verify builds, with libseccomp, the filters systemd installs before and after the fix, exports each as
// BPF, and runs the BPF on the call's seccomp_data; of several filters the kernel keeps the harshest
// action, as here. The filters are the two a unit's SystemCallArchitectures= and SystemCallFilter= give:
// the architecture filter (seccomp_restrict_archs: allow, the recording host's native ABI host plus the
// listed ones, libseccomp's default bad-arch action kill-thread) and the syscall filter for the call's
// ABI (seccomp_load_syscall_filter_set_raw). A fix is verified when the call was blocked before and is
// allowed after.
func Verify(before, after *Filter, arch, host syscalls.Arch, nr int) (Verdict, error) {
	b, err := evaluate(before, arch, host, nr)
	if err != nil {
		return Verdict{}, err
	}
	a, err := evaluate(after, arch, host, nr)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Before: b, After: a}
	blocked := func(r uint32) bool { r &= retActionMask; return r != retAllow && r != retLog }
	v.Verified = blocked(b) && !blocked(a)
	v.Detail = fmt.Sprintf("BPF for %s syscall %d: before %s, after %s", arch, nr, retName(b), retName(a))
	return v, nil
}

// Killed reports whether a SECCOMP_RET_* value kills (the process or the thread).
func (Verdict) Killed(r uint32) bool {
	r &= retActionMask
	return r == retKillProcess || r == 0
}

func retName(r uint32) string {
	switch r & retActionMask {
	case retAllow:
		return "allow"
	case retLog:
		return "log"
	case retKillProcess:
		return "kill-process"
	case 0:
		return "kill-thread"
	case 0x00050000:
		return fmt.Sprintf("errno %d", r&0xffff)
	}
	return fmt.Sprintf("%#x", r)
}

// harsher reports whether the kernel prefers action a over b when several filters answer a call
// (kernel/seccomp.c: the lowest ACTION_ONLY value as a signed int wins; kill-process is the harshest).
func harsher(a, b uint32) bool { return int32(a&retActionMask) < int32(b&retActionMask) }

func evaluate(f *Filter, arch, host syscalls.Arch, nr int) (uint32, error) {
	ret, err := evaluateArchs(f, arch, host, nr)
	if err != nil {
		return 0, err
	}
	if ret&retActionMask != retAllow {
		return ret, nil // systemd builds no syscall filter for a blocked ABI (SECCOMP_LOCAL_ARCH_BLOCKED)
	}
	sf, err := evaluateFilter(f, arch, nr)
	if err != nil {
		return 0, err
	}
	if harsher(sf, ret) {
		ret = sf
	}
	return ret, nil
}

// evaluateArchs runs SystemCallArchitectures='s filter: seccomp_init(ALLOW) for host's ABI plus every
// listed one, nothing else; a call of another ABI meets libseccomp's default bad-arch action.
func evaluateArchs(f *Filter, arch, host syscalls.Arch, nr int) (uint32, error) {
	if len(f.Architectures) == 0 {
		return retAllow, nil
	}
	hs, ok := scmpArch[host]
	if !ok {
		return 0, fmt.Errorf("libseccomp here cannot build a filter for %s", host)
	}
	filter, native, err := newFilter(seccomp.ActAllow)
	if err != nil {
		return 0, err
	}
	defer filter.Release()
	if err := filter.AddArch(hs); err != nil {
		return 0, fmt.Errorf("libseccomp: adding %s: %w", host, err)
	}
	for _, a := range syscalls.Arches() {
		sa, ok := scmpArch[a]
		if !ok || a == host || !f.archAllowed(a, host) {
			continue
		}
		if err := filter.AddArch(sa); err != nil {
			return 0, fmt.Errorf("libseccomp: adding %s: %w", a, err)
		}
	}
	if hs != native && !f.archAllowed(hostArchOf(native), host) {
		if err := filter.RemoveArch(native); err != nil {
			return 0, fmt.Errorf("libseccomp: %w", err)
		}
	}
	prog, err := exportBPF(filter)
	if err != nil {
		return 0, err
	}
	return runBPF(prog, uint32(arch), nr)
}

// newFilter makes a libseccomp filter with default action def, and says this machine's native arch
// (libseccomp's filters start with it).
func newFilter(def seccomp.ScmpAction) (*seccomp.ScmpFilter, seccomp.ScmpArch, error) {
	native, err := seccomp.GetNativeArch()
	if err != nil {
		return nil, 0, fmt.Errorf("libseccomp: %w", err)
	}
	filter, err := seccomp.NewFilter(def)
	if err != nil {
		return nil, 0, fmt.Errorf("libseccomp: %w", err)
	}
	return filter, native, nil
}

// hostArchOf maps libseccomp's arch back to the audit arch (for this machine's own native ABI).
func hostArchOf(sa seccomp.ScmpArch) syscalls.Arch {
	for a, s := range scmpArch {
		if s == sa {
			return a
		}
	}
	return 0
}

// evaluateFilter runs SystemCallFilter='s filter for the call's ABI.
func evaluateFilter(f *Filter, arch syscalls.Arch, nr int) (uint32, error) {
	sa, ok := scmpArch[arch]
	if !ok {
		return 0, fmt.Errorf("libseccomp here cannot build a filter for %s", arch)
	}
	negative := seccomp.ActKillProcess
	if f.ErrorNumber != ErrnoKill {
		negative = seccomp.ActErrno.SetReturnCode(int16(f.ErrorNumber))
	}
	def, listed := seccomp.ActAllow, negative
	if f.Mode == ModeAllow {
		def, listed = negative, seccomp.ActAllow
		if f.Table.Version().Major >= 255 {
			def = seccomp.ActErrno.SetReturnCode(38) // ENOSYS for what systemd does not know
		}
	}
	filter, native, err := newFilter(def)
	if err != nil {
		return 0, err
	}
	defer filter.Release()
	if sa != native {
		if err := filter.AddArch(sa); err != nil {
			return 0, fmt.Errorf("libseccomp: adding %s: %w", arch, err)
		}
		if err := filter.RemoveArch(native); err != nil {
			return 0, fmt.Errorf("libseccomp: %w", err)
		}
	}
	if f.Mode == ModeAllow && f.Table.Version().Major >= 255 {
		// Every known syscall not in the filter gets the negative action explicitly.
		if g, ok := f.Table.Group("@known"); ok {
			for _, n := range g.Expanded {
				if _, in := f.entries[n]; !in {
					addRule(filter, sa, n, negative)
				}
			}
		}
	}
	if f.Mode != ModeNone {
		for n, e := range f.entries {
			act := listed
			if e.errno == ErrnoKill {
				act = seccomp.ActKillProcess
			} else if e.errno != errnoNone {
				act = seccomp.ActErrno.SetReturnCode(int16(e.errno))
			}
			addRule(filter, sa, n, act)
		}
	}
	prog, err := exportBPF(filter)
	if err != nil {
		return 0, err
	}
	return runBPF(prog, uint32(arch), nr)
}

// addRule adds a rule by name, as systemd does: libseccomp resolves the name for the native ABI (a
// pseudo-number for names of other ABIs) and translates it to each ABI of the filter.
func addRule(f *seccomp.ScmpFilter, arch seccomp.ScmpArch, name string, act seccomp.ScmpAction) {
	if _, err := seccomp.GetSyscallFromNameByArch(name, arch); err != nil {
		return // not a syscall on this ABI: systemd skips it too (EDOM)
	}
	sc, err := seccomp.GetSyscallFromName(name)
	if err != nil {
		return
	}
	_ = f.AddRule(sc, act)
}

func exportBPF(f *seccomp.ScmpFilter) ([]bpf.RawInstruction, error) {
	// In memory (memfd): verification writes no file anywhere.
	fd, err := unix.MemfdCreate("sysdiag-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	tmp := os.NewFile(uintptr(fd), "sysdiag-bpf")
	defer tmp.Close()
	if err := f.ExportBPF(tmp); err != nil {
		return nil, fmt.Errorf("libseccomp: exporting BPF: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(tmp)
	if err != nil {
		return nil, err
	}
	prog := make([]bpf.RawInstruction, len(raw)/8)
	for i := range prog {
		b := raw[i*8:]
		prog[i] = bpf.RawInstruction{Op: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:])}
	}
	return prog, nil
}

// runBPF runs a seccomp program on seccomp_data{nr, arch}. x/net/bpf's VM loads words big-endian, so the
// data is laid out big-endian to give the program the values the kernel would.
func runBPF(prog []bpf.RawInstruction, arch uint32, nr int) (uint32, error) {
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		return 0, fmt.Errorf("BPF: cannot disassemble libseccomp's program")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return 0, fmt.Errorf("BPF: %w", err)
	}
	data := make([]byte, 64) // struct seccomp_data
	binary.BigEndian.PutUint32(data[0:], uint32(int32(nr)))
	binary.BigEndian.PutUint32(data[4:], arch)
	ret, err := vm.Run(data)
	if err != nil {
		return 0, fmt.Errorf("BPF: %w", err)
	}
	return uint32(ret), nil
}

// LibseccompKnows reports whether this machine's libseccomp resolves name (on any ABI): systemd drops
// names it cannot resolve, so a filter built for the local manager must too.
func LibseccompKnows(name string) bool {
	_, err := seccomp.GetSyscallFromName(name)
	return err == nil
}

// Allows reports whether a SECCOMP_RET_* value lets the call run (allow, or log).
func (Verdict) Allows(r uint32) bool { r &= retActionMask; return r == retAllow || r == retLog }
