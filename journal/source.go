package journal

import "fmt"

// Source says which journal to read: the local one (zero value), a directory (journalctl -D), or files
// (journalctl --file), e.g. copied from another host or written by systemd-journal-remote.
type Source struct {
	Dir   string
	Files []string
}

func (s Source) String() string {
	switch {
	case s.Dir != "":
		return "journal directory " + s.Dir
	case len(s.Files) > 0:
		return fmt.Sprintf("journal files %v", s.Files)
	}
	return "the local journal"
}
