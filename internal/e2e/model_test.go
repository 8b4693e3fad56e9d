package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// The filter model must expand a unit's SystemCallFilter= exactly as systemd does: the model's names
// equal `systemctl show -p SystemCallFilter`, name for name, for allow, deny, mixed, reset and errno units
// (with drop-ins). No unit is started: systemd reports the parsed filter of a loaded unit.
func TestFilterModelMatchesSystemd(t *testing.T) {
	need(t)
	defer timed(t)()
	ver, err := bed.Systemctl("show", "--value", "-p", "Version")
	if err != nil {
		t.Fatal(err)
	}
	v, err := syscalls.ParseVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	table := syscalls.Select(v)
	cases := []struct {
		name   string
		lines  string
		dropin string
	}{
		{"allow", "SystemCallFilter=@system-service\n", ""},
		{"deny", "SystemCallFilter=~@mount @swap @reboot\n", ""},
		{"mixed", "SystemCallFilter=@system-service\nSystemCallFilter=~@chown @resources\nSystemCallFilter=fchown\n", ""},
		{"reset", "SystemCallFilter=~@debug\nSystemCallFilter=\nSystemCallFilter=@basic-io @file-system\n", ""},
		{"errno", "SystemCallFilter=~@privileged:EPERM @obsolete:kill\nSystemCallErrorNumber=EACCES\n", ""},
		{"allow-errno", "SystemCallFilter=@system-service\nSystemCallFilter=~@chown:EPERM mount:EACCES\n", ""},
		{"dropin", "SystemCallFilter=@system-service\nSystemCallFilter=~@network-io\n", "[Service]\nSystemCallFilter=socket bind\n"},
		{"continued", "SystemCallFilter=@basic-io \\\n  @io-event @timer\n", ""},
	}
	for _, c := range cases {
		unit := "sysdiag-e2e-model-" + c.name + ".service"
		path := filepath.Join(unitDir, unit)
		body := "[Service]\nExecStart=/bin/true\n" + c.lines
		if err := bed.WriteFile(path, body); err != nil {
			t.Fatal(err)
		}
		files := []string{path}
		if c.dropin != "" {
			dp := filepath.Join(unitDir, unit+".d", "10-extra.conf")
			if err := bed.WriteFile(dp, c.dropin); err != nil {
				t.Fatal(err)
			}
			files = append(files, dp)
		}
		reload(t, false)
		out, err := bed.Systemctl("show", "--value", "-p", "SystemCallFilter", unit)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Fields(out)
		if len(want) > 0 {
			want[0] = strings.TrimPrefix(want[0], "~") // systemctl prints a deny list with a leading "~"
		}
		as, err := unitfile.ReadAll(os.DirFS("/"), files)
		if err != nil {
			t.Fatal(err)
		}
		got := fixes.Build(table, as, fixes.LibseccompKnows).Names()
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: model and systemd differ\nonly in model:   %v\nonly in systemd: %v", c.name, diff(got, want), diff(want, got))
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
