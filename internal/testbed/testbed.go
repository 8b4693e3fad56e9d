// Package testbed runs a real systemd (the machine's own /lib/systemd/systemd) as PID 1 of a new PID+mount
// namespace on the shared host root, for end-to-end tests on a machine whose PID 1 is not systemd.
//
// The manager boots a minimal target — journald with its audit socket and kmsg reader,
// systemd-coredump.socket and dbus.socket — so none of the machine's own services start. Units are
// written to /etc/systemd/system (shared), and the kernel's core-pattern helper, which runs in the root
// namespaces, reaches the namespace's systemd-coredump.socket through a /run/systemd/coredump symlink.
// The persistent journal lands in /var/log/journal/MACHINE-ID, so the host reads it as the local journal.
//
// Guards (each one was needed): tmpfiles' "D /tmp" is masked (it would wipe the host's /tmp); /proc/sys
// and /sys are read-only (the manager would rewrite host sysctls and start udevd); journald's /dev/log
// and /dev/initctl symlinks on the shared /dev are removed on Stop.
//
// Start needs root, and refuses a host that systemd booted (CheckHost): there the bed would take over
// the host's core pattern, /run/systemd/coredump, /dev/log and audit state from the running services.
// Everything the bed creates or changes is undone by Stop — the core pattern and the audit "enabled" state
// are put back as they were — also after a failed test.
package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Slice is the host cgroup the manager lives in; cgroup paths inside carry it as a prefix.
const Slice = "testbed.slice"

const target = "sysdiag-testbed.target"

// Bed is a running test-bed manager.
type Bed struct {
	Dir         string // state directory
	NSPid       int    // host pid of the namespace's PID 1 (systemd)
	unshare     *exec.Cmd
	files       []string // unit files and drop-in dirs to remove on Stop
	auditdPID   int
	corePattern string // the host's kernel.core_pattern before Start, put back by Stop ("" = untouched)
	pipeLimit   string // the host's kernel.core_pipe_limit before Start, put back by Stop ("" = untouched)
	auditWas    string // the audit "enabled" value before StartAuditd, put back by StopAuditd
	devLog      bool   // /dev/log existed before Start: Stop leaves it
	lock        *os.File
	// Root is the root the bed booted ("" = the host's); paths the bed's tests name (unit files, drop-ins)
	// are under it on the host: Path maps them.
	Root  string
	binds []string
	// container is how a container bed (Options.Container) was wired; nil for another bed.
	container *ContainerInfo
}

// Path is where a path of the bed's view is on the host.
func (b *Bed) Path(p string) string {
	if b.Root == "" {
		return p
	}
	return filepath.Join(b.Root, p)
}

// lockPath serialises test beds on one host (also across a fresh root, which shares the host's /run):
// the core pattern, /run/systemd/coredump and the audit state are global to the kernel.
const lockPath = "/run/sysdiag-testbed.lock"

// ErrBusy says another test bed runs on this host.
var ErrBusy = errors.New("testbed: another sysdiag test bed is running on this host (" + lockPath + " is locked): the kernel's core pattern and audit state are global, so beds run one at a time")

// ErrHostBooted says the host runs systemd as PID 1: the bed refuses to touch it.
var ErrHostBooted = errors.New("testbed: this host was booted by systemd (PID 1 is systemd, or /run/systemd/system exists): " +
	"the test bed would take over its core pattern, /run/systemd/coredump, /dev/log and audit state, so it refuses; " +
	"run the real-systemd tests in a throwaway machine or root (scripts/fresh-root.sh)")

// CheckHost refuses a host that systemd booted, reading root (the host's "/"): PID 1's comm is systemd,
// or /run/systemd/system exists (sd_booted()'s test). It is the guard Start applies.
func CheckHost(root fs.FS) error {
	if comm, err := fs.ReadFile(root, "proc/1/comm"); err == nil && strings.TrimSpace(string(comm)) == "systemd" {
		return ErrHostBooted
	}
	if fi, err := fs.Stat(root, "run/systemd/system"); err == nil && fi.IsDir() {
		return ErrHostBooted
	}
	return nil
}

// Options choose what a bed boots.
type Options struct {
	// Root is a root directory whose systemd the bed boots (a Debian 13 root made with mmdebstrap, for
	// systemd 257), pivot_root'ed into inside the bed's mount namespace; "" boots the host's own systemd on
	// the host's root.
	Root string
	// Binds are host directories bound into Root at the same path (the tests' binaries).
	Binds []string
	// LockWait is how long to wait for another bed on this host to finish (0: fail at once with ErrBusy).
	LockWait time.Duration
	// Container boots Root's systemd as a system container whose cores the root's own systemd-coredump
	// (≥ 255) forwards into it (container.go); needs Root. $SYSDIAG_TESTBED_CONTAINER=1 sets it for a
	// Root bed too. Start fails with ErrNoContainer, saying why, where the machine or root cannot.
	Container bool
}

