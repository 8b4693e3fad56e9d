//go:build cgo

package journal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// remoteFile writes entries (export text) as a journal file in dir, with systemd-journal-remote.
func remoteFile(t *testing.T, dir, name string, entries ...map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		for k, v := range e {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
		b.WriteString("\n")
	}
	cmd := exec.Command("/lib/systemd/systemd-journal-remote", "--output="+filepath.Join(dir, name), "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("journal-remote: %v: %s", err, out)
	}
}

func entry(t time.Time, id, msg string) map[string]string {
	return map[string]string{"__REALTIME_TIMESTAMP": fmt.Sprint(t.UnixMicro()), "__MONOTONIC_TIMESTAMP": "1",
		"_BOOT_ID": "0123456789abcdef0123456789abcdef", "_HOSTNAME": "h", "_MACHINE_ID": "fedcba9876543210fedcba9876543210",
		"MESSAGE_ID": id, "MESSAGE": msg}
}

// Following from the tail must see the first matching entry appended later — whether the journal holds
// entries that do not match (a first boot: no SIGSYS exit ever logged; sd-journal left at the tail never
// returned them) or is empty (a fleet's directory before any host sent: its entries are older than now).
func TestTailThenFollowSeesTheFirstMatch(t *testing.T) {
	if _, err := os.Stat("/lib/systemd/systemd-journal-remote"); err != nil {
		t.Skip("not run: no systemd-journal-remote to write journal files (setup.sh installs it)")
	}
	const want = "0123456789abcdef0123456789abcdef"
	t0 := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		name   string
		before []map[string]string // in the journal when it is opened
		later  map[string]string   // appended in a new file
	}{
		{"entries, none matching", []map[string]string{entry(t0, "ffffffffffffffffffffffffffffffff", "other")}, entry(t0.Add(10*time.Second), want, "late")},
		{"empty", nil, entry(t0, want, "old but new to the directory")},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.before != nil {
				remoteFile(t, dir, "a.journal", c.before...)
			}
			r, err := Open(Source{Dirs: []string{dir}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Tail([]string{"MESSAGE_ID=" + want}); err != nil {
				t.Fatal(err)
			}
			remoteFile(t, dir, "b.journal", c.later)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []string
			_ = r.FollowNext(ctx, func(f Fields) error {
				got = append(got, f["MESSAGE"])
				cancel()
				return nil
			})
			if len(got) != 1 || got[0] != c.later["MESSAGE"] {
				t.Errorf("followed %q, want the one appended entry", got)
			}
		})
	}
}
