package testbed

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// A container bed (Options.Container) is a system container as systemd ≥ 255 sees one: the bed's
// systemd (from Root) is PID 1 of its PID namespace in a cgroup named like a unit,
// /testbed.slice/sysdiag-testbed.scope, that carries the xattrs PID 1 writes for Delegate=yes and
// CoredumpReceive=yes (trusted.delegate=1, user.coredump_receive=1; set here from the host, which runs
// no systemd). The kernel's core helper is the root's own systemd-coredump, run with the root's ld.so
// and libraries by a wrapper script in the bed's state directory, with the root's 50-coredump.conf
// arguments. It finds the crashing process in another PID namespace whose leader's unit cgroup is
// delegated and receives cores, and forwards the core into the bed (forward_coredump_to_container in
// src/coredump/coredump.c): the bed's own systemd-coredump writes the entry, with COREDUMP_FORWARDED=1
// and the bed's pid. There is no /run/systemd/coredump link on the host: a failed forward ends there
// (ENOENT) instead of breaking the bed's socket.

// ContainerScope is the bed's unit cgroup under the cgroup2 mount in container mode.
const ContainerScope = Slice + "/sysdiag-testbed.scope"

// ContainerEnv, set to 1, puts a Root bed in container mode for callers whose Options are fixed (the
// e2e suite's TestMain).
const ContainerEnv = "SYSDIAG_TESTBED_CONTAINER"

// ContainerInfo says how a container bed was wired, and what the machine allowed: for the test's log.
type ContainerInfo struct {
	Kernel        string // uname release
	PidFD         bool   // the kernel expands %F (Linux ≥ 6.16): forwarding needs no dumpable process
	HelperVersion string // the root's systemd-coredump package version
	Helper        string // the root's systemd-coredump, as the host sees it
	LDSO, LibDir  string // the root's dynamic loader and library directory
	// the same three inside the root: the wrapper reaches them through /proc/PID/root of the crashing
	// process, which names the bed's root from whatever mount namespace the kernel runs it in
	relHelper, relLDSO, relLib string
	Wrapper                    string // the core helper script in the bed's state directory
	Pattern                    string // kernel.core_pattern while the bed runs
	Cgroup                     string // the bed's unit cgroup on the host (under the cgroup2 mount)
	Notes                      []string
}

// Describe is the wiring in a few lines.
func (c *ContainerInfo) Describe() string {
	if c == nil {
		return "not a container bed"
	}
	pid := "yes (%F: the kernel hands the helper a pidfd; forwarding does not depend on the process being dumpable)"
	if !c.PidFD {
		pid = "no (kernel < 6.16: %F expands to nothing; systemd ≥ 257.6 forwards only dumpable processes, %d=1)"
	}
	s := fmt.Sprintf("container bed: kernel %s, pidfd %s\n  core helper: the root's systemd-coredump %s (%s), by %s\n  core_pattern %q\n  unit cgroup %s with trusted.delegate=1 user.coredump_receive=1",
		c.Kernel, pid, c.HelperVersion, c.Helper, c.Wrapper, c.Pattern, c.Cgroup)
	for _, n := range c.Notes {
		s += "\n  note: " + n
	}
	return s
}

// ErrNoContainer says why this machine or root cannot host a container bed.
var ErrNoContainer = errors.New("testbed: no container bed here")

