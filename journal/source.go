package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source says which journal to read: the local one (zero value), a directory (journalctl -D), several
// directories (such as systemd-journal-remote's /var/log/journal/remote of several hosts), or files
// (journalctl --file), e.g. copied from another host.
type Source struct {
	Dir   string
	Dirs  []string // more directories, read with Dir as one journal
	Files []string
}

// Local reports whether s is this host's own journal.
func (s Source) Local() bool { return len(s.dirs()) == 0 && len(s.Files) == 0 }

func (s Source) dirs() []string {
	var out []string
	if s.Dir != "" {
		out = append(out, s.Dir)
	}
	return append(out, s.Dirs...)
}

func (s Source) String() string {
	switch d := s.dirs(); {
	case len(d) == 1 && len(s.Files) == 0:
		return "journal directory " + d[0]
	case len(d) > 0:
		return "journal directories " + strings.Join(d, ", ") + filesText(s.Files, " and files ")
	case len(s.Files) > 0:
		return filesText(s.Files, "journal files ")
	}
	return "the local journal"
}

func filesText(fs []string, prefix string) string {
	if len(fs) == 0 {
		return ""
	}
	return prefix + strings.Join(fs, ", ")
}

// journalFiles lists what sd_journal_open_directory reads of dir — its *.journal files and those one
// level down (a machine-id directory) — so several directories open as one set of files.
func journalFiles(dir string) ([]string, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	var out []string
	for _, pat := range []string{"*.journal", "*.journal~", "*/*.journal", "*/*.journal~"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out, nil
}
