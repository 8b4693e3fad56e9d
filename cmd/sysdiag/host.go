package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/syscalls"
)

// localSystemdVersion asks the installed systemctl for its version ("systemd 252 (252.38-1~deb12u1)").
// ok is false when there is no systemctl or its answer is not a version.
func localSystemdVersion() (syscalls.Version, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", "--version").Output()
	if err != nil {
		return syscalls.Version{}, false
	}
	first, _, _ := strings.Cut(string(out), "\n")
	v, err := syscalls.ParseVersion(first)
	if err != nil {
		return syscalls.Version{}, false
	}
	return v, true
}

// systemdTable picks the group table for --systemd-version, or for the local systemd when the flag is
// empty, or the newest table when there is no local systemd. note says which table answered and why.
func systemdTable(flag string) (t syscalls.Table, note string, err error) {
	if flag != "" {
		v, err := syscalls.ParseVersion(flag)
		if err != nil {
			return syscalls.Table{}, "", usageErr(err, "pass the version `systemctl --version` prints on the target, e.g. --systemd-version 252.38")
		}
		t = syscalls.Select(v)
		return t, t.Note(), nil
	}
	if v, ok := localSystemdVersion(); ok {
		t = syscalls.Select(v)
		return t, "local " + t.Note(), nil
	}
	t = syscalls.Latest()
	t.Requested = syscalls.Version{Major: t.Version().Major, Point: t.Version().Point}
	return t, "no local systemd found; using the newest table, v" + t.Label() + " (pass --systemd-version)", nil
}

// initialPIDNamespace reports whether sysdiag runs in the kernel's initial PID namespace, whose pids the
// audit records name (its /proc/self/ns/pid is always inode PROC_PID_INIT_INO, 0xEFFFFFFC). In a
// container the local journal's and the manager's pids are the container's own. Unknown counts as yes.
func initialPIDNamespace() bool {
	l, err := os.Readlink("/proc/self/ns/pid")
	return err != nil || l == "pid:[4026531836]"
}

// rootSystemdVersion reads the systemd version of a copied tree: its dpkg status (Debian, Ubuntu: the
// exact package version), else the major version in the name of its libsystemd-shared-NNN.so.
func rootSystemdVersion(root string) (syscalls.Version, string, bool) {
	if raw, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status")); err == nil {
		for _, stanza := range strings.Split(string(raw), "\n\n") {
			if !strings.HasPrefix(stanza, "Package: systemd\n") {
				continue
			}
			for _, l := range strings.Split(stanza, "\n") {
				if v, ok := strings.CutPrefix(l, "Version: "); ok {
					if ver, err := syscalls.ParseVersion(strings.TrimSpace(v)); err == nil {
						return ver, "var/lib/dpkg/status", true
					}
				}
			}
		}
	}
	for _, dir := range []string{"usr/lib/systemd", "lib/systemd", "usr/lib/x86_64-linux-gnu/systemd", "usr/lib64/systemd"} {
		matches, _ := filepath.Glob(filepath.Join(root, dir, "libsystemd-shared-*.so"))
		for _, m := range matches {
			n := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "libsystemd-shared-"), ".so")
			if ver, err := syscalls.ParseVersion(n); err == nil {
				return ver, filepath.Join(dir, filepath.Base(m)), true
			}
		}
	}
	return syscalls.Version{}, "", false
}
