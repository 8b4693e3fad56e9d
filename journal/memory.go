package journal

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"weak"
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

// Memory is a journal loaded from `journalctl -o export` files (e.g. copied from another host). It holds
// only what sysdiag asks a journal (kept.go): the entries its queries can match, and of each the fields
// their callers read, values shared between entries. Its memory grows with those, not with the files.
// It answers those queries — a query no kept entries could answer is an error, not a silent miss — and
// may be queried from several goroutines at once.
type Memory struct {
	entries []memEntry // sorted by time
	vals    []string   // the entries' values, each entry's in the order of keptNames
	stats   ExportStats
}

// memEntry is one kept entry: its time in µs, the fields it has (bits of keptNames, the time not among
// them) and where their values start in vals.
type memEntry struct {
	t   int64
	has uint64
	off int
}

// LoadExport reads export files into memory; see ReadExportStats for what damage is counted and what
// is an error, and Stats for the counts.
//
// Loads of the same unchanged files share one Memory while anyone holds it: a command opens its journal
// once per stream it reads (internal/sources), and would otherwise parse and hold the files once each.
func LoadExport(paths ...string) (*Memory, error) {
	key, err := exportKey(paths)
	if err != nil {
		return nil, err
	}
	loaded.Lock()
	defer loaded.Unlock()
	for k, w := range loaded.m {
		if w.Value() == nil {
			delete(loaded.m, k)
		}
	}
	if m := loaded.m[key].Value(); m != nil {
		return m, nil
	}
	m, err := loadExport(paths)
	if err != nil {
		return nil, err
	}
	w := weak.Make(m)
	loaded.m[key] = w
	if now, err := exportKey(paths); err == nil {
		loaded.m[now] = w // a pipe's times change as it is written
	}
	return m, nil
}

// loaded holds the Memories loaded, by exportKey, as long as someone else does.
var loaded = struct {
	sync.Mutex
	m map[string]weak.Pointer[Memory]
}{m: map[string]weak.Pointer[Memory]{}}

// exportKey names files as they are now: path, device, inode, size and modification time of each.
func exportKey(paths []string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%q %d %d", p, fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, " %d %d", st.Dev, st.Ino)
		}
		b.WriteByte(0)
	}
	return b.String(), nil
}

