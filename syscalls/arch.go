package syscalls

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// Arch is an AUDIT_ARCH_* value, as written (in hex) in the arch= field of an audit record.
type Arch uint32

// The audit arches sysdiag has syscall tables for.
const (
	ArchX86_64      Arch = 0xc000003e
	ArchI386        Arch = 0x40000003
	ArchAARCH64     Arch = 0xc00000b7
	ArchARM         Arch = 0x40000028
	ArchRISCV64     Arch = 0xc00000f3
	ArchPPC64LE     Arch = 0xc0000015
	ArchPPC64       Arch = 0x80000015
	ArchS390X       Arch = 0x80000016
	ArchLOONGARCH64 Arch = 0xc0000102
)

var archNames = map[Arch]string{
	ArchX86_64: "x86_64", ArchI386: "i386", ArchAARCH64: "aarch64", ArchARM: "arm", ArchRISCV64: "riscv64",
	ArchPPC64LE: "ppc64le", ArchPPC64: "ppc64", ArchS390X: "s390x", ArchLOONGARCH64: "loongarch64",
}

// archAliases are the other spellings people and tools use (Go's GOARCH, uname -m, Debian).
var archAliases = map[string]Arch{
	"amd64": ArchX86_64, "x86-64": ArchX86_64, "x64": ArchX86_64,
	"386": ArchI386, "x86": ArchI386, "i686": ArchI386, "i586": ArchI386, "ia32": ArchI386,
	"arm64": ArchAARCH64, "armhf": ArchARM, "armel": ArchARM, "armv7l": ArchARM,
	"ppc64el": ArchPPC64LE, "loong64": ArchLOONGARCH64,
}

// String returns the ABI name (x86_64, i386, …), or the hex value for an arch without a table.
func (a Arch) String() string {
	if n, ok := archNames[a]; ok {
		return n
	}
	return a.Hex()
}

// Hex returns the value as audit writes it: eight lowercase hex digits.
func (a Arch) Hex() string { return fmt.Sprintf("%08x", uint32(a)) }

// Known reports whether sysdiag has a syscall table for a.
func (a Arch) Known() bool { _, ok := archNames[a]; return ok }

// Arches returns every arch with a table, in a fixed order (x86_64 first).
func Arches() []Arch {
	out := make([]Arch, 0, len(archTables))
	for _, t := range archTables {
		out = append(out, t.arch)
	}
	return out
}

// ParseArch accepts an ABI name (x86_64, i386, aarch64, …), a common alias (amd64, arm64, 386, …) or
// the audit hex value (c000003e, 0xc000003e).
func ParseArch(s string) (Arch, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for a, n := range archNames {
		if n == k {
			return a, nil
		}
	}
	if a, ok := archAliases[k]; ok {
		return a, nil
	}
	h := strings.TrimPrefix(k, "0x")
	if len(h) == 8 {
		if v, err := strconv.ParseUint(h, 16, 32); err == nil {
			return Arch(v), nil
		}
	}
	return 0, fmt.Errorf("unknown architecture %q (known: %s)", s, strings.Join(archList(), ", "))
}

func archList() []string {
	var out []string
	for _, a := range Arches() {
		out = append(out, a.String())
	}
	return out
}

// HostArch is the native audit arch of the machine sysdiag was built for.
func HostArch() Arch {
	a, err := ParseArch(runtime.GOARCH)
	if err != nil {
		return 0
	}
	if runtime.GOARCH == "ppc64" {
		return ArchPPC64
	}
	return a
}
