package sources

import (
	"fmt"
	"slices"
	"strings"
)

// Read is what a command's reports say of its sources as a whole: whether any was read, which were read
// only in part, and which in whole.
type Read struct {
	Any     bool     // at least one source was read, in whole or in part
	Partial []string // sources that failed after giving records: "PATH: ERROR"
	Paths   []string // the paths of the sources read in whole, sorted, each once
}

// ReadOf sums up reports.
func ReadOf(reps []Report) Read {
	var r Read
	for _, rep := range reps {
		if rep.Error == "" || rep.Partial {
			r.Any = true
		}
		if rep.Partial {
			r.Partial = append(r.Partial, rep.Path+": "+rep.Error)
		}
		if rep.Error == "" {
			r.Paths = append(r.Paths, rep.Path)
		}
	}
	r.Paths = slices.Compact(slices.Sorted(slices.Values(r.Paths)))
	return r
}

// Incomplete is the error of an answer some source gave only in part (nil when none did): the answer is
// whole for what was read, but a pipeline must not take it for the whole.
func (r Read) Incomplete() error {
	if len(r.Partial) == 0 {
		return nil
	}
	return fmt.Errorf("the answer covers only part of %s", strings.Join(r.Partial, "; "))
}

// Unreadable reports whether the source could not be read at all and that is worth saying: a default
// source that does not exist on this host (no auditd) only when found, the violations the answer holds,
// is zero.
func (r Report) Unreadable(found int) bool {
	return !r.Partial && r.Error != "" && (!r.Default || found == 0 || r.Error != "not found")
}
