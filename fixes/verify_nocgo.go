//go:build !cgo

package fixes

import (
	"errors"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Verdict is the seccomp action a filter returns for a call, before and after a fix.
type Verdict struct {
	Before, After uint32
	Verified      bool
	Detail        string
}

// Verify needs libseccomp (cgo).
func Verify(before, after *Filter, arch, host syscalls.Arch, nr int) (Verdict, error) {
	return Verdict{}, errors.New("this sysdiag was built without cgo: the fix is not verified against libseccomp")
}

// LibseccompKnows falls back to sysdiag's own tables without cgo.
func LibseccompKnows(name string) bool { return syscalls.IsSyscall(name) }

// Killed reports whether a SECCOMP_RET_* value kills (the process or the thread).
func (Verdict) Killed(r uint32) bool { r &= 0xffff0000; return r == 0x80000000 || r == 0 }

// Allows reports whether a SECCOMP_RET_* value lets the call run (allow, or log).
func (Verdict) Allows(r uint32) bool { r &= 0xffff0000; return r == 0x7fff0000 || r == 0x7ffc0000 }
