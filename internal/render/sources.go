package render

import (
	"errors"
	"fmt"
	"io"

	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
)

// SourceWarnings prints, on w (stderr), which sources could not be read and what was skipped; found is
// how many violations the answer holds (sources.Report.Unreadable).
func SourceWarnings(w io.Writer, reps []sources.Report, found int) {
	for _, r := range reps {
		if r.Malformed > 0 || r.TooLong > 0 {
			fmt.Fprintf(w, "sysdiag: %s %s: skipped %d malformed records and %d over-long lines\n", r.Name, r.Path, r.Malformed, r.TooLong)
		}
		for _, s := range r.Skipped {
			fmt.Fprintf(w, "sysdiag: %s: %s\n", r.Path, s)
		}
		switch {
		case r.Partial:
			fmt.Fprintf(w, "sysdiag: %s was read only in part (%d records, then: %s)\n", r.Path, r.Records, r.Error)
		case r.Unreadable(found):
			fmt.Fprintf(w, "sysdiag: cannot read %s: %s\n", r.Path, r.Error)
		}
	}
}

// SourcesPartialHint is the next step after an answer some source gave only in part (sources.Read.Incomplete).
const SourcesPartialHint = "the source failed while it was read (a log truncated or rotated by copy-truncate?): read it again, or a copy of it"

// SourcesJournalHint is the next step when the journal a command names cannot be opened: a file that is
// not export text is not a permission problem.
func SourcesJournalHint(err error) string {
	var ee *journal.ExportError
	if errors.As(err, &ee) {
		return "is it `journalctl -o export` output? a binary journal file is named with --journal-file, a directory of them with --journal-dir"
	}
	return "run as root or in the systemd-journal group, or name copied journals with --journal-dir"
}
