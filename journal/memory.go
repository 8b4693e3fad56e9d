package journal

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrStop, returned by a Query callback, ends the query without an error.
var ErrStop = errors.New("stop query")

// Querier is what sysdiag asks a journal: entries with every "FIELD=value" match, oldest first, within
// a time range. The live journal (Reader) and exported text (Memory) both answer it.
type Querier interface {
	Query(matches []string, since, until time.Time, fn func(Fields) error) error
	// Only returns a view whose queries need give only the named fields (an optimisation; a
	// Querier may give more).
	Only(fields ...string) Querier
	Close() error
}

// Memory is a journal loaded from `journalctl -o export` files (e.g. copied from another host).
type Memory struct {
	entries []Fields // sorted by __REALTIME_TIMESTAMP
	times   []int64
}

// LoadExport reads export files into memory.
func LoadExport(paths ...string) (*Memory, error) {
	m := &Memory{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		err = ReadExport(f, func(e Fields) error { m.entries = append(m.entries, e); return nil })
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	sort.SliceStable(m.entries, func(i, j int) bool { return ts(m.entries[i]) < ts(m.entries[j]) })
	m.times = make([]int64, len(m.entries))
	for i, e := range m.entries {
		m.times[i] = ts(e)
	}
	return m, nil
}

func ts(e Fields) int64 {
	n, _ := strconv.ParseInt(e["__REALTIME_TIMESTAMP"], 10, 64)
	return n
}

// Query answers like Reader.Query.
func (m *Memory) Query(matches []string, since, until time.Time, fn func(Fields) error) error {
	start := 0
	if !since.IsZero() {
		us := since.UnixMicro()
		start = sort.Search(len(m.times), func(i int) bool { return m.times[i] >= us })
	}
	type kv struct{ k, v string }
	var want []kv
	for _, mt := range matches {
		k, v, _ := strings.Cut(mt, "=")
		want = append(want, kv{k, v})
	}
next:
	for i := start; i < len(m.entries); i++ {
		if !until.IsZero() && m.times[i] > until.UnixMicro() {
			return nil
		}
		e := m.entries[i]
		for _, w := range want {
			if v, ok := e[w.k]; !ok || v != w.v {
				continue next
			}
		}
		if err := fn(e); err != nil {
			if err == ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

// Close does nothing.
func (m *Memory) Close() error { return nil }

// Only returns m: entries are in memory already.
func (m *Memory) Only(...string) Querier { return m }