// probeContainer reads what a container bed needs from root (the host path of the bed's root, as fs.FS
// rootFS) and the kernel release; dir is the bed's state directory on the host.
func probeContainer(rootFS fs.FS, root, dir, kernel string) (ContainerInfo, error) {
	ci := ContainerInfo{Kernel: kernel, PidFD: kernelAtLeast(kernel, 6, 16)}
	if root == "" {
		return ci, fmt.Errorf("%w: it needs a Root whose systemd-coredump (≥ 255) forwards cores into containers; the host's own systemd cannot be the container's", ErrNoContainer)
	}
	if _, err := fs.Stat(rootFS, "usr/lib/systemd/systemd-coredump"); err != nil {
		return ci, fmt.Errorf("%w: the root lacks systemd-coredump (install the package in the root: scripts/test.sh's mmdebstrap --include): %v", ErrNoContainer, err)
	}
	if _, err := fs.Stat(rootFS, "usr/lib/systemd/system/systemd-coredump.socket"); err != nil {
		return ci, fmt.Errorf("%w: the root has no systemd-coredump.socket: %v", ErrNoContainer, err)
	}
	ci.Helper = filepath.Join(root, "usr/lib/systemd/systemd-coredump")
	status, _ := fs.ReadFile(rootFS, "var/lib/dpkg/status")
	ci.HelperVersion = dpkgVersion(string(status), "systemd-coredump")
	if major := leadingInt(ci.HelperVersion); major != 0 && major < 255 {
		return ci, fmt.Errorf("%w: the root's systemd-coredump is %s: forwarding into containers came with 255", ErrNoContainer, ci.HelperVersion)
	}
	conf, err := fs.ReadFile(rootFS, "usr/lib/sysctl.d/50-coredump.conf")
	if err != nil {
		return ci, fmt.Errorf("%w: the root's systemd-coredump sysctl.d file: %v", ErrNoContainer, err)
	}
	args, err := patternArgs(string(conf))
	if err != nil {
		return ci, fmt.Errorf("%w: %v", ErrNoContainer, err)
	}
	libs, _ := fs.Glob(rootFS, "usr/lib/*/systemd/libsystemd-shared-*.so")
	if len(libs) == 0 {
		return ci, fmt.Errorf("%w: no libsystemd-shared in the root's usr/lib/*/systemd", ErrNoContainer)
	}
	lib := path.Dir(path.Dir(libs[0]))
	lds, _ := fs.Glob(rootFS, lib+"/ld-linux*.so.*")
	if len(lds) == 0 {
		return ci, fmt.Errorf("%w: no dynamic loader in the root's %s", ErrNoContainer, lib)
	}
	ci.LibDir, ci.LDSO = filepath.Join(root, lib), filepath.Join(root, lds[0])
	ci.relHelper, ci.relLDSO, ci.relLib = "/usr/lib/systemd/systemd-coredump", "/"+lds[0], "/"+lib
	if !strings.HasPrefix(args, "%P ") {
		return ci, fmt.Errorf("%w: the root's core pattern %q does not start with %%P, the crashing process's pid the wrapper finds the root by", ErrNoContainer, args)
	}
	// Under the host's /run: the kernel runs the helper in the host's mount namespace, where a suite run
	// inside another root (scripts/fresh-root.sh binds the host's /run into it) has no other shared path.
	ci.Wrapper = "/run/sysdiag-testbed-coredump-fwd"
	ci.Pattern = "|" + ci.Wrapper + " " + args
	if len(ci.Pattern) > 127 {
		return ci, fmt.Errorf("%w: the core pattern %q is %d bytes, the kernel keeps 127: use a shorter state directory", ErrNoContainer, ci.Pattern, len(ci.Pattern))
	}
	if !strings.Contains(args, "%F") {
		ci.Notes = append(ci.Notes, "the root's pattern has no %F (systemd < 257.6): the helper forwards without a pidfd")
	} else if !ci.PidFD {
		ci.Notes = append(ci.Notes, "this kernel does not expand %F: only dumpable processes (%d=1: units running as root) are forwarded")
	}
	return ci, nil
}

