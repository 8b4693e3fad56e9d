package unit

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sysdiag/sysdiag/journal"
)

func TestParseRoots(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"a", "b", "rt=eq"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, b, eq := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "rt=eq")
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	r, err := ParseRoots([]string{a, "web1=" + b, "4f2a9c=" + eq})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    journal.Host
		want string
	}{
		{journal.Host{}, a},
		{journal.Host{Hostname: "web1"}, b},
		{journal.Host{Hostname: "web1", MachineID: "4f2a9c"}, eq}, // the machine id first: hostnames repeat
		{journal.Host{Hostname: "web1", MachineID: "0000"}, b},
		{journal.Host{Hostname: "web2"}, a},
	} {
		if got := r.For(c.h); got != c.want {
			t.Errorf("For(%+v) = %q, want %q", c.h, got, c.want)
		}
	}
	if _, err := r.Only(); KindOf(err) != BadInput {
		t.Errorf("Only of three: %v, want bad input", err)
	}

	// "/x/rt=eq" is a directory with "=" in its name; "rt=eq" too, when it is one.
	r, err = ParseRoots([]string{eq})
	if err != nil || r[""] != eq {
		t.Errorf("%s: %v %v, want the directory for every host", eq, r, err)
	}
	t.Chdir(base)
	r, err = ParseRoots([]string{"rt=eq"})
	if err != nil || r[""] != "rt=eq" {
		t.Errorf("rt=eq (a directory): %v %v, want the directory for every host", r, err)
	}
	if only, err := (Roots{"web1": b}).Only(); err != nil || only != b {
		t.Errorf("Only of HOST=DIR: %q %v, want %q", only, err, b)
	}
	if r, err := ParseRoots(nil); err != nil || r != nil || r.For(journal.Host{Hostname: "x"}) != "" {
		t.Errorf("no --root: %v %v", r, err)
	}

	for _, c := range []struct {
		vals []string
		msg  string
	}{
		{[]string{file}, "not a directory (a regular file)"},
		{[]string{fifo}, "not a directory (a named pipe"},
		{[]string{filepath.Join(base, "missing")}, "not a directory: "},
		{[]string{"web1=" + file}, "not a directory"},
		{[]string{"web1="}, "no directory"},
		{[]string{""}, "no directory"},
		{[]string{a, b}, `"" given twice`},
		{[]string{"web1=" + a, "web1=" + b}, `"web1" given twice`},
	} {
		_, err := ParseRoots(c.vals)
		if KindOf(err) != BadInput || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseRoots(%q): %v, want bad input saying %q", c.vals, err, c.msg)
		}
	}
}

func TestParseVersions(t *testing.T) {
	v, err := ParseVersions([]string{"255.4-1ubuntu8", "web1=252.39", "4f2a9c=257"})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[journal.Host]string{
		{}:                                      "255.4-1ubuntu8",
		{Hostname: "web1"}:                      "252.39",
		{Hostname: "web1", MachineID: "4f2a9c"}: "257",
		{Hostname: "db1", MachineID: "ffff"}:    "255.4-1ubuntu8",
		{Hostname: "web1", MachineID: "deadbeef"}: "252.39",
	} {
		if got := v.For(h); got != want {
			t.Errorf("For(%+v) = %q, want %q", h, got, want)
		}
	}
	if only, err := (Versions{"web1": "252"}).Only(); err != nil || only != "252" {
		t.Errorf("Only of HOST=V: %q %v", only, err)
	}
	if _, err := v.Only(); KindOf(err) != BadInput {
		t.Errorf("Only of three: %v, want bad input", err)
	}
	if v, err := ParseVersions(nil); err != nil || v != nil || v.For(journal.Host{}) != "" {
		t.Errorf("no flag: %v %v", v, err)
	}
	for _, c := range []struct {
		vals []string
		msg  string
	}{
		{[]string{"latest"}, `not a systemd version: "latest"`},
		{[]string{"web1=latest"}, `--systemd-version for web1: not a systemd version: "latest"`},
		{[]string{"=252"}, "no host"},
		{[]string{"web1="}, "not a systemd version"},
		{[]string{"252", "257"}, `"" given twice`},
	} {
		_, err := ParseVersions(c.vals)
		if KindOf(err) != BadInput || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseVersions(%q): %v, want bad input saying %q", c.vals, err, c.msg)
		}
	}
}
