//go:build cgo

package fixes

import (
	"testing"

	"github.com/sysdiag/sysdiag/syscalls"
)

func TestVerify(t *testing.T) {
	for _, c := range []struct {
		name   string
		as     []Assignment
		sc     string
		arch   syscalls.Arch
		nr     int
		before string
	}{
		{"deny", lines("x", "SystemCallFilter", "~@chown"), "fchown", syscalls.ArchX86_64, 93, "kill-process"},
		{"allow", lines("x", "SystemCallFilter", "@system-service"), "ptrace", syscalls.ArchX86_64, 101, "kill-process"},
		{"allow-minus", lines("x", "SystemCallFilter", "@system-service", "SystemCallFilter", "~@chown"), "fchown", syscalls.ArchX86_64, 93, "kill-process"},
		{"errno", lines("x", "SystemCallFilter", "~@swap:EPERM"), "swapon", syscalls.ArchX86_64, 167, "errno 1"},
		{"aarch64", lines("x", "SystemCallFilter", "~@network-io"), "socket", syscalls.ArchAARCH64, 198, "kill-process"},
	} {
		f := Build(v252, c.as, nil)
		fx, _ := Propose(f, []Blocked{{c.sc, c.arch, c.nr}}, syscalls.ArchX86_64, 0, Keep{})
		after := f.With(Assignment{Directive: "SystemCallFilter", Value: fx.Allow[0]})
		v, err := Verify(f, after, c.arch, syscalls.ArchX86_64, c.nr)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !v.Verified || retName(v.Before) != c.before || retName(v.After) != "allow" {
			t.Errorf("%s: %+v", c.name, v)
		}
	}
	// A fix that does not help is not verified.
	f := Build(v252, lines("x", "SystemCallFilter", "~@chown"), nil)
	v, err := Verify(f, f, syscalls.ArchX86_64, syscalls.ArchX86_64, 93)
	if err != nil || v.Verified {
		t.Errorf("unchanged filter verified: %+v %v", v, err)
	}
}

// SystemCallArchitectures=native kills an i386 call on an x86_64 host with libseccomp's bad-arch action
// (kill-thread); the fix adds the ABI, and then the unit's SystemCallFilter= applies with i386 numbers.
func TestVerifyArchitectures(t *testing.T) {
	f := Build(v252, lines("x", "SystemCallArchitectures", "native", "SystemCallFilter", "~@chown"), nil)
	brk := Blocked{"brk", syscalls.ArchI386, 45}
	fx, _ := Propose(f, []Blocked{brk}, syscalls.ArchX86_64, 0, Keep{})
	if len(fx.Architectures) != 1 || fx.Architectures[0] != "x86" || len(fx.Allow) != 0 {
		t.Fatalf("fix %+v", fx)
	}
	after := f.With(Assignment{Directive: "SystemCallArchitectures", Value: "x86"})
	v, err := Verify(f, after, brk.Arch, syscalls.ArchX86_64, brk.Nr)
	if err != nil || !v.Verified || retName(v.Before) != "kill-thread" || retName(v.After) != "allow" {
		t.Errorf("brk: %+v %v", v, err)
	}
	// After the ABI is allowed, fchown32 (i386 207) meets ~@chown: still blocked, kill-process.
	v, err = Verify(f, after, syscalls.ArchI386, syscalls.ArchX86_64, 207)
	if err != nil || v.Verified || retName(v.After) != "kill-process" {
		t.Errorf("fchown32 after the arch fix: %+v %v", v, err)
	}
	fixed := after.With(Assignment{Directive: "SystemCallFilter", Value: "fchown32"})
	v, err = Verify(after, fixed, syscalls.ArchI386, syscalls.ArchX86_64, 207)
	if err != nil || !v.Verified || retName(v.After) != "allow" {
		t.Errorf("fchown32: %+v %v", v, err)
	}
	// The native ABI always passes the architecture filter.
	v, err = Verify(f, f, syscalls.ArchX86_64, syscalls.ArchX86_64, 12)
	if err != nil || retName(v.Before) != "allow" {
		t.Errorf("native brk: %+v %v", v, err)
	}
	// "native" is the recording host's ABI: an aarch64 host's own call passes, an x86_64 one does not.
	v, err = Verify(f, f, syscalls.ArchAARCH64, syscalls.ArchAARCH64, 214)
	if err != nil || retName(v.Before) != "allow" {
		t.Errorf("aarch64 host, aarch64 brk: %+v %v", v, err)
	}
	v, err = Verify(f, f, syscalls.ArchX86_64, syscalls.ArchAARCH64, 12)
	if err != nil || retName(v.Before) != "kill-thread" {
		t.Errorf("aarch64 host, x86_64 brk: %+v %v", v, err)
	}
}
