package syscalls

import "testing"

// FuzzParseQuery: no panic; on error nothing half-filled; a parsed name looks up without panicking.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"fchown", "93", "0x5d", "", "0x", "-1", "a;b", "FCHOWN", "9999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			if q != (Query{}) {
				t.Fatalf("error %v with a half-filled %+v", err, q)
			}
			return
		}
		if q.IsNumber == (q.Name != "") {
			t.Fatalf("%q: both or neither of name and number: %+v", s, q)
		}
		if q.IsNumber {
			Name(ArchX86_64, q.Number)
		} else {
			Numbers(q.Name)
		}
	})
}

func FuzzParseArchVersion(f *testing.F) {
	for _, s := range []string{"x86_64", "c000003e", "0xc000003e", "252.38-1~deb12u1", "systemd 252 (252.38)", "("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := ParseArch(s); err != nil && a != 0 {
			t.Fatalf("ParseArch error with value %v", a)
		}
		v, err := ParseVersion(s)
		if err != nil {
			if v != (Version{}) {
				t.Fatalf("ParseVersion error with %+v", v)
			}
			return
		}
		Select(v).Note()
	})
}
