package evidence

import (
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
)

// Collect reads the sources of window w (sources.Records) and merges their records and the window's
// coredumps into violations, handed to emit oldest first. The coredumps were read with slack around the
// window (a coredump's own time is truncated to the second): only violations in it go on.
func Collect(sf *sources.Plan, w audit.Window, jr journal.Querier, extra []journal.Coredump, emit func(Violation) error) ([]sources.Report, error) {
	return sources.Records(sf, w, jr, extra, func(cores []journal.Coredump, info sources.CoreInfo) sources.Sink {
		return NewMerger(UniqueCores(cores), info, func(v Violation) error {
			if !w.Contains(v.Time) && !(v.CoarseTime && w.Contains(v.Time.Add(time.Second))) {
				return nil
			}
			return emit(v)
		})
	})
}