func loadExport(paths []string) (*Memory, error) {
	m := &Memory{}
	pool := newInterner()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		st, err := m.load(f, pool)
		f.Close()
		m.stats.add(st)
		if err != nil {
			var ee *ExportError
			if errors.As(err, &ee) {
				ee.Path = p
				return nil, ee
			}
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	m.sort()
	return m, nil
}

// Stats counts what the files held, summed over them: entries read, kept, skipped as damaged.
func (m *Memory) Stats() ExportStats { return m.stats }

// load reads one export's entries into m, keeping what keptMask says.
func (m *Memory) load(r io.Reader, pool *interner) (ExportStats, error) {
	s := newExportScanner(r, func(name []byte) int {
		if i, ok := keptIndex[string(name)]; ok {
			return i
		}
		return -1
	})
	var at [64]int // the entry's field of each index, in s.fields
	for {
		ok, err := s.next()
		if err != nil || !ok {
			if err == nil {
				err = s.end()
			}
			return s.st, err
		}
		var has uint64
		for i, f := range s.fields {
			has |= 1 << f.idx
			at[f.idx] = i // a field present twice keeps its last value
		}
		value := func(idx int) []byte { return s.value(s.fields[at[idx]]) }
		t, ok := usec(value, has, realtimeIdx)
		if !ok {
			if t, ok = usec(value, has, sourceTimeIdx); ok {
				s.st.SourceTime++
			} else {
				s.st.NoTimestamp++
				continue
			}
		}
		keep := keptMask(has, value) & has &^ realtimeBit
		if keep == 0 {
			continue
		}
		m.entries = append(m.entries, memEntry{t: t, has: keep, off: len(m.vals)})
		for b := keep; b != 0; b &= b - 1 {
			idx := bits.TrailingZeros64(b)
			m.vals = append(m.vals, pool.str(idx, value(idx)))
		}
		s.st.Kept++
	}
}

// usec reads a time in µs since the epoch: digits only, above 0.
func usec(value func(int) []byte, has uint64, idx int) (int64, bool) {
	if has&(1<<idx) == 0 {
		return 0, false
	}
	b := value(idx)
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n == 0 || n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

func (m *Memory) sort() {
	if !slices.IsSortedFunc(m.entries, cmpTime) {
		slices.SortStableFunc(m.entries, cmpTime)
	}
}

func cmpTime(a, b memEntry) int {
	switch {
	case a.t < b.t:
		return -1
	case a.t > b.t:
		return 1
	}
	return 0
}

// interner shares the values that repeat between entries: unit names, pids, invocation and machine ids,
// executables. Unique values (messages, audit ids) and long ones are copied as they are.
type interner struct{ m map[string]string }

const (
	internMax   = 64      // longer values are not shared
	internLimit = 1 << 20 // distinct values shared at most (a hostile export of unique ids)
)

var notInterned = maskOf([]string{"MESSAGE", "_AUDIT_ID", "_SOURCE_REALTIME_TIMESTAMP", "COREDUMP_TIMESTAMP", "COREDUMP_ENVIRON", "COREDUMP_CMDLINE"})

func newInterner() *interner { return &interner{m: map[string]string{}} }

func (p *interner) str(idx int, b []byte) string {
	if len(b) > internMax || notInterned&(1<<idx) != 0 {
		return string(b)
	}
	if s, ok := p.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.m) < internLimit {
		p.m[s] = s
	}
	return s
}

// Query answers like Reader.Query, for the queries sysdiag asks (kept.go); any other is an error.
func (m *Memory) Query(matches []string, since, until time.Time, fn func(Fields) error) error {
	return m.query(matches, nil, since, until, fn)
}

// Only returns a view whose queries give only the named fields (and __REALTIME_TIMESTAMP).
func (m *Memory) Only(fields ...string) Querier {
	if fields == nil {
		return m
	}
	return &memoryView{m, fields}
}

// Close does nothing.
func (m *Memory) Close() error { return nil }

type memoryView struct {
	m    *Memory
	only []string
}

func (v *memoryView) Query(matches []string, since, until time.Time, fn func(Fields) error) error {
	return v.m.query(matches, v.only, since, until, fn)
}

func (v *memoryView) Only(fields ...string) Querier { return v.m.Only(fields...) }
func (v *memoryView) Close() error                  { return nil }

func (m *Memory) query(matches, only []string, since, until time.Time, fn func(Fields) error) error {
	want, err := parseMatches(matches)
	if err != nil {
		return err
	}
	var onlyMask uint64
	for _, f := range only {
		i, ok := keptIndex[f]
		if !ok {
			return fmt.Errorf("journal export: field %s is not kept, for query %q", f, matches)
		}
		onlyMask |= 1 << i
	}
	if !covers(want, onlyMask) {
		return fmt.Errorf("journal export: query %q (fields %q) is not one the kept entries answer", matches, only)
	}
	if only == nil {
		onlyMask = ^uint64(0)
	}
	start := 0
	if !since.IsZero() {
		us := since.UnixMicro()
		start = sort.Search(len(m.entries), func(i int) bool { return m.entries[i].t >= us })
	}
	var last int64 = 1<<63 - 1
	if !until.IsZero() {
		last = until.UnixMicro()
	}
next:
	for i := start; i < len(m.entries) && m.entries[i].t <= last; i++ {
		e := &m.entries[i]
		for _, w := range want {
			if v, ok := m.value(e, w.idx); !ok || v != w.val {
				continue next
			}
		}
		if err := fn(m.fields(e, onlyMask)); err != nil {
			if err == ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

// parseMatches reads "FIELD=value" matches, each of a field a Memory keeps, each field once.
func parseMatches(matches []string) ([]fieldValue, error) {
	var out []fieldValue
	var seen uint64
	for _, mt := range matches {
		k, v, ok := strings.Cut(mt, "=")
		i, kept := keptIndex[k]
		if !ok || !kept || k == realtimeField || seen&(1<<i) != 0 {
			return nil, fmt.Errorf("journal export: match %q of query %q is not one the kept entries answer", mt, matches)
		}
		seen |= 1 << i
		out = append(out, fieldValue{i, v})
	}
	return out, nil
}

func (m *Memory) value(e *memEntry, idx int) (string, bool) {
	bit := uint64(1) << idx
	if e.has&bit == 0 {
		return "", false
	}
	return m.vals[e.off+bits.OnesCount64(e.has&(bit-1))], true
}

func (m *Memory) fields(e *memEntry, only uint64) Fields {
	f := make(Fields, bits.OnesCount64(e.has&only)+1)
	k := e.off
	for b := e.has; b != 0; b &= b - 1 {
		idx := bits.TrailingZeros64(b)
		if only&(1<<idx) != 0 {
			f[keptNames[idx]] = m.vals[k]
		}
		k++
	}
	f[realtimeField] = strconv.FormatInt(e.t, 10)
	return f
}
