package dist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestManDate(t *testing.T) {
	raw, err := os.ReadFile("changelog")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ManDate(raw)
	if err != nil || d.IsZero() {
		t.Fatalf("ManDate(changelog) = %v, %v", d, err)
	}
	got, err := ManDate([]byte("sysdiag (1.0) unstable; urgency=low\n\n  * x\n\n -- A B <a@b.c>  Tue, 04 Mar 2025 10:00:00 +0100\n"))
	if want := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC); err != nil || !got.Equal(want) {
		t.Errorf("ManDate = %v, %v; want %v", got, err, want)
	}
	if _, err := ManDate([]byte("no trailer\n")); err == nil {
		t.Error("ManDate of a changelog with no trailer: no error")
	}
}

func TestManEscape(t *testing.T) {
	if got, want := manEscape(".SH x\n'quote\na\\b\n"), "\\&.SH x\n\\&'quote\na\\eb"; got != want {
		t.Errorf("manEscape = %q, want %q", got, want)
	}
}

// Every page gets the exit status; a command with files of its own gets a FILES section, others none.
func TestManSections(t *testing.T) {
	root := &cobra.Command{Use: "sysdiag", Short: "s"}
	for _, n := range []string{"check", "groups"} {
		root.AddCommand(&cobra.Command{Use: n, Short: n, Run: func(*cobra.Command, []string) {}})
	}
	dir := t.TempDir()
	if err := Man(root, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ".status\n"); err != nil {
		t.Fatal(err)
	}
	for page, files := range map[string]bool{"sysdiag-check.8": true, "sysdiag-groups.8": false} {
		raw, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		if !strings.Contains(s, ".SH EXIT STATUS\n.nf\n\\&.status\n.fi\n") {
			t.Errorf("%s: no escaped EXIT STATUS section:\n%s", page, s)
		}
		if strings.Contains(s, ".SH FILES\n") != files || files && !strings.Contains(s, "$XDG_CACHE_HOME/sysdiag/scan") {
			t.Errorf("%s: FILES section present = %v, want %v", page, !files, files)
		}
	}
}
