package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPackage (scripts/test.sh, on a bed booted from a fresh minimal Debian 12 root with man-db and
// bash-completion; SYSDIAG_E2E_DEB names the .deb scripts/package.sh built): `apt install ./sysdiag_*.deb`
// installs it with its dependencies, `man sysdiag-why` opens, bash completes its commands, sysdiag-watch
// starts under its own hardening (not enabled by default), and `apt remove` leaves none of its files and
// nothing of it running.
func TestPackage(t *testing.T) {
	deb := os.Getenv("SYSDIAG_E2E_DEB")
	if deb == "" {
		t.Skip("scripts/test.sh runs it with the package it built (SYSDIAG_E2E_DEB) on a fresh Debian 12 root")
	}
	need(t)
	defer timed(t)()
	local := filepath.Join(e2eRoot, filepath.Base(deb))
	raw, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	sh := func(cmd string) (string, error) {
		out, err := bed.Exec([]string{"DEBIAN_FRONTEND=noninteractive", "PAGER=cat", "MANPAGER=cat", "TERM=dumb"}, "sh", "-c", cmd)
		return strings.TrimSpace(string(out)), err
	}
	if out, err := sh("apt-get install -y -q " + local + " 2>&1"); err != nil {
		t.Fatalf("apt install: %v\n%s", err, out)
	}
	files, _ := sh("dpkg -L sysdiag")
	t.Logf("installed: %d paths", len(strings.Fields(files)))
	if out, err := sh("sysdiag --version"); err != nil || !strings.HasPrefix(out, "sysdiag 0.") || !strings.Contains(out, "group tables: v245") {
		t.Errorf("--version: %v %q", err, out)
	}
	if out, err := sh("grep -x 'License: Apache-2.0' /usr/share/doc/sysdiag/copyright"); err != nil || strings.Count(out, "Apache-2.0") != 2 {
		t.Errorf("the package's copyright file names Apache-2.0 (Files: * and its License stanza): %v %q", err, out)
	}
	if out, err := sh("man sysdiag-why 2>&1 | head -40"); err != nil || !strings.Contains(out, "SYSDIAG-WHY(8)") || !strings.Contains(out, "--write") {
		t.Errorf("man sysdiag-why: %v\n%s", err, out)
	}
	if out, err := sh("man -w sysdiag-trial && zcat /usr/share/man/man8/sysdiag-trial.8.gz | grep -c 'EXIT STATUS\\|FILES'"); err != nil || !strings.HasSuffix(out, "2") {
		t.Errorf("man sysdiag-trial: %v %q", err, out)
	}
	// bash: the packaged completion loads on demand and completes the commands.
	comp := `. /usr/share/bash-completion/bash_completion; _completion_loader sysdiag; complete -p sysdiag;
COMP_WORDS=(sysdiag tr); COMP_CWORD=1; COMP_LINE="sysdiag tr"; COMP_POINT=${#COMP_LINE}; __start_sysdiag sysdiag tr sysdiag; echo "${COMPREPLY[@]}"`
	if out, err := sh("bash -c '" + strings.ReplaceAll(comp, "'", `'\''`) + "'"); err != nil || !strings.Contains(out, "__start_sysdiag") || !strings.Contains(out, "trial") {
		t.Errorf("bash completion: %v\n%s", err, out)
	}
	// The service: not enabled, starts, runs under its hardening.
	if st, _ := bed.Systemctl("is-enabled", "sysdiag-watch.service"); st != "disabled" {
		t.Errorf("sysdiag-watch.service is %q after install, want disabled", st)
	}
	if _, err := bed.Systemctl("start", "sysdiag-watch.service"); err != nil {
		t.Fatalf("systemctl start sysdiag-watch: %v", err)
	}
	time.Sleep(3 * time.Second)
	if st, _ := bed.Systemctl("show", "--value", "-p", "ActiveState", "sysdiag-watch.service"); st != "active" {
		log, _ := sh("journalctl -u sysdiag-watch --no-pager -n 20")
		t.Errorf("sysdiag-watch: %s\n%s", st, log)
	}
	sec, _ := sh("systemd-analyze security sysdiag-watch.service 2>&1 | tail -1")
	if !strings.Contains(sec, "Overall exposure level for sysdiag-watch.service") {
		t.Errorf("systemd-analyze security: %s", sec)
	}
	t.Logf("sysdiag-watch: %s", sec)
	// Removal: nothing of it is left, nothing runs.
	if out, err := sh("apt-get remove -y -q sysdiag 2>&1"); err != nil {
		t.Fatalf("apt remove: %v\n%s", err, out)
	}
	if st, _ := bed.Systemctl("show", "--value", "-p", "ActiveState", "sysdiag-watch.service"); st == "active" {
		t.Error("sysdiag-watch still runs after apt remove")
	}
	for _, p := range strings.Fields(files) {
		fi, err := os.Lstat(bed.Path(p))
		if err == nil && !fi.IsDir() {
			t.Errorf("left after apt remove: %s", p)
		}
	}
	if out, _ := sh("dpkg -s sysdiag 2>&1"); !strings.Contains(out, "not installed") && !strings.Contains(out, "deinstall") {
		t.Errorf("dpkg -s after remove: %s", out)
	}
}