// wrapperScript runs the root's systemd-coredump with the root's loader and libraries (the host's
// ld.so.cache inhibited), keeping fd 3 (the kernel's pidfd for %F) and stdin (the core).
func wrapperScript(ci ContainerInfo) string {
	return fmt.Sprintf(`#!/bin/sh
# The kernel's core helper for a sysdiag container test bed (written by internal/testbed): the root's own
# systemd-coredump, which forwards a core of the bed's processes into the bed.
# $1 is %%P, the crashing process's pid (in the bed): /proc/$1/root is the bed's root, seen from here.
R=/proc/$1/root
exec "$R"%s --inhibit-cache --library-path "$R"%s/systemd:"$R"%s --argv0 /usr/lib/systemd/systemd-coredump "$R"%s "$@"
`, shq(ci.relLDSO), shq(ci.relLib), shq(ci.relLib), shq(ci.relHelper))
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// patternArgs are the arguments of the kernel.core_pattern line of a 50-coredump.conf: the pipe's
// program dropped ("|/usr/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h %d %F").
func patternArgs(conf string) (string, error) {
	p := ""
	for _, l := range strings.Split(conf, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "kernel.core_pattern" {
			p = strings.TrimSpace(v)
		}
	}
	f := strings.Fields(p)
	if len(f) < 7 || !strings.HasPrefix(f[0], "|") || f[1] != "%P" {
		return "", fmt.Errorf("the root's kernel.core_pattern %q is not systemd-coredump's", p)
	}
	return strings.Join(f[1:], " "), nil
}

// dpkgVersion is a package's Version in a dpkg status file ("" when absent).
func dpkgVersion(status, pkg string) string {
	for _, para := range strings.Split(status, "\n\n") {
		var name, version string
		for _, l := range strings.Split(para, "\n") {
			if v, ok := strings.CutPrefix(l, "Package: "); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "Version: "); ok {
				version = strings.TrimSpace(v)
			}
		}
		if name == pkg {
			return version
		}
	}
	return ""
}

func leadingInt(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n
}

// kernelAtLeast compares a release ("6.18.44-fc-v1300") with major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	a, b, _ := strings.Cut(release, ".")
	ma, mi := leadingInt(a), leadingInt(b)
	return ma > major || ma == major && mi >= minor
}

func unameRelease() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return ""
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// containerXattrs are what systemd's PID 1 writes on a unit's cgroup for Delegate=yes and
// CoredumpReceive=yes (src/core/cgroup.c), and what systemd-coredump reads (cg_is_delegated,
// cg_has_coredump_receive).
var containerXattrs = []string{"trusted.delegate", "user.coredump_receive"}

// wireContainer makes the bed's unit cgroup and sets its xattrs, the wrapper and the core pattern.
func (b *Bed) wireContainer(ci *ContainerInfo) error {
	cg, err := cgroup2Mount()
	if err != nil {
		return err
	}
	ci.Cgroup = filepath.Join(cg, ContainerScope)
	if err := os.MkdirAll(ci.Cgroup, 0o755); err != nil {
		return fmt.Errorf("testbed: the bed's unit cgroup: %w", err)
	}
	for _, x := range containerXattrs {
		if err := syscall.Setxattr(ci.Cgroup, x, []byte("1"), 0); err != nil {
			return fmt.Errorf("%w: setting %s on %s (cgroup2 takes user.* xattrs from Linux 5.7 on): %v", ErrNoContainer, x, ci.Cgroup, err)
		}
	}
	if err := os.WriteFile(ci.Wrapper, []byte(wrapperScript(*ci)), 0o755); err != nil {
		return err
	}
	b.files = append(b.files, ci.Wrapper)
	if b.corePattern, err = setCorePattern(ci.Pattern); err != nil {
		return err
	}
	if b.pipeLimit, err = setSysctl("/proc/sys/kernel/core_pipe_limit", "16"); err != nil {
		return err
	}
	// A link left by a bed of the host's systemd would take the helper's fallback to the bed's socket
	// from outside its PID namespace, which 257 refuses by failing the socket.
	if l, err := os.Readlink("/run/systemd/coredump"); err == nil && strings.HasPrefix(l, "/proc/") {
		_ = os.Remove("/run/systemd/coredump")
	}
	return nil
}

// unwireContainer drops the xattrs (the cgroup itself goes with the slice).
func (b *Bed) unwireContainer() {
	if b.container == nil || b.container.Cgroup == "" {
		return
	}
	for _, x := range containerXattrs {
		_ = syscall.Removexattr(b.container.Cgroup, x)
	}
}

// Container says how a container bed was wired; nil for another bed.
func (b *Bed) Container() *ContainerInfo { return b.container }

// ContainerReady reports whether the bed's own systemd-coredump.socket is listening (the forwarded
// cores' way in).
func (b *Bed) ContainerReady() error {
	s, err := b.Systemctl("is-active", "systemd-coredump.socket")
	if s != "active" {
		return fmt.Errorf("the bed's systemd-coredump.socket is %q: %v", s, err)
	}
	return nil
}
