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
