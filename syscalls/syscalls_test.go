package syscalls

import (
	"slices"
	"testing"
)

func TestParseArch(t *testing.T) {
	for in, want := range map[string]Arch{
		"x86_64": ArchX86_64, "amd64": ArchX86_64, "c000003e": ArchX86_64, "0xC000003E": ArchX86_64,
		"i386": ArchI386, "386": ArchI386, "40000003": ArchI386, "aarch64": ArchAARCH64, "arm64": ArchAARCH64,
		"arm": ArchARM, "riscv64": ArchRISCV64, "ppc64le": ArchPPC64LE, "ppc64": ArchPPC64, "s390x": ArchS390X,
		"loongarch64": ArchLOONGARCH64, "loong64": ArchLOONGARCH64, "c0000102": ArchLOONGARCH64,
		"deadbeef": Arch(0xdeadbeef),
	} {
		got, err := ParseArch(in)
		if err != nil || got != want {
			t.Errorf("ParseArch(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if got, err := ParseArch(" x86_64 "); err != nil || got != ArchX86_64 {
		t.Errorf("ParseArch with surrounding space = %v, %v; want x86_64 (trimmed)", got, err)
	}
	for _, bad := range []string{"", "mips", "0x1", "zzzzzzzz"} {
		if _, err := ParseArch(bad); err == nil {
			t.Errorf("ParseArch(%q) did not fail", bad)
		}
	}
	if Arch(0xdeadbeef).Known() || Arch(0xdeadbeef).String() != "deadbeef" {
		t.Errorf("unknown arch: Known=%v String=%q", Arch(0xdeadbeef).Known(), Arch(0xdeadbeef).String())
	}
	if len(Arches()) != 9 {
		t.Errorf("Arches() = %v, want the 9 audit arches", Arches())
	}
}

func TestNumbersPerArch(t *testing.T) {
	for _, c := range []struct {
		arch Arch
		nr   int
		name string
	}{
		{ArchX86_64, 93, "fchown"}, {ArchX86_64, 41, "socket"}, {ArchX86_64, 101, "ptrace"},
		{ArchI386, 95, "fchown"}, {ArchI386, 207, "fchown32"}, {ArchI386, 102, "socketcall"},
		{ArchAARCH64, 55, "fchown"}, {ArchAARCH64, 79, "newfstatat"}, {ArchARM, 0x0f0002, "cacheflush"},
		{ArchRISCV64, 259, "riscv_flush_icache"}, {ArchS390X, 207, "fchown"}, {ArchPPC64LE, 363, "switch_endian"},
		{ArchLOONGARCH64, 55, "fchown"},
		// recent syscalls on every arch that has them
		{ArchX86_64, 462, "mseal"}, {ArchX86_64, 458, "listmount"}, {ArchX86_64, 459, "lsm_get_self_attr"},
		{ArchX86_64, 463, "setxattrat"}, {ArchAARCH64, 462, "mseal"}, {ArchLOONGARCH64, 463, "setxattrat"},
	} {
		if got, ok := Name(c.arch, c.nr); !ok || got != c.name {
			t.Errorf("Name(%s, %d) = %q, %v; want %q", c.arch, c.nr, got, ok, c.name)
		}
		if got, ok := Number(c.arch, c.name); !ok || got != c.nr {
			t.Errorf("Number(%s, %q) = %d, %v; want %d", c.arch, c.name, got, ok, c.nr)
		}
	}
	if _, ok := Name(ArchX86_64, 100000); ok {
		t.Error("Name(x86_64, 100000) found something")
	}
	if _, ok := Name(Arch(1), 1); ok {
		t.Error("Name on an arch without a table found something")
	}
	if _, ok := Number(ArchX86_64, "fchown32"); ok {
		t.Error("fchown32 is not an x86_64 syscall")
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string][2]int{
		"252": {252, 0}, "v252": {252, 0}, "252.38": {252, 38}, "252.38-1~deb12u1": {252, 38},
		"systemd 252 (252.38-1~deb12u1)": {252, 38}, "255.4-1ubuntu8": {255, 4}, "257~rc2": {257, 0},
		"256.7-1.fc41": {256, 7}, " 261.2 ": {261, 2},
	} {
		v, err := ParseVersion(in)
		if err != nil || v.Major != want[0] || v.Point != want[1] {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %v", in, v, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "-1", "0", "252.x", "99999"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) did not fail", bad)
		}
	}
}

func TestSelect(t *testing.T) {
	for _, c := range []struct {
		in, label string
		exact     bool
	}{
		{"252", "252", true},
		{"252.38-1~deb12u1", "252.38-debian", true},
		{"252.39-1~deb12u2", "252.39-debian", true},
		{"252.20", "252", false}, // nearest lower: the tag, not Debian's later point release
		{"252.45", "252.39-debian", false},
		{"253.7", "253", false},
		{"257.13-1~deb13u1", "257.13-debian", true}, // Debian 13's, measured in a trixie root
		{"257.9", "257", false},
		{"261.2", "261.2", true},
		{"261.1", "261", false},
		{"300", "261.2", false},
		{"240", "245", false}, // older than every table: the oldest
	} {
		v, err := ParseVersion(c.in)
		if err != nil {
			t.Fatal(err)
		}
		tab := Select(v)
		if tab.Label() != c.label || tab.Exact() != c.exact {
			t.Errorf("Select(%s) = v%s exact=%v; want v%s exact=%v (%s)", c.in, tab.Label(), tab.Exact(), c.label, c.exact, tab.Note())
		}
	}
	if n := Select(Version{Major: 240}).Note(); n != "systemd 240 is older than every table; using the oldest, v245" {
		t.Errorf("note for 240: %q", n)
	}
	if n := Select(Version{Major: 253, Point: 7}).Note(); n != "systemd 253.7 has no table of its own; using the nearest lower one, v253" {
		t.Errorf("note for 253.7: %q", n)
	}
}

func TestGroupsOf(t *testing.T) {
	tab := Select(Version{Major: 252})
	var got []string
	for _, m := range tab.GroupsOf("fchown") {
		got = append(got, m.Group)
	}
	if want := []string{"@chown", "@privileged", "@system-service", "@known"}; !slices.Equal(got, want) {
		t.Errorf("groups of fchown in v252 = %v, want %v (smallest first)", got, want)
	}
	ms := tab.GroupsOf("fchown")
	if len(ms[0].Via) != 0 || !slices.Equal(ms[1].Via, []string{"@chown"}) {
		t.Errorf("via: @chown %v, @privileged %v", ms[0].Via, ms[1].Via)
	}
	if !tab.InDefault("brk") || tab.InDefault("fchown") {
		t.Error("@default membership of brk/fchown wrong in v252")
	}
	// Nested groups are expanded: @system-service reaches socket through @network-io.
	if !tab.Contains("@system-service", "socket") || tab.Contains("@system-service", "ptrace") {
		t.Error("@system-service expansion wrong")
	}
	// v245's @file-system has statx only under a compile-time condition.
	for _, m := range Select(Version{Major: 245}).GroupsOf("statx") {
		if m.Group == "@file-system" && m.Cond != "defined __NR_statx" {
			t.Errorf("statx in v245 @file-system: cond %q", m.Cond)
		}
	}
	// Point releases differ from the tag: Debian's 252.39 backports futex_waitv into @default.
	if Select(Version{Major: 252}).InDefault("futex_waitv") || !Select(Version{Major: 252, Point: 39}).InDefault("futex_waitv") {
		t.Error("futex_waitv: v252 tag vs 252.39")
	}
	if _, ok := tab.Group("nosuchgroup"); ok {
		t.Error("Group(nosuchgroup) found")
	}
	if g, ok := tab.Group("chown"); !ok || g.Name != "@chown" || len(g.Expanded) != 7 {
		t.Errorf("Group(chown) = %+v, %v", g, ok)
	}
}

func TestHistory(t *testing.T) {
	h := History("mseal")
	var joinedDefault string
	for _, c := range h {
		if slices.Contains(c.Joined, "@default") {
			joinedDefault = c.To
		}
		if c.To == "252.39-debian" {
			t.Errorf("history includes a distribution table: %+v", c)
		}
	}
	if joinedDefault != "257" {
		t.Errorf("mseal joined @default in %q, want 257 (history %+v)", joinedDefault, h)
	}
	h = History("stime")
	found := false
	for _, c := range h {
		if c.To == "247" && slices.Contains(c.Left, "@clock") && slices.Contains(c.Joined, "@obsolete") {
			found = true
		}
	}
	if !found {
		t.Errorf("stime moved from @clock to @obsolete in v247; history %+v", h)
	}
}

func TestSecurityRows(t *testing.T) {
	rows := SecurityRows()
	sum := 0
	for _, r := range rows {
		sum += r.Weight
		if r.Range != 10 {
			t.Errorf("%s: range %d", r.ID, r.Range)
		}
	}
	if len(rows) != 11 || sum != 8900 {
		t.Errorf("%d rows, weight sum %d; want 11 and 8900", len(rows), sum)
	}
	if rows[3].JSONField != "SystemCallFilter_cpu_emulation" || rows[7].ID != "SystemCallFilter=~@raw-io" {
		t.Errorf("row names: %+v %+v", rows[3], rows[7])
	}
}

func TestEveryGroupMemberIsKnown(t *testing.T) {
	// Each table's groups reference only groups of the same table, and plain names are plausible.
	for _, tab := range Tables() {
		names := map[string]bool{}
		for _, g := range tab.Groups() {
			names[g.Name] = true
		}
		for _, g := range tab.Groups() {
			for _, m := range g.Members {
				if m.Name[0] == '@' && !names[m.Name] {
					t.Errorf("v%s: %s references missing %s", tab.Label(), g.Name, m.Name)
				}
			}
		}
		if _, ok := tab.Group("@default"); !ok {
			t.Errorf("v%s has no @default", tab.Label())
		}
	}
}

func TestParseQuery(t *testing.T) {
	for in, want := range map[string]Query{
		"fchown": {Name: "fchown"}, "FCHOWN": {Name: "fchown"}, "_llseek": {Name: "_llseek"},
		"93": {Number: 93, IsNumber: true}, "0x5d": {Number: 93, IsNumber: true}, " 41 ": {Number: 41, IsNumber: true},
	} {
		if got, err := ParseQuery(in); err != nil || got != want {
			t.Errorf("ParseQuery(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "9x", "a b", "a;b", "0x", "99999999999", "fch\x1bown"} {
		if got, err := ParseQuery(bad); err == nil {
			t.Errorf("ParseQuery(%q) = %+v, did not fail", bad, got)
		}
	}
}

// Debian 13's 257.13 differs from the v257 tag (measured with systemd-analyze in a trixie root).
func TestDebian257Table(t *testing.T) {
	v, _ := ParseVersion("257.13-1~deb13u1")
	tag, _ := ParseVersion("257")
	d, g := Select(v), Select(tag)
	for _, c := range []struct{ group, name string }{{"@default", "lsm_list_modules"}, {"@file-system", "file_getattr"}} {
		if !d.Contains(c.group, c.name) || g.Contains(c.group, c.name) {
			t.Errorf("%s %s: 257.13-debian %v, v257 tag %v", c.group, c.name, d.Contains(c.group, c.name), g.Contains(c.group, c.name))
		}
	}
	for _, tb := range []Table{d, g} {
		if !tb.Contains("@default", "seccomp") || !tb.Contains("@default", "landlock_create_ruleset") {
			t.Errorf("%s: @default must hold @sandbox from v257", tb.Label())
		}
	}
}
