package testbed

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// A Debian 13 root as mmdebstrap --include=systemd,systemd-coredump,dbus makes it (the files the probe reads).
func trixieRoot() fstest.MapFS {
	return fstest.MapFS{
		"usr/lib/systemd/systemd-coredump":                                      {Data: []byte("ELF")},
		"usr/lib/systemd/system/systemd-coredump.socket":                        {Data: []byte("[Socket]\n")},
		"usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-257.9-1~deb13u1.so": {Data: []byte("ELF")},
		"usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2":                         {Data: []byte("ELF")},
		"usr/lib/sysctl.d/50-coredump.conf": {Data: []byte("# comment\nkernel.core_pattern=|/usr/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h %d %F\n" +
			"kernel.core_pipe_limit=16\n")},
		"var/lib/dpkg/status": {Data: []byte("Package: systemd\nStatus: install ok installed\nVersion: 257.9-1~deb13u1\n\n" +
			"Package: systemd-coredump\nStatus: install ok installed\nVersion: 257.9-1~deb13u1\n")},
	}
}

func TestProbeContainer(t *testing.T) {
	ci, err := probeContainer(trixieRoot(), "/var/tmp/sysdiag-trixie.x/root", "/tmp/sysdiag-e2e-bed", "6.18.44-fc-v1300")
	if err != nil {
		t.Fatal(err)
	}
	if !ci.PidFD || ci.HelperVersion != "257.9-1~deb13u1" || ci.LDSO != "/var/tmp/sysdiag-trixie.x/root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ||
		ci.Pattern != "|/run/sysdiag-testbed-coredump-fwd %P %u %g %s %t 9223372036854775808 %h %d %F" || len(ci.Notes) != 0 {
		t.Errorf("%+v", ci)
	}
	w := wrapperScript(ci)
	// The root by the crashing process's /proc/PID/root: the kernel runs the helper in the host's mount
	// namespace, where the root's own path may not exist (a suite run inside another root).
	for _, want := range []string{"R=/proc/$1/root\n", "exec \"$R\"'/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' --inhibit-cache",
		"--library-path \"$R\"'/usr/lib/x86_64-linux-gnu'/systemd:\"$R\"'/usr/lib/x86_64-linux-gnu'",
		"--argv0 /usr/lib/systemd/systemd-coredump \"$R\"'/usr/lib/systemd/systemd-coredump' \"$@\"\n"} {
		if !strings.Contains(w, want) {
			t.Errorf("wrapper lacks %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "3>") || strings.Contains(w, "<&") {
		t.Errorf("the wrapper must leave fd 3 (the pidfd) and stdin alone:\n%s", w)
	}
	t.Log(ci.Describe())

	// An older kernel: said, not refused.
	ci, err = probeContainer(trixieRoot(), "/r", "/tmp/b", "6.1.0-28-amd64")
	if err != nil || ci.PidFD || len(ci.Notes) != 1 || !strings.Contains(ci.Describe(), "dumpable") {
		t.Errorf("6.1: %v %+v", err, ci)
	}
}

func TestProbeContainerRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(fstest.MapFS)
		root string
		dir  string
		want string
	}{
		{"no root", func(fstest.MapFS) {}, "", "/tmp/b", "needs a Root"},
		{"no package", func(m fstest.MapFS) { delete(m, "usr/lib/systemd/systemd-coredump") }, "/r", "/tmp/b", "lacks systemd-coredump"},
		{"no socket", func(m fstest.MapFS) { delete(m, "usr/lib/systemd/system/systemd-coredump.socket") }, "/r", "/tmp/b", "no systemd-coredump.socket"},
		{"too old", func(m fstest.MapFS) {
			m["var/lib/dpkg/status"] = &fstest.MapFile{Data: []byte("Package: systemd-coredump\nVersion: 252.39-1~deb12u1\n")}
		}, "/r", "/tmp/b", "came with 255"},
		{"no loader", func(m fstest.MapFS) { delete(m, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") }, "/r", "/tmp/b", "no dynamic loader"},
		{"another pattern", func(m fstest.MapFS) {
			m["usr/lib/sysctl.d/50-coredump.conf"] = &fstest.MapFile{Data: []byte("kernel.core_pattern=core\n")}
		}, "/r", "/tmp/b", "not systemd-coredump's"},
	} {
		m := trixieRoot()
		c.edit(m)
		_, err := probeContainer(m, c.root, c.dir, "6.18.0")
		if !errors.Is(err, ErrNoContainer) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		r    string
		want bool
	}{{"6.16.0", true}, {"6.18.44-fc-v1300", true}, {"7.0", true}, {"6.15.9", false}, {"6.1.0-28-amd64", false}, {"5.19", false}, {"", false}} {
		if got := kernelAtLeast(c.r, 6, 16); got != c.want {
			t.Errorf("%q: %v", c.r, got)
		}
	}
}
