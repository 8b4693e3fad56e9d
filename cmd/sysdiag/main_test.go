package main

import (
	"bytes"
	"flag"
	"fmt"
	"github.com/sysdiag/sysdiag/internal/dist"
	"github.com/sysdiag/sysdiag/internal/render"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sysdiag/sysdiag/syscalls"
)

var update = flag.Bool("update", false, "rewrite the testdata/script golden sections")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sysdiag": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts in testdata/script: the CLI end to end on offline inputs, exact
// stdout and stderr, exit codes.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Cmds:          map[string]func(ts *testscript.TestScript, neg bool, args []string){"gen": genCmd, "exits": exitsCmd},
		// [cgo] and [!cgo]: what a build without cgo answers differs (no libseccomp verification).
		Condition: func(cond string) (bool, error) {
			if cond == "cgo" {
				return cgoOn, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			// $BINDIR holds only the sysdiag test binary: `env PATH=$BINDIR` hides systemctl.
			path := env.Getenv("PATH")
			bindir, _, _ := strings.Cut(path, string(os.PathListSeparator))
			env.Setenv("BINDIR", bindir)
			// $EXAMPLE is the bundled real capture (testdata/example): a unit tree and its journal export.
			ex, err := filepath.Abs("../../testdata/example")
			if err != nil {
				return err
			}
			env.Setenv("EXAMPLE", ex)
			// $FLEET: two real test beds (systemd 252 and 257, one hostname) as a journal-remote server
			// holds them, with copies of their unit trees (testdata/fleet).
			fl, err := filepath.Abs("../../testdata/fleet")
			if err != nil {
				return err
			}
			env.Setenv("FLEET", fl)
			fx, err := filepath.Abs("../../audit/testdata")
			if err != nil {
				return err
			}
			env.Setenv("AUDITDATA", fx)
			return nil
		},
	})
}

// TestGroupsMatchLocalSystemdAnalyze compares the table sysdiag picks for the local systemd with what
// that systemd's own `systemd-analyze syscall-filter` prints, group by group, line by line.
func TestGroupsMatchLocalSystemdAnalyze(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze on this machine: nothing to compare with")
	}
	v, ok := tables.LocalVersion()
	if !ok {
		t.Fatal("systemd-analyze is installed but `systemctl --version` gave no version")
	}
	// The nearest table is what a user of this systemd gets. A point release without its own table
	// (Ubuntu's 255.4, say) may carry backports: differences are reported as such, not as failures.
	tab := syscalls.Select(v)
	exact := tab.Exact()
	report := t.Errorf
	if !exact {
		report = t.Logf
		t.Logf("no exact table for the local systemd %s (%s): comparing with the nearest, v%s; a difference is a backport to table (syscalls/data/systemd-groups)", v, tab.Note(), tab.Label())
	}
	differ := 0
	out, err := exec.Command("systemd-analyze", "syscall-filter", "--no-pager").Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter: %v", err)
	}
	local := splitGroups(string(out))
	var buf bytes.Buffer
	if err := render.SyscallFilter(&buf, tab.Groups()); err != nil {
		t.Fatal(err)
	}
	ours := splitGroups(buf.String())
	if len(local) != len(ours) {
		differ++
		report("local systemd-analyze has %d groups, table v%s has %d", len(local), tab.Label(), len(ours))
	}
	for name, want := range local {
		if got := ours[name]; got != want {
			differ++
			report("group %s differs from systemd-analyze (%s):\n--- systemd-analyze\n%s\n--- sysdiag\n%s", name, v, want, got)
		}
	}
	if differ == 0 {
		t.Logf("local systemd %s: %d groups identical to table v%s", v, len(local), tab.Label())
	} else if !exact {
		t.Logf("local systemd %s: %d differences from the nearest table v%s (backports; not a failure without an exact table)", v, differ, tab.Label())
	}
}

// splitGroups cuts systemd-analyze syscall-filter output into groups keyed by name, leaving out the
// computed "# Ungrouped"/"# Unlisted" trailers.
func splitGroups(s string) map[string]string {
	out := map[string]string{}
	for _, block := range strings.Split(s, "\n\n") {
		block = strings.Trim(block, "\n")
		if !strings.HasPrefix(block, "@") {
			continue
		}
		name, _, _ := strings.Cut(block, "\n")
		out[name] = block
	}
	return out
}

// The checked-in man pages (internal/dist/man, packaged by scripts/package.sh) are what the commands
// say: regenerated here and compared; -update rewrites them.
func TestManPagesCurrent(t *testing.T) {
	want := "../../internal/dist/man"
	changelog, err := os.ReadFile("../../internal/dist/changelog")
	if err != nil {
		t.Fatal(err)
	}
	date, err := dist.ManDate(changelog)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if *update {
		dir = want
		old, _ := filepath.Glob(filepath.Join(want, "*.8"))
		for _, p := range old {
			os.Remove(p)
		}
	}
	if err := dist.Man(newRootCmd(io.Discard, io.Discard), dir, date, exitCodesHelp); err != nil {
		t.Fatal(err)
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*.8"))
	have, _ := filepath.Glob(filepath.Join(want, "*.8"))
	if len(got) != len(have) {
		t.Fatalf("%d pages generated, %d checked in: go test ./cmd/sysdiag -run TestManPagesCurrent -update", len(got), len(have))
	}
	for _, p := range got {
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(want, filepath.Base(p)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s is not current: go test ./cmd/sysdiag -run TestManPagesCurrent -update", filepath.Base(p))
		}
	}
}
