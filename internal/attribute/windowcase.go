package attribute

import (
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/journal"
)

// WindowCase is the post-mortem's question about a window: what the journal says that ties its kills to
// units without a coredump, the units that failed in it, and the Store its kills go into, in memory
// bounded by what the evidence finds.
type WindowCase struct {
	Facts   Facts
	Failed  []journal.UnitResult // units that failed with an exit code in the window
	Store   *Store
	journal bool
	w       audit.Window
}

// AskWindow asks the journal jr (nil: there is none) about window w (WindowFacts) and makes the Store;
// foreign: the journal's pids are not the kernel's.
func AskWindow(jr journal.Querier, w audit.Window, programs Programs, foreign bool) (*WindowCase, error) {
	c := &WindowCase{Facts: Facts{ForeignPIDs: foreign}, journal: jr != nil, w: w}
	if jr != nil {
		var err error
		if c.Facts, c.Failed, err = WindowFacts(jr, w, programs, foreign); err != nil {
			return nil, err
		}
	}
	lim := DefaultLimits
	if !c.asksPIDs() {
		lim.JournalPIDs = 0 // no journal to ask about a pid
	}
	c.Store = NewStore(c.Facts, lim)
	return c, nil
}

// asksPIDs reports whether a kill's pid can be asked of the journal: there is one, and its pids are the
// kernel's.
func (c *WindowCase) asksPIDs() bool { return c.journal && !c.Facts.ForeignPIDs }

// Add puts one violation of the window into the Store (logged calls — SystemCallLog= floods — are left
// out); its signature is a source's emit.
func (c *WindowCase) Add(v evidence.Violation) error {
	c.Store.Add(v)
	return nil
}

// Settle ties the window's kills, once every source was read: the kills left pending are asked of the
// journal (open: a new handle on it, closed after; not called when the pids cannot be asked), then
// Store.Attribute. A journal that cannot be opened again leaves them to the rest of the facts.
func (c *WindowCase) Settle(open func() (journal.Querier, error)) *Store {
	if c.asksPIDs() {
		if jr, err := open(); err == nil {
			c.Facts.Processes, c.Facts.Runs = ProcessesOf(jr, c.Store.Pending(), c.w.Since, c.Facts.Runs)
			jr.Close()
		}
	}
	c.Store.Attribute(c.Facts)
	return c.Store
}
