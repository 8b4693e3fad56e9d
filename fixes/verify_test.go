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
		fx, _ := Propose(f, []Blocked{{c.sc, c.arch, c.nr}}, syscalls.ArchX86_64, 0, nil)
		after := f.With(Assignment{Directive: "SystemCallFilter", Value: fx.Allow[0]})
		v, err := Verify(f, after, c.arch, c.nr)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !v.Verified || retName(v.Before) != c.before || retName(v.After) != "allow" {
			t.Errorf("%s: %+v", c.name, v)
		}
	}
	// A fix that does not help is not verified.
	f := Build(v252, lines("x", "SystemCallFilter", "~@chown"), nil)
	v, err := Verify(f, f, syscalls.ArchX86_64, 93)
	if err != nil || v.Verified {
		t.Errorf("unchanged filter verified: %+v %v", v, err)
	}
}
