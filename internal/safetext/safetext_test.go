package safetext

import "testing"

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"probe":             "probe",
		"/opt/my app/probe": "/opt/my app/probe",
		"naïve":             "naïve",
		"evil\x1b[2Jname":   `evil\x1b[2Jname`,
		"a\nb\tc\x7f":       `a\x0ab\x09c\x7f`,
		"bad\xffutf8":       `bad\xffutf8`,
		"c1\u009bcsi":       `c1\u{009b}csi`,
		"rtl\u202eexe.sh":   `rtl\u{202e}exe.sh`,
		"":                  "",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}
