package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
	"github.com/sysdiag/sysdiag/journal"
)

// The seeds' example: a real ncat listening on a unix socket under an allow list without @network-io.
// Each round: the kernel kills ncat, why names the blocked call (socket first), writes its drop-in, and
// the restarted unit gets past that call — until ncat runs. The first round's evidence is the bundled
// example under testdata/example (refreshed with SYSDIAG_UPDATE_FIXTURES=1).
func TestWhyNcatRemoteSSHAgent(t *testing.T) {
	need(t)
	defer timed(t)()
	unit := "remote-ssh-agent.service"
	sock := "/run/remote-ssh-agent.sock"
	body := "[Unit]\nDescription=remote ssh agent relay (ncat on a unix socket)\n\n[Service]\nExecStartPre=/bin/rm -f " + sock + "\nExecStart=/usr/bin/ncat -k -l -U " + sock +
		"\nSystemCallFilter=@system-service\nSystemCallFilter=~@network-io\n"
	writeUnit(t, unit, body, false)
	var blocked []string
	for round := 1; round <= 8; round++ {
		since := time.Now()
		bed.Systemctl("reset-failed", unit)
		if _, err := bed.Systemctl("restart", unit); err != nil {
			t.Fatal(err)
		}
		// A simple service is "active" at once: it either dies (a coredump) or keeps running.
		died := false
		testbed.Poll(3*time.Second, func() bool {
			st, _ := bed.Systemctl("show", "--value", "-p", "ActiveState", unit)
			died = st == "failed"
			return died
		})
		if !died {
			t.Logf("round %d: ncat runs after allowing %v", round, blocked)
			break
		}
		if res, _ := bed.Systemctl("show", "--value", "-p", "Result", unit); res != "core-dump" {
			t.Fatalf("round %d: Result=%s, not a SIGSYS core dump", round, res)
		}
		waitCore(t, since, unit, false)
		w, code := why(t, unit, false)
		if code != 0 || len(w.Violations) != 1 {
			t.Fatalf("round %d: exit %d %+v", round, code, w)
		}
		v := w.Violations[0]
		if round == 1 {
			if v.Syscall != "socket" || v.Groups[0] != "@network-io" || v.Exe != "/usr/bin/ncat" || v.BlockedBy.Cause != "removed-from-allow" {
				t.Errorf("round 1: %+v", v)
			}
			if updating {
				captureExample(t, since, unit, body)
			}
		}
		for _, b := range blocked {
			if b == v.Syscall {
				t.Fatalf("round %d: %s blocked again after its drop-in", round, b)
			}
		}
		blocked = append(blocked, v.Syscall)
		if !w.Fix.Verified {
			t.Errorf("round %d: fix not verified", round)
		}
		// Each round's drop-in replaces the last (same file, sysdiag's own): it must carry every name so far.
		w2, _ := why(t, unit, false, "--write")
		if w2.Fix == nil || !w2.Fix.Written {
			t.Fatalf("round %d: not written", round)
		}
		bed.Forget(w2.Fix.DropinPath)
		bed.Forget(filepath.Dir(w2.Fix.DropinPath))
		reload(t, false)
	}
	if st, _ := bed.Systemctl("show", "--value", "-p", "ActiveState", unit); st != "active" {
		t.Errorf("ncat still dies after %v", blocked)
	}
	bed.Systemctl("stop", unit)
	t.Logf("blocked in turn: %s", strings.Join(blocked, ", "))
}

// captureExample writes the bundled example: the unit file, and the journal entries of the kill as
// `journalctl -o export` text (the unit's own entries, its coredump, the audit records of the window).
func captureExample(t *testing.T, since time.Time, unit, body string) {
	t.Helper()
	dir := "../../testdata/example"
	unitPath := filepath.Join(dir, "root/etc/systemd/system", unit)
	if err := os.MkdirAll(filepath.Dir(unitPath), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, unitPath, body)
	r, err := journal.Open(bedJournal())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out strings.Builder
	keep := func(f journal.Fields) error {
		for _, k := range []string{"__CURSOR", "_BOOT_ID", "_MACHINE_ID", "_HOSTNAME", "COREDUMP_ENVIRON", "COREDUMP_PROC_MAPS",
			"COREDUMP_PROC_STATUS", "COREDUMP_PROC_MOUNTINFO", "COREDUMP_PROC_AUXV", "COREDUMP_OPEN_FDS", "COREDUMP_PROC_LIMITS", "COREDUMP_PROC_CGROUP"} {
			if k != "COREDUMP_ENVIRON" {
				delete(f, k)
			}
		}
		if env, ok := f["COREDUMP_ENVIRON"]; ok { // keep only what sysdiag reads: the invocation id
			var keepEnv []string
			for _, kv := range strings.Split(env, "\n") {
				if strings.HasPrefix(kv, "INVOCATION_ID=") {
					keepEnv = append(keepEnv, kv)
				}
			}
			f["COREDUMP_ENVIRON"] = strings.Join(keepEnv, "\n")
		}
		writeExportEntry(&out, f)
		return nil
	}
	until := time.Now()
	for _, m := range [][]string{{"UNIT=" + unit}, {"MESSAGE_ID=" + journal.MessageCoredump, "COREDUMP_UNIT=" + unit},
		{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}} {
		if err := r.Query(m, since.Add(-time.Second), until, keep); err != nil {
			t.Fatal(err)
		}
	}
	writeFixture(t, filepath.Join(dir, "journal.export"), out.String())
}

// writeExportEntry writes one entry in the Journal Export Format (binary-safe fields length-prefixed).
func writeExportEntry(b *strings.Builder, f journal.Fields) {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		v := f[k]
		if strings.ContainsAny(v, "\n") || !isPrintable(v) {
			b.WriteString(k + "\n")
			n := uint64(len(v))
			for i := 0; i < 8; i++ {
				b.WriteByte(byte(n >> (8 * i)))
			}
			b.WriteString(v + "\n")
			continue
		}
		b.WriteString(k + "=" + v + "\n")
	}
	b.WriteString("\n")
}
