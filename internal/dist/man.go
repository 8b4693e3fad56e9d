// Package dist holds what packaging ships beside the binary: the Debian changelog and copyright, the
// watch unit, and the man pages, generated from the command tree (Man) and checked in under man/.
package dist

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manFiles are the files a command reads or writes, for its FILES section.
var manFiles = map[string][]string{
	"why": {"/etc/systemd/system/UNIT.d/zz-sysdiag.conf, ~/.config/systemd/user/UNIT.d/zz-sysdiag.conf: the drop-in --write writes (it never replaces a file it did not write)",
		"/var/log/audit/audit.log: read when auditd runs"},
	"trial": {"/run/systemd/system/UNIT.d/zz-sysdiag-trial.conf, $XDG_RUNTIME_DIR/systemd/user/UNIT.d/zz-sysdiag-trial.conf: the trial's runtime drop-in, removed when it ends (trial --abort after a crash)",
		"/run/systemd/system.conf.d/zz-sysdiag-trial-UNIT.conf: the manager's log flag for the trial (SYSTEMD_LOG_SECCOMP=1), turned off and removed when it ends",
		"/etc/systemd/system/UNIT.d/zz-sysdiag.conf, zz-sysdiag-tighten.conf: what --write and --write-tighten write"},
	"check":      {"$XDG_CACHE_HOME/sysdiag/scan (else ~/.cache/sysdiag/scan): the libraries' summaries by build-id, written only with --cache"},
	"postmortem": {"/etc/systemd/system/UNIT.d/zz-sysdiag.conf: what --write writes, per unit"},
	"watch":      {"/usr/lib/systemd/system/sysdiag-watch.service: the packaged unit that runs watch --json (not enabled by default)"},
}

// ManDate is the date of the release in a Debian changelog (internal/dist/changelog): the pages' footer,
// fixed, so the pages are reproducible.
func ManDate(changelog []byte) (time.Time, error) {
	for _, l := range strings.Split(string(changelog), "\n") {
		if strings.HasPrefix(l, " -- ") {
			if i := strings.Index(l, ">  "); i >= 0 {
				return time.Parse(time.RFC1123Z, strings.TrimSpace(l[i+3:]))
			}
		}
	}
	return time.Time{}, fmt.Errorf("no trailer line with a date in the changelog")
}

// WriteMan is `sysdiag gen-man DIR CHANGELOG`: Man into dir (made if missing), dated by the changelog file.
func WriteMan(root *cobra.Command, dir, changelog, exitStatus string) error {
	raw, err := os.ReadFile(changelog)
	if err != nil {
		return err
	}
	date, err := ManDate(raw)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return Man(root, dir, date, exitStatus)
}

// Man writes the man pages of the command tree under root into dir (github.com/spf13/cobra/doc), one per
// command, each with an EXIT STATUS section (exitStatus, the text of `sysdiag help exit-codes`) and, for
// a command that reads or writes files of its own, a FILES section.
func Man(root *cobra.Command, dir string, date time.Time, exitStatus string) error {
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd() // added at Execute otherwise: the same tree whether run or tested
	hdr := &doc.GenManHeader{Section: "8", Manual: "sysdiag manual", Source: "sysdiag", Date: &date}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		return err
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.8"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		b.Write(raw)
		b.WriteString(".SH EXIT STATUS\n.nf\n" + manEscape(exitStatus) + "\n.fi\n")
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "sysdiag-"), ".8")
		if fs := manFiles[name]; len(fs) > 0 {
			b.WriteString(".SH FILES\n")
			for _, f := range fs {
				b.WriteString(".TP\n" + manEscape(f) + "\n")
			}
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// manEscape makes s roff text: backslashes escaped, a line starting with a control character guarded.
func manEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