// Start boots the host's systemd. dir holds its state (created if missing).
func Start(dir string) (*Bed, error) { return StartWith(dir, Options{}) }

// StartWith boots a manager as o says.
//
// The kernel's core pattern is global and its helper runs in the host's namespaces from the host's root:
// the host's systemd-coredump can hand cores to a bed of the host's own systemd (its socket is linked at
// /run/systemd/coredump), but a newer systemd-coredump in a root refuses that socket's peer (257:
// "Failed to get peer credentials of socket"). A Root bed therefore runs with the core pattern "core":
// no systemd-coredump, as on most Debian and Ubuntu servers.
func StartWith(dir string, o Options) (*Bed, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("testbed: needs root")
	}
	if err := CheckHost(os.DirFS("/")); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat("/run/systemd/coredump"); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return nil, errors.New("testbed: /run/systemd/coredump is a real socket or file here (a systemd-coredump of the host's): refusing to replace it")
	}
	root := o.Root
	if root == "" {
		root = "/"
	}
	if _, err := os.Stat(filepath.Join(root, "lib/systemd/systemd")); err != nil {
		return nil, fmt.Errorf("testbed: no systemd to run: %w", err)
	}
	if _, err := cgroup2Mount(); err != nil {
		return nil, err
	}
	var ci *ContainerInfo
	if o.Container || o.Root != "" && os.Getenv(ContainerEnv) == "1" {
		info, err := probeContainer(os.DirFS(root), o.Root, dir, unameRelease())
		if err != nil {
			return nil, err
		}
		ci = &info
	}
	lock, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	if !poll(o.LockWait, func() bool { return syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil }) {
		lock.Close()
		return nil, ErrBusy
	}
	b := &Bed{Dir: dir, lock: lock, Root: o.Root, binds: o.Binds, container: ci}
	_, err = os.Lstat("/dev/log")
	b.devLog = err == nil
	if ci != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			lock.Close()
			return nil, err
		}
		if err = b.wireContainer(ci); err != nil {
			b.Stop()
			return nil, err
		}
	} else if o.Root == "" {
		b.corePattern, err = ensureCorePattern()
		if err == nil {
			// systemd-coredump reads the crashed process's /proc entries: the kernel must wait for it.
			b.pipeLimit, err = setSysctl("/proc/sys/kernel/core_pipe_limit", "16")
		}
	} else {
		b.corePattern, err = setCorePattern("core")
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	if err := b.writeFiles(); err != nil {
		b.Stop()
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "unshare.log"))
	if err != nil {
		b.Stop()
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command("unshare", "--pid", "--mount", "--propagation", "private", "--kill-child", "--",
		filepath.Join(dir, "nsinit.sh"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		b.Stop()
		return nil, fmt.Errorf("testbed: unshare: %w", err)
	}
	b.unshare = cmd
	go cmd.Wait() //nolint:errcheck // reaped; Stop checks the process itself
	ok := poll(5*time.Second, func() bool {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if n, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
			b.NSPid = n
			return true
		}
		return false
	})
	if !ok {
		b.Stop()
		return nil, fmt.Errorf("testbed: namespace init did not appear: %s", readFile(filepath.Join(dir, "unshare.log")))
	}
	if !poll(15*time.Second, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d/root/run/systemd/private", b.NSPid))
		return err == nil
	}) {
		b.Stop()
		return nil, fmt.Errorf("testbed: systemd did not come up: %s", readFile(filepath.Join(dir, "unshare.log")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, _ := b.exec(ctx, nil, "systemctl", "is-system-running", "--wait")
	if s := strings.TrimSpace(string(out)); s != "running" && s != "degraded" {
		failed, _ := b.Systemctl("--failed", "--no-pager")
		b.Stop()
		return nil, fmt.Errorf("testbed: boot ended %q: %s", s, failed)
	}
	if ci != nil {
		if err := b.ContainerReady(); err != nil {
			b.Stop()
			return nil, fmt.Errorf("%w: %v", ErrNoContainer, err)
		}
	}
	if o.Root != "" {
		return b, nil
	}
	_ = os.MkdirAll("/run/systemd", 0o755)
	_ = os.Remove("/run/systemd/coredump")
	if err := os.Symlink(fmt.Sprintf("/proc/%d/root/run/systemd/coredump", b.NSPid), "/run/systemd/coredump"); err != nil {
		b.Stop()
		return nil, fmt.Errorf("testbed: wiring the core pipe: %w", err)
	}
	return b, nil
}

func (b *Bed) writeFiles() error {
	seed := filepath.Join(b.Dir, "seed-run")
	for _, d := range []string{filepath.Join(seed, "systemd/system"), filepath.Join(seed, "tmpfiles.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	targetUnit := "[Unit]\nDescription=sysdiag test bed (sysinit + sockets only)\nWants=sysinit.target sockets.target\n" +
		"After=sysinit.target sockets.target\nAllowIsolate=yes\n"
	if err := os.WriteFile(filepath.Join(seed, "systemd/system", target), []byte(targetUnit), 0o644); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(seed, "tmpfiles.d/tmp.conf"))
	if err := os.Symlink("/dev/null", filepath.Join(seed, "tmpfiles.d/tmp.conf")); err != nil {
		return err
	}
	console := filepath.Join(b.Dir, "console.log")
	cgroupDir := Slice
	if b.container != nil {
		// PID 1 one level below the unit's cgroup, as nspawn's payload: systemd-coredump reads the xattrs
		// on the unit above the leader's cgroup's parent, and the bed's systemd, whose root cgroup this is,
		// strips Delegate=/CoredumpReceive= xattrs from its own root (-.slice) when it realizes it.
		cgroupDir = ContainerScope + "/payload"
	}
	// With a Root: the root becomes a mount point, gets /dev, the binds, and then the mounts below, and
	// is pivot_root'ed into; R is "" for the host's own root.
	r, pre, pivot := "", "", ""
	if b.Root != "" {
		r = b.Root
		pre = fmt.Sprintf("mount --bind %[1]s %[1]s\nmount --rbind /dev %[1]s/dev\n", r)
		for _, d := range b.binds {
			pre += fmt.Sprintf("mkdir -p %[1]s%[2]s && mount --bind %[2]s %[1]s%[2]s\n", r, d)
		}
		pre += fmt.Sprintf("mkdir -p %[1]s/var/log/journal\n", r)
		pivot = fmt.Sprintf("cd %s && mkdir -p .oldroot && pivot_root . .oldroot && cd / && umount -l /.oldroot && rmdir /.oldroot\n", r)
	}
	script := fmt.Sprintf(`#!/bin/bash
# PID 1 of the new PID+mount namespace: prepare mounts, then exec systemd (written by internal/testbed).
set -euo pipefail
R=%[5]q
%[6]smount -t proc -o nosuid,nodev,noexec proc $R/proc
mount --bind $R/proc/sys $R/proc/sys && mount -o remount,bind,ro $R/proc/sys
mount --bind /sys $R/sys && mount -o remount,bind,ro,nosuid,nodev,noexec $R/sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 $R/sys/fs/cgroup
mkdir -p $R/sys/fs/cgroup/%[1]s && echo $$ > $R/sys/fs/cgroup/%[1]s/cgroup.procs
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs $R/run
cp -a %[2]s/. $R/run/
: > %[3]s && mount --bind %[3]s $R/dev/console
%[7]sexec env -i container=sysdiag-testbed PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  setpriv --bounding-set -sys_module,-sys_time \
  /lib/systemd/systemd --unit=%[4]s --show-status=0
`, cgroupDir, seed, console, target, r, pre, pivot)
	return os.WriteFile(filepath.Join(b.Dir, "nsinit.sh"), []byte(script), 0o755)
}

// Stop powers the manager off (SIGKILL after a deadline), stops a test auditd, removes the units the
// bed wrote, and undoes the host wiring. It is safe to call more than once.
func (b *Bed) Stop() error {
	var errs []error
	if b.auditdPID != 0 {
		errs = append(errs, b.StopAuditd())
	}
	if b.NSPid != 0 && alive(b.NSPid) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = b.exec(ctx, nil, "systemctl", "poweroff", "--no-block")
		cancel()
		if !poll(10*time.Second, func() bool { return !alive(b.NSPid) }) {
			_ = syscall.Kill(b.NSPid, syscall.SIGKILL)
			poll(3*time.Second, func() bool { return !alive(b.NSPid) })
		}
	}
	if b.unshare != nil && b.unshare.Process != nil {
		_ = b.unshare.Process.Kill()
	}
	if l, err := os.Readlink("/run/systemd/coredump"); err == nil && strings.HasPrefix(l, "/proc/") {
		_ = os.Remove("/run/systemd/coredump")
	}
	if l, _ := os.Readlink("/dev/log"); l == "/run/systemd/journal/dev-log" && !b.devLog {
		_ = os.Remove("/dev/log")
	}
	if b.pipeLimit != "" {
		if err := os.WriteFile("/proc/sys/kernel/core_pipe_limit", []byte(b.pipeLimit), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("testbed: restoring core_pipe_limit %q: %w", b.pipeLimit, err))
		} else {
			b.pipeLimit = ""
		}
	}
	if b.corePattern != "" {
		if err := os.WriteFile("/proc/sys/kernel/core_pattern", []byte(b.corePattern), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("testbed: restoring core_pattern %q: %w", b.corePattern, err))
		} else {
			b.corePattern = ""
		}
	}
	if l, _ := os.Readlink("/dev/initctl"); l == "/run/initctl" {
		_ = os.Remove("/dev/initctl")
	}
	b.unwireContainer()
	if cg, err := cgroup2Mount(); err == nil {
		removeCgroupTree(filepath.Join(cg, Slice))
	}
	for i := len(b.files) - 1; i >= 0; i-- {
		if err := os.RemoveAll(b.files[i]); err != nil {
			errs = append(errs, err)
		}
	}
	b.files, b.NSPid = nil, 0
	if b.lock != nil {
		b.lock.Close() // releases the flock
		b.lock = nil
	}
	return errors.Join(errs...)
}

