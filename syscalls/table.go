package syscalls

import "sort"

type entry struct {
	nr   int
	name string
}

type archTable struct {
	arch    Arch
	entries []entry // sorted by number, then name
}

func tableFor(a Arch) *archTable {
	for i := range archTables {
		if archTables[i].arch == a {
			return &archTables[i]
		}
	}
	return nil
}

// Name returns the syscall name for number nr on arch a: the name of the record's own ABI. ok is false
// when a has no table or nr is not a syscall there.
func Name(a Arch, nr int) (name string, ok bool) {
	t := tableFor(a)
	if t == nil {
		return "", false
	}
	i := sort.Search(len(t.entries), func(i int) bool { return t.entries[i].nr >= nr })
	if i < len(t.entries) && t.entries[i].nr == nr {
		return t.entries[i].name, true
	}
	return "", false
}

// Number returns the syscall number of name on arch a.
func Number(a Arch, name string) (nr int, ok bool) {
	t := tableFor(a)
	if t == nil {
		return 0, false
	}
	for _, e := range t.entries {
		if e.name == name {
			return e.nr, true
		}
	}
	return 0, false
}

// ArchNumber is a syscall's number on one arch.
type ArchNumber struct {
	Arch   Arch
	Number int
}

// Numbers returns name's number on every arch that has it, in the order of [Arches].
func Numbers(name string) []ArchNumber {
	var out []ArchNumber
	for _, a := range Arches() {
		if nr, ok := Number(a, name); ok {
			out = append(out, ArchNumber{a, nr})
		}
	}
	return out
}

// IsSyscall reports whether name is a syscall on any arch sysdiag knows.
func IsSyscall(name string) bool {
	for i := range archTables {
		for _, e := range archTables[i].entries {
			if e.name == name {
				return true
			}
		}
	}
	return false
}

// AllNames returns every syscall name on any arch, sorted.
func AllNames() []string {
	set := map[string]bool{}
	for i := range archTables {
		for _, e := range archTables[i].entries {
			set[e.name] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
