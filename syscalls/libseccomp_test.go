//go:build cgo

package syscalls

import (
	"testing"

	seccomp "github.com/seccomp/libseccomp-golang"
)

// TestAgainstLibseccomp: every syscall the installed libseccomp knows, on every arch it knows, has the
// same number in our tables. (libseccomp lags the kernel: our tables may have more, never different.)
func TestAgainstLibseccomp(t *testing.T) {
	arches := map[Arch]seccomp.ScmpArch{
		ArchX86_64: seccomp.ArchAMD64, ArchI386: seccomp.ArchX86, ArchAARCH64: seccomp.ArchARM64,
		ArchARM: seccomp.ArchARM, ArchRISCV64: seccomp.ArchRISCV64, ArchPPC64LE: seccomp.ArchPPC64LE,
		ArchPPC64: seccomp.ArchPPC64, ArchS390X: seccomp.ArchS390X,
	}
	if la, err := seccomp.GetArchFromString("loong64"); err == nil {
		arches[ArchLOONGARCH64] = la // libseccomp ≥ 2.6
	}
	maj, mnr, mic := seccomp.GetLibraryVersion()
	t.Logf("libseccomp %d.%d.%d", maj, mnr, mic)
	for a, sa := range arches {
		checked := 0
		// Plain numbers, and the ARM-private range at 0x0f0000.
		for _, rng := range [][2]int{{0, 1100}, {0x0f0000, 0x0f0010}} {
			for nr := rng[0]; nr < rng[1]; nr++ {
				name, err := seccomp.ScmpSyscall(nr).GetNameByArch(sa)
				if err != nil {
					continue
				}
				checked++
				if got, ok := Name(a, nr); !ok || got != name {
					if n2, ok2 := Number(a, name); !ok2 || n2 != nr {
						t.Errorf("%s: libseccomp says %d is %s; our table: %q (and %s = %d, %v)", a, nr, name, got, name, n2, ok2)
					}
				}
			}
		}
		if checked == 0 {
			t.Logf("%s: the installed libseccomp resolves no syscall on it; not compared", a)
			continue
		}
		if checked < 250 {
			t.Errorf("%s: libseccomp named only %d syscalls", a, checked)
		}
	}
}
