package evidence

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
)

// One real kill (Debian 12, systemd 252: ~@chown kills fchown) as journald's audit transport, its kernel
// transport and dmesg saw it: read at once and merged, it is one violation with three sources, and — a
// copied journal being another host's — with that host's hostname and machine id.
func TestCollectMergesOneKillFromThreeSources(t *testing.T) {
	td := "../../audit/testdata/debian12-systemd252-x86_64-deny-fchown"
	p := &sources.Plan{Exports: []string{td + ".journal-audit.export", td + ".journal-kernel.export"}, Kmsg: []string{td + ".dmesg.txt"}}
	var vs []Violation
	reps, err := Collect(p, audit.Window{}, nil, nil, func(v Violation) error { vs = append(vs, v); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 {
		t.Fatalf("want one violation, got %d: %+v", len(vs), vs)
	}
	v := vs[0]
	if v.Name != "fchown" || !v.Action.IsKill() || strings.Join(v.Sources, ",") != "journal-audit,journal-kernel,kmsg" {
		t.Errorf("%s %s %v", v.Name, v.Action, v.Sources)
	}
	if v.Node != "vm" || v.Machine != "3d1219c7c4c5404aaa1f6d2a48adfda4" {
		t.Errorf("host %q %q, want the copied journal's", v.Node, v.Machine)
	}
	for _, r := range reps {
		if r.Error != "" {
			t.Errorf("%s %s: %s", r.Name, r.Path, r.Error)
		}
	}
}

// --since @0 is widened by the journal's slack to before 1970: the seek must start at the head, not wrap
// past the end (seen: every journal query of `events --since @0` found nothing). A real journal file, made
// from the captured export by systemd-journal-remote.
func TestCollectSinceEpochReadsTheJournal(t *testing.T) {
	remote := "/lib/systemd/systemd-journal-remote"
	if _, err := os.Stat(remote); err != nil {
		t.Skip("not run: no systemd-journal-remote to make a journal file (setup.sh installs it)")
	}
	if _, err := journal.Open(journal.Source{Files: []string{"/nonexistent.journal"}}); err != nil && strings.Contains(err.Error(), "without cgo") {
		t.Skip("not run: built without cgo, no journal reader")
	}
	file := filepath.Join(t.TempDir(), "copy.journal")
	export, err := os.ReadFile("../../audit/testdata/debian12-systemd252-x86_64-deny-fchown.journal-audit.export")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(remote, "--output="+file, "-")
	cmd.Stdin = strings.NewReader(string(export) + "\n") // the capture ends without the entry's blank line
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var n int
	_, err = Collect(&sources.Plan{JournalFiles: []string{file}}, audit.Window{Since: time.Unix(0, 0)}, nil, nil, func(Violation) error { n++; return nil })
	if err != nil || n != 1 {
		t.Fatalf("since @0: %d violations, %v; want the one kill", n, err)
	}
}
