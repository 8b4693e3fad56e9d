package syscalls

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	tab := Select(Version{Major: 252})
	a, err := Lookup(" 93 ", "x86_64", tab, "note")
	if err != nil {
		t.Fatal(err)
	}
	if a.Query != " 93 " || a.Syscall != "fchown" || a.Number == nil || *a.Number != 93 || a.Arch != "x86_64" ||
		a.AuditArch != "c000003e" || a.ArchAssumed || a.TableNote != "note" || a.Table != "252" || !a.TableExact {
		t.Errorf("Lookup(93, x86_64) = %+v", a)
	}
	if a.Groups[0].Group != "@chown" || a.Groups[0].Via == nil || a.InDefault || a.RelatedName != "" {
		t.Errorf("fchown in v252: groups %+v, in @default %v, related %q", a.Groups, a.InDefault, a.RelatedName)
	}
	if !slices.ContainsFunc(a.SecurityRows, func(r AnswerRow) bool { return r.Group == "@privileged" }) || len(a.History) == 0 {
		t.Errorf("fchown: security rows %+v, history %+v", a.SecurityRows, a.History)
	}
	// The 16-bit-uid call on i386 has its 32 variant beside it.
	a, err = Lookup("fchown", "i386", tab, "")
	if err != nil || *a.Number != 95 || a.RelatedName != "fchown32" || a.Related[0].Number != 207 {
		t.Errorf("Lookup(fchown, i386) = %+v, %v", a, err)
	}
	// A number with no arch is the host's, and the answer says so.
	if HostArch() != 0 {
		a, err = Lookup("0", "", tab, "")
		if err != nil || !a.ArchAssumed || a.Arch != HostArch().String() {
			t.Errorf("Lookup(0) = %+v, %v", a, err)
		}
	}
	// A name with no arch has no number of its own, and a call in no group has an empty list, not none.
	if a, err = Lookup("fchown", "", tab, ""); err != nil || a.Number != nil || a.Arch != "" {
		t.Errorf("Lookup(fchown) = %+v, %v", a, err)
	}
}

func TestLookupErrors(t *testing.T) {
	tab := Select(Version{Major: 252})
	for _, c := range []struct {
		query, arch   string
		notFound      bool
		message, hint string
	}{
		{"fchwon", "", true, `unknown syscall "fchwon"`, "did you mean fchown, chown, fchmod?"},
		{"5000", "aarch64", true, "no syscall 5000 on aarch64", "pass --arch"},
		{"fchown32", "x86_64", true, "fchown32 is not a syscall on x86_64", "it exists on: i386, arm"},
		{"fchown", "c00000ff", true, "no syscall table for audit arch c00000ff", "known: x86_64, "},
		{"a;b", "", false, `not a syscall name or number: "a;b"`, "give a name"},
		{"fchown", "mips", false, `unknown architecture "mips"`, ""},
	} {
		_, err := Lookup(c.query, c.arch, tab, "")
		var qe *QueryError
		if !errors.As(err, &qe) || qe.NotFound != c.notFound || !strings.Contains(err.Error(), c.message) || !strings.Contains(qe.Hint, c.hint) {
			t.Errorf("Lookup(%q, %q) = %v (%+v); want not found %v, %q, hint %q", c.query, c.arch, err, qe, c.notFound, c.message, c.hint)
		}
	}
}

func TestLookupGroups(t *testing.T) {
	tab := Select(Version{Major: 252})
	if gs, err := LookupGroups(tab, ""); err != nil || len(gs) != len(tab.Groups()) {
		t.Errorf("LookupGroups(all) = %d groups, %v", len(gs), err)
	}
	if gs, err := LookupGroups(tab, "chown"); err != nil || len(gs) != 1 || gs[0].Name != "@chown" {
		t.Errorf("LookupGroups(chown) = %+v, %v", gs, err)
	}
	_, err := LookupGroups(tab, "@nope")
	var qe *QueryError
	if !errors.As(err, &qe) || !qe.NotFound || err.Error() != "systemd v252 has no group @nope" || !strings.HasPrefix(qe.Hint, "groups: @default @") {
		t.Errorf("LookupGroups(@nope) = %v (%+v)", err, qe)
	}
}

func TestClosestNames(t *testing.T) {
	names := []string{"fchown", "chown", "fchmod", "fchownat", "read"}
	if got, want := closestNames("fchwon", names, 3), []string{"fchown", "chown", "fchmod"}; !slices.Equal(got, want) {
		t.Errorf("closestNames(fchwon) = %v, want %v", got, want)
	}
	// A prefix of three bytes or more counts as distance 1.
	if got := closestNames("fcho", []string{"fchownat"}, 3); !slices.Equal(got, []string{"fchownat"}) {
		t.Errorf("closestNames(fcho, [fchownat]) = %v, want the name it starts (distance 4)", got)
	}
	if got := closestNames("fc", []string{"fchownat"}, 3); len(got) != 0 {
		t.Errorf("closestNames(fc, [fchownat]) = %v, want none: a prefix under three bytes is no hint", got)
	}
	if got := closestNames("zzzzzzzz", names, 3); len(got) != 0 {
		t.Errorf("closestNames(zzzzzzzz) = %v, want none", got)
	}
	for _, c := range []struct {
		a, b string
		d    int
	}{{"fchwon", "fchown", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {strings.Repeat("a", 65), "a", 1 << 20}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
