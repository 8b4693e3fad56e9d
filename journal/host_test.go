package journal

import (
	"strings"
	"testing"
)

func TestParseManagerStart(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		// as systemd 252 (Debian 12) and 257 (Debian 13) log them at start-up, features cut
		{"systemd 252.39-1~deb12u2 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR +IMA +SMACK +SECCOMP)", "252.39-1~deb12u2"},
		{"systemd 257.13-1~deb13u1 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR +IMA +IPE +SMACK)", "257.13-1~deb13u1"},
		{"systemd 252.39-1~deb12u2 running in user mode for user 1000/u. (+PAM +AUDIT)", ""},
		{"systemd-journald.service: Deactivated successfully.", ""},
		{"systemd " + strings.Repeat("9", 5000) + " running in system mode", ""},
	} {
		m, err := ParseManagerStart(Fields{"MESSAGE": c.msg, "_HOSTNAME": "h", "_MACHINE_ID": "m", "__REALTIME_TIMESTAMP": "1764680000000000", "SYSLOG_PID": "1", "_TRANSPORT": "kernel"})
		if c.want == "" {
			if err == nil {
				t.Errorf("%q: parsed as %+v", c.msg, m)
			}
			continue
		}
		if err != nil || m.Version != c.want || m.Host != (Host{"h", "m"}) || m.Time.IsZero() {
			t.Errorf("%q: %+v %v", c.msg, m, err)
		}
	}
	if _, err := ParseManagerStart(Fields{"MESSAGE": "systemd 252.39-1 running in system mode (+PAM)", "SYSLOG_PID": "812"}); err == nil {
		t.Error("not pid 1's line")
	}
}

func TestHostCompatible(t *testing.T) {
	a, b := Host{"web", "m1"}, Host{"web", "m2"}
	for _, c := range []struct {
		x, y Host
		want bool
	}{
		{a, a, true},
		{a, b, false},                 // one hostname, two machines (cloned images, test beds)
		{a, Host{"web", ""}, true},    // audit's node= knows the name only
		{a, Host{"other", ""}, false}, // another name
		{a, Host{}, true},             // evidence without a host: the only one, or unknown
		{Host{"", "m1"}, a, true},     // same machine id
		{Host{"x", ""}, Host{"x", ""}, true},
	} {
		if got := c.x.Compatible(c.y); got != c.want || c.y.Compatible(c.x) != c.want {
			t.Errorf("%+v ~ %+v = %v, want %v (both ways)", c.x, c.y, got, c.want)
		}
	}
}

func TestSourceDirs(t *testing.T) {
	if s := (Source{}); !s.Local() || s.String() != "the local journal" {
		t.Errorf("zero source: %v %q", s.Local(), s)
	}
	s := Source{Dirs: []string{"/a", "/b"}}
	if s.Local() || s.String() != "journal directories /a, /b" {
		t.Errorf("%q", s)
	}
	if _, err := journalFiles(t.TempDir() + "/missing"); err == nil {
		t.Error("a missing directory must fail")
	}
}