// Exec runs a command inside the namespace (nsenter -m -p) and returns its stdout; stderr is in the error.
func (b *Bed) Exec(env []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return b.exec(ctx, env, args...)
}

func (b *Bed) exec(ctx context.Context, env []string, args ...string) ([]byte, error) {
	full := append([]string{"-t", strconv.Itoa(b.NSPid), "-m", "-p", "--"}, args...)
	if len(env) > 0 {
		full = append([]string{"-t", strconv.Itoa(b.NSPid), "-m", "-p", "--", "env"}, append(env, args...)...)
	}
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Systemctl runs systemctl in the namespace against the system manager.
func (b *Bed) Systemctl(args ...string) (string, error) {
	out, err := b.Exec(nil, append([]string{"systemctl"}, args...)...)
	return strings.TrimSpace(string(out)), err
}

// UserEnv is the environment that points systemctl --user at root's user manager (user@0.service).
var UserEnv = []string{"XDG_RUNTIME_DIR=/run/user/0", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/0/bus"}

// UserSystemctl runs systemctl --user against root's user manager.
func (b *Bed) UserSystemctl(args ...string) (string, error) {
	out, err := b.Exec(UserEnv, append([]string{"systemctl", "--user"}, args...)...)
	return strings.TrimSpace(string(out)), err
}

// WriteFile writes a unit file or drop-in (creating directories) and remembers it for Stop.
func (b *Bed) WriteFile(path, content string) error {
	path = b.Path(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if strings.HasSuffix(filepath.Dir(path), ".d") {
		b.files = append(b.files, filepath.Dir(path))
	}
	b.files = append(b.files, path)
	return os.WriteFile(path, []byte(content), 0o644)
}

// Forget makes Stop remove path too (a file the test had sysdiag write), and its drop-in directory.
func (b *Bed) Forget(path string) {
	path = b.Path(path)
	if strings.HasSuffix(filepath.Dir(path), ".d") {
		b.files = append(b.files, filepath.Dir(path))
	}
	b.files = append(b.files, path)
}

// WaitDone waits until the unit is no longer activating, active or deactivating and returns its
// ActiveState. For a oneshot without RemainAfterExit that is "inactive" or "failed".
func (b *Bed) WaitDone(unit string, user bool, timeout time.Duration) (string, error) {
	var state string
	ok := poll(timeout, func() bool {
		var err error
		if user {
			state, err = b.UserSystemctl("show", "--value", "-p", "ActiveState", unit)
		} else {
			state, err = b.Systemctl("show", "--value", "-p", "ActiveState", unit)
		}
		if err != nil {
			return false
		}
		switch state {
		case "active", "activating", "deactivating", "reloading", "refreshing":
			return false
		}
		return true
	})
	if !ok {
		return state, fmt.Errorf("%s still %s after %s", unit, state, timeout)
	}
	return state, nil
}

// StartAuditd starts auditd on the host (it needs the initial PID namespace) with the machine's
// /etc/audit/auditd.conf (Debian: log_format = ENRICHED) and waits for it to take the audit pid.
func (b *Bed) StartAuditd() error {
	was, err := AuditEnabled()
	if err != nil {
		return err
	}
	b.auditWas = was
	if out, err := exec.Command("/sbin/auditd").CombinedOutput(); err != nil {
		return fmt.Errorf("auditd: %w: %s", err, out)
	}
	if !poll(5*time.Second, func() bool {
		raw, err := os.ReadFile("/run/auditd.pid")
		if err != nil {
			return false
		}
		b.auditdPID, err = strconv.Atoi(strings.TrimSpace(string(raw)))
		return err == nil && b.auditdPID > 0
	}) {
		return errors.New("auditd did not start")
	}
	return nil
}

// StopAuditd stops the auditd StartAuditd started and puts the audit "enabled" state back as it was
// before (auditd leaves it at 1 when it exits).
func (b *Bed) StopAuditd() error {
	if b.auditdPID == 0 {
		return nil
	}
	_ = syscall.Kill(b.auditdPID, syscall.SIGTERM)
	poll(5*time.Second, func() bool { return !alive(b.auditdPID) })
	b.auditdPID = 0
	if b.auditWas == "" || b.auditWas == "2" { // 2 is locked: nothing could have changed it
		return nil
	}
	if out, err := exec.Command("auditctl", "-e", b.auditWas).CombinedOutput(); err != nil {
		return fmt.Errorf("auditctl -e %s: %w: %s", b.auditWas, err, out)
	}
	return nil
}

// AuditEnabled reads the kernel's audit "enabled" value (0, 1 or 2 = locked) from `auditctl -s`.
func AuditEnabled() (string, error) { return auditStatus("enabled") }

// AuditBacklog reads the kernel's audit backlog limit from `auditctl -s`.
func AuditBacklog() (string, error) { return auditStatus("backlog_limit") }

// SetAuditBacklog sets the kernel's audit backlog limit (`auditctl -b`): the default, 64, is what a host
// without auditd's rules (which raise it, Debian's to 8192) has.
func SetAuditBacklog(n string) error {
	if out, err := exec.Command("auditctl", "-b", n).CombinedOutput(); err != nil {
		return fmt.Errorf("auditctl -b %s: %w: %s", n, err, out)
	}
	return nil
}

func auditStatus(key string) (string, error) {
	out, err := exec.Command("auditctl", "-s").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("auditctl -s: %w: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("auditctl -s: no %q line: %s", key, out)
}

// CorePattern is the kernel's core pattern now.
func CorePattern() string { return readFile("/proc/sys/kernel/core_pattern") }

func cgroup2Mount() (string, error) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" {
				return f[4], nil
			}
		}
	}
	return "", errors.New("testbed: no cgroup2 mount on the host")
}

