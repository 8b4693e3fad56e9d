package unitfile_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// tree writes files (path → content; content "->TARGET" makes a symbolic link) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(c, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The lookup of a --root tree against systemd's own offline loader: `systemd-analyze --offline=true
// --root=DIR security UNIT` loads the unit with systemd's search path, drop-in and priority rules and
// shows, per group, whether the filter denies it all. sysdiag's Find + ReadAll + filter model must show
// the same rows for a unit with a control-directory drop-in and a dash-prefix drop-in, a template
// instance with the template's and its own drop-ins, and a unit whose file and drop-in exist in two
// directories. Where the two differ by design, sysdiag's answer is checked by itself (oracle ""): the
// offline loader of 252 and 257 (measured) searches no transient or generator directory under --root
// ("Unit tr.service not found": they are a running manager's, and a copy of a host's /run holds what its
// manager loaded), and follows an absolute link on the machine it runs on ("Failed to open
// DIR/etc/systemd/system/linked.service" when only the tree has the target): in a copy of another
// host, the link names that host's file, so sysdiag resolves it inside the tree, and a relative link
// climbing out of the tree stops at its top.
func TestLookupAgainstSystemdAnalyzeOffline(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("not run: no systemd-analyze on this machine (the oracle; setup.sh installs systemd)")
	}
	out, err := exec.Command(sa, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	v, err := syscalls.ParseVersion(strings.Fields(first)[1])
	if err != nil {
		t.Fatalf("systemd-analyze --version: %q: %v", first, err)
	}
	table := syscalls.Select(v)
	svc := func(filter string) string { return "[Service]\nExecStart=/bin/true\nSystemCallFilter=" + filter + "\n" }
	conf := func(filter string) string { return "[Service]\nSystemCallFilter=" + filter + "\n" }
	dir := tree(t, map[string]string{
		"usr/lib/systemd/system/foo-bar.service":                     svc("~@swap"),
		"etc/systemd/system/foo-.service.d/a.conf":                   conf("~@clock"),
		"etc/systemd/system.control/foo-bar.service.d/b.conf":        conf("~@reboot"),
		"run/systemd/transient/tr.service":                           svc("~@module"),
		"run/systemd/generator.late/gen.service":                     svc("~@mount"),
		"run/systemd/generator/gen.service.d/x.conf":                 conf("~@debug"),
		"usr/lib/systemd/system/getty@.service":                      svc("~@raw-io"),
		"etc/systemd/system/getty@tty1.service.d/c.conf":             conf("~@cpu-emulation"),
		"etc/systemd/system/getty@.service.d/d.conf":                 conf("~@obsolete"),
		"etc/systemd/system/linked.service":                          "->/opt/units/linked.service",
		"opt/units/linked.service":                                   svc("~@privileged"),
		"etc/systemd/system/rel.service":                             "->../../../../../../opt/units/rel.service",
		"opt/units/rel.service":                                      svc("~@resources"),
		"usr/lib/systemd/system/over.service":                        svc("~@swap"),
		"etc/systemd/system/over.service":                            svc("~@clock"), // a higher directory's file wins
		"usr/lib/systemd/system/over.service.d/o.conf":               conf("~@debug"),
		"etc/systemd/system/over.service.d/o.conf":                   conf("~@mount"), // masks the lower o.conf
		"usr/lib/systemd/system/service.d/all.conf":                  conf("~@cpu-emulation"),
		"usr/lib/systemd/system/generated-too.service.d/nothing.txt": "not a .conf",
	})
	for _, c := range []struct{ unit, own string }{
		{"foo-bar.service", "oracle"}, {"getty@tty1.service", "oracle"}, {"over.service", "oracle"},
		// (service.d/all.conf adds ~@cpu-emulation to each; @privileged holds @clock @module @raw-io @reboot @swap)
		{"tr.service", "module cpu-emulation"}, {"gen.service", "debug mount cpu-emulation"},
		{"linked.service", "privileged clock module raw-io reboot swap cpu-emulation"}, {"rel.service", "resources cpu-emulation"},
	} {
		unit := c.unit
		t.Run(unit, func(t *testing.T) {
			var want []string
			if c.own != "oracle" {
				for _, g := range strings.Fields(c.own) {
					want = append(want, "@"+g)
				}
			} else {
				out, err := exec.Command(sa, "--offline=true", "--root="+dir, "security", unit, "--json=short", "--no-pager").Output()
				var ee *exec.ExitError
				if err != nil && !errors.As(err, &ee) {
					t.Fatal(err)
				}
				var rows []struct {
					Name string `json:"name"`
					Set  bool   `json:"set"`
				}
				if err := json.Unmarshal(out, &rows); err != nil {
					t.Fatalf("systemd-analyze security %s: %v\n%s", unit, err, out)
				}
				for _, r := range rows {
					if g, ok := strings.CutPrefix(r.Name, "SystemCallFilter=~"); ok && r.Set {
						want = append(want, g)
					}
				}
				if len(want) == 0 {
					t.Fatalf("systemd-analyze shows no denied group for %s:\n%s", unit, out)
				}
			}
			root, err := unitfile.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			frag, dropins, err := unitfile.Find(root, unit, false, "/root")
			if err != nil {
				t.Fatalf("Find: %v (systemd-analyze found it: %v)", err, want)
			}
			as, err := unitfile.ReadAll(root, append([]string{frag}, dropins...))
			if err != nil {
				t.Fatal(err)
			}
			f := fixes.Build(table, as, nil)
			var got []string
			for _, r := range syscalls.SecurityRows() {
				if f.SecurityRowSet(r.Group) {
					got = append(got, r.Group)
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("denied groups: sysdiag %v, systemd-analyze %v (files %s %v)", got, want, frag, dropins)
			}
		})
	}
}
