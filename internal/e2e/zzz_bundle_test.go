package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Runs last (files run in name order) when $SYSDIAG_E2E_BUNDLE names a directory: it leaves there what
// an admin would gather from this bed as one host of a fleet — its journal since the suite began, sent
// through systemd-journal-remote (as a journal-remote server stores it: BUNDLE/journal/remote-LABEL.journal),
// and a copy of the suite's unit files (BUNDLE/LABEL/root, for --root HOST=DIR), with BUNDLE/LABEL/host
// saying the bed's machine id, systemd and when the suite began. internal/e2e/fleet reads two such beds'
// bundles (252 and 257) as one fleet.
func TestZZZFleetBundle(t *testing.T) {
	need(t)
	dir := os.Getenv("SYSDIAG_E2E_BUNDLE")
	if dir == "" {
		t.Skip("not run: SYSDIAG_E2E_BUNDLE names no directory (scripts/test.sh sets it for the fleet test)")
	}
	defer timed(t)()
	major := strings.SplitN(bedVersion, ".", 2)[0]
	label := "systemd" + major
	remote := "/lib/systemd/systemd-journal-remote"
	if _, err := os.Stat(remote); err != nil {
		t.Fatalf("no %s: setup.sh installs systemd-journal-remote", remote)
	}
	jdir := filepath.Join(dir, "journal")
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "--no-pager", "-o", "export", "--since", "@" + fmt.Sprint(suiteStart.Unix())}
	if src := bedJournal(); src.Dir != "" {
		args = append(args, "-D", src.Dir)
	}
	out := filepath.Join(jdir, "remote-"+label+".journal")
	os.Remove(out)
	export := exec.Command("journalctl", args...)
	recv := exec.Command(remote, "--output="+out, "-")
	pipe, err := export.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	recv.Stdin = pipe
	var recvErr strings.Builder
	recv.Stderr = &recvErr
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := export.Run(); err != nil {
		t.Fatalf("journalctl %v: %v", args, err)
	}
	if err := recv.Wait(); err != nil {
		t.Fatalf("systemd-journal-remote: %v: %s", err, recvErr.String())
	}

	// The suite's unit files, as a copy of the host's tree.
	root := filepath.Join(dir, label, "root")
	os.RemoveAll(filepath.Join(dir, label))
	n := 0
	for _, d := range []string{unitDir, userDir} {
		src, _ := filepath.Glob(filepath.Join(bed.Path(d), "sysdiag-e2e-*"))
		if len(src) == 0 {
			continue
		}
		dst := filepath.Join(root, d)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if o, err := exec.Command("cp", append(append([]string{"-a"}, src...), dst)...).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, o)
		}
		n += len(src)
	}
	// And the package database's systemd stanza: a tree's version when its journal names none (a bed's
	// manager logs its start-up line to the console, not the journal, as in a container).
	if raw, err := os.ReadFile(bed.Path("/var/lib/dpkg/status")); err == nil {
		for _, st := range strings.Split(string(raw), "\n\n") {
			if strings.HasPrefix(st, "Package: systemd\n") {
				os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
				if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(st+"\n\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	id, err := os.ReadFile(bed.Path("/etc/machine-id"))
	if err != nil {
		t.Fatal(err)
	}
	host := fmt.Sprintf("machine_id=%s\nversion=%s\nsince=%d\n", strings.TrimSpace(string(id)), bedVersion, suiteStart.Unix())
	if err := os.WriteFile(filepath.Join(dir, label, "host"), []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(out)
	t.Logf("bundle %s: %s (%d bytes), %d unit files, %s", label, out, fi.Size(), n, strings.ReplaceAll(strings.TrimSpace(host), "\n", " "))
}
