package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/syscalls"
)

func TestSyscall(t *testing.T) {
	tab := syscalls.Select(syscalls.Version{Major: 252})
	a, err := syscalls.Lookup("93", "x86_64", tab, tab.Note())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Syscall(&b, a); err != nil {
		t.Fatal(err)
	}
	want := `fchown: syscall 93 on x86_64 (audit arch c000003e)
  numbers:  x86_64 93 · i386 95 · aarch64 55 · arm 95 · riscv64 55 · ppc64le 95 · ppc64 95 · s390x 207 · loongarch64 55
  groups:   (systemd 252: table v252)
            @chown              7 syscalls
            @privileged        52 syscalls  via @chown
            @system-service   370 syscalls  via @chown
            @known            615 syscalls
  @default: no — an allow list must name it or one of its groups
  history:
            v245            in @chown @privileged @system-service
            v247            joined @known
  systemd-analyze security: allowing it flips
            SystemCallFilter=~@privileged  weight 700
`
	if b.String() != want {
		t.Errorf("Syscall:\n%s\nwant:\n%s", b.String(), want)
	}
	// An assumed arch is said; a 16-bit-uid call names its 32 variant; a name alone has no number line.
	a.ArchAssumed, a.RelatedName, a.Related = true, "fchown32", []syscalls.AnswerNumber{{Arch: "i386", Number: 207}}
	b.Reset()
	Syscall(&b, a)
	if !strings.HasPrefix(b.String(), "fchown: syscall 93 on x86_64 (audit arch c000003e) — the host's arch; pass --arch with the record's arch=\n"+
		"  note: on x86_64 fchown is the 16-bit-uid call; fchown32 is 207 there (what 32-bit glibc uses)\n") {
		t.Errorf("assumed arch, related call:\n%s", b.String())
	}
	a.Number, a.Groups, a.InDefault, a.History, a.SecurityRows = nil, nil, true, nil, nil
	b.Reset()
	Syscall(&b, a)
	if !strings.HasPrefix(b.String(), "fchown\n") || !strings.Contains(b.String(), "none: fchown is in no group of systemd v252, not even @known\n") ||
		!strings.Contains(b.String(), "@default: yes") || strings.Contains(b.String(), "history") || strings.Contains(b.String(), "security") {
		t.Errorf("a name, in no group:\n%s", b.String())
	}
}

func TestSyscallFilter(t *testing.T) {
	tab := syscalls.Select(syscalls.Version{Major: 252})
	gs, err := syscalls.LookupGroups(tab, "@chown")
	if err != nil {
		t.Fatal(err)
	}
	gs = append(gs, syscalls.Group{Name: "@x", Help: "X", Members: []syscalls.Member{{Name: "@chown"}, {Name: "statx", Cond: "defined __NR_statx"}}})
	var b bytes.Buffer
	if err := SyscallFilter(&b, gs); err != nil {
		t.Fatal(err)
	}
	want := "@chown\n    # Change ownership of files and directories\n    chown\n    chown32\n    fchown\n    fchown32\n    fchownat\n    lchown\n    lchown32\n" +
		"\n@x\n    # X\n    @chown\n    statx\n"
	if b.String() != want {
		t.Errorf("SyscallFilter:\n%q\nwant\n%q", b.String(), want)
	}
	v := GroupsOf(tab, "n", gs[:1])
	if v.Table != "252" || !v.TableExact || v.TableNote != "n" || len(v.Groups) != 1 || len(v.Groups[0].Members) != 7 || len(v.Groups[0].Expanded) != 7 {
		t.Errorf("GroupsOf = %+v", v)
	}
	if v := GroupsOf(tab, "", []syscalls.Group{{Name: "@empty"}}); v.Groups[0].Members == nil {
		t.Error("GroupsOf: a group with no members has an empty list, not none")
	}
}