// setCorePattern sets the kernel's core pattern and returns the one it replaced ("" when unchanged).
func setCorePattern(p string) (string, error) { return setSysctl("/proc/sys/kernel/core_pattern", p) }

// setSysctl writes a /proc/sys value and returns the one it replaced ("" when unchanged).
func setSysctl(file, v string) (string, error) {
	was := readFile(file)
	if was == v {
		return "", nil
	}
	if err := os.WriteFile(file, []byte(v), 0o644); err != nil {
		return "", fmt.Errorf("testbed: setting %s: %w", file, err)
	}
	return was, nil
}

// ensureCorePattern makes the kernel hand cores to systemd-coredump (Debian's sysctl.d default) and
// returns the pattern it replaced ("" when it changed nothing).
func ensureCorePattern() (string, error) {
	was := CorePattern()
	if strings.HasPrefix(was, "|/lib/systemd/systemd-coredump") {
		return "", nil
	}
	// The pattern systemd-coredump's package ships (no sysctl binary needed: a minimal root has none).
	raw, err := os.ReadFile("/usr/lib/sysctl.d/50-coredump.conf")
	if err != nil {
		return "", fmt.Errorf("testbed: systemd-coredump's sysctl.d file: %w", err)
	}
	p := ""
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "kernel.core_pattern" {
			p = strings.TrimSpace(v)
		}
	}
	if p == "" {
		return "", errors.New("testbed: no kernel.core_pattern in systemd-coredump's sysctl.d file")
	}
	if err := os.WriteFile("/proc/sys/kernel/core_pattern", []byte(p), 0o644); err != nil {
		return "", fmt.Errorf("testbed: setting core_pattern: %w", err)
	}
	return was, nil
}

func removeCgroupTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// poll calls f every 50 ms until it returns true or timeout passes.
func poll(timeout time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Poll is poll for tests: wait on the journal or a unit's state with a deadline, never a fixed sleep.
func Poll(timeout time.Duration, f func() bool) bool { return poll(timeout, f) }

func readFile(p string) string {
	raw, _ := os.ReadFile(p)
	return strings.TrimSpace(string(raw))
}
