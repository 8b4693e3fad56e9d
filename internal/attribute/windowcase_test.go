package attribute

import (
	"testing"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
)

// The post-mortem's window: a kill no exit claims is asked of the journal by its pid — only when there
// is a journal whose pids are the kernel's — and tied by its process's entry.
func TestWindowCase(t *testing.T) {
	q := &queryFake{entries: []journal.Fields{procEntry(200, "/usr/bin/helper", "a.service", "i1", at(1))}}
	w := audit.Window{Since: at(0), Until: at(10)}
	for _, c := range []struct {
		name     string
		jr       journal.Querier
		foreign  bool
		wantOpen bool
	}{
		{"journal", q, false, true},
		{"foreign pids", q, true, false},
		{"no journal", nil, false, false},
	} {
		wc, err := AskWindow(c.jr, w, nil, c.foreign)
		if err != nil {
			t.Fatal(err)
		}
		if err := wc.Add(kill(200, "/usr/bin/helper", 2)); err != nil {
			t.Fatal(err)
		}
		opened := false
		store := wc.Settle(func() (journal.Querier, error) { opened = true; return q, nil })
		if opened != c.wantOpen {
			t.Errorf("%s: journal opened again: %v, want %v", c.name, opened, c.wantOpen)
		}
		_, tied := store.Units()[UnitKey{Unit: "a.service"}]
		if total, _, _ := store.Untied(); tied != c.wantOpen || tied == (total == 1) {
			t.Errorf("%s: tied to a.service %v (units %v), untied %d", c.name, tied, store.Units(), total)
		}
	}
}
