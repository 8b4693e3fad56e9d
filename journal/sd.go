//go:build cgo

package journal

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"
)

// Reader reads entries through libsystemd's sd-journal (dlopened by go-systemd's sdjournal).
type Reader struct {
	j    *sdjournal.Journal
	src  Source
	only []string // when set, Query reads only these fields
}

// Only returns a reader over the same journal whose queries read only the named fields.
func (r *Reader) Only(fields ...string) Querier { c := *r; c.only = fields; return &c }

// hostless drops the host fields of the local journal's entries: they are all this host's (the local
// journal is opened SD_JOURNAL_LOCAL_ONLY), and evidence without a host is this host's. A directory or
// files may hold several hosts' entries; theirs keep _HOSTNAME and _MACHINE_ID.
func (r *Reader) hostless(f Fields) {
	if r.src.Local() {
		delete(f, "_HOSTNAME")
		delete(f, "_MACHINE_ID")
	}
}

// Open opens the journal src names.
func Open(src Source) (*Reader, error) {
	var j *sdjournal.Journal
	var err error
	switch d := src.dirs(); {
	case len(d) == 1 && len(src.Files) == 0:
		j, err = sdjournal.NewJournalFromDir(d[0])
	case len(d) > 0 || len(src.Files) > 0:
		files := append([]string(nil), src.Files...)
		for _, dir := range d {
			fs, ferr := journalFiles(dir)
			if ferr != nil {
				return nil, fmt.Errorf("opening %s: %w", src, ferr)
			}
			files = append(files, fs...)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("opening %s: no journal files", src)
		}
		j, err = sdjournal.NewJournalFromFiles(files...)
	default:
		j, err = sdjournal.NewJournal()
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", src, err)
	}
	return &Reader{j: j, src: src}, nil
}

// Close releases the journal.
func (r *Reader) Close() error { return r.j.Close() }

// Query calls fn, oldest first, for each entry that has every "FIELD=value" of matches and whose time
// lies in [since, until] (zero bounds are open). Matching happens inside sd-journal on its field index:
// a selective match such as MESSAGE_ID=… answers in milliseconds on a journal of millions of entries.
func (r *Reader) Query(matches []string, since, until time.Time, fn func(Fields) error) error {
	r.j.FlushMatches()
	for _, m := range matches {
		if err := r.j.AddMatch(m); err != nil {
			return fmt.Errorf("journal match %q: %w", m, err)
		}
	}
	var err error
	if since.IsZero() || since.UnixMicro() <= 0 { // before 1970 (--since @0 widened by a slack): from the start, not a wrapped seek past the end
		err = r.j.SeekHead()
	} else {
		err = r.j.SeekRealtimeUsec(uint64(since.UnixMicro()))
	}
	if err != nil {
		return fmt.Errorf("seeking %s: %w", r.src, err)
	}
	for {
		n, err := r.j.Next()
		if err != nil {
			return fmt.Errorf("reading %s: %w", r.src, err)
		}
		if n == 0 {
			return nil
		}
		us, err := r.j.GetRealtimeUsec()
		if err != nil {
			return fmt.Errorf("reading %s: %w", r.src, err)
		}
		t := time.UnixMicro(int64(us))
		if !since.IsZero() && t.Before(since) {
			continue
		}
		if !until.IsZero() && t.After(until) {
			return nil
		}
		var f Fields
		if r.only != nil {
			// Only the fields the caller reads: reading a whole entry costs far more under a flood.
			f = Fields{}
			for _, k := range r.only {
				if v, err := r.j.GetDataValue(k); err == nil {
					f[k] = v
				}
			}
		} else {
			e, err := r.j.GetEntry()
			if err != nil {
				return fmt.Errorf("reading %s: %w", r.src, err)
			}
			f = e.Fields
		}
		f["__REALTIME_TIMESTAMP"] = strconv.FormatUint(us, 10)
		r.hostless(f)
		if err := fn(f); err != nil {
			if err == ErrStop {
				return nil
			}
			return err
		}
	}
}

// Follow calls fn for each new entry with every match, from now on, until ctx is done (journalctl -f).
func (r *Reader) Follow(ctx context.Context, matches []string, fn func(Fields) error) error {
	if err := r.Tail(matches); err != nil {
		return err
	}
	return r.FollowNext(ctx, fn)
}

// Tail sets the matches and moves to the end: FollowNext then gives only entries written after Tail.
func (r *Reader) Tail(matches []string) error {
	r.j.FlushMatches()
	add := func() error {
		for _, m := range matches {
			if err := r.j.AddMatch(m); err != nil {
				return fmt.Errorf("journal match %q: %w", m, err)
			}
		}
		return nil
	}
	if err := add(); err != nil {
		return err
	}
	if err := r.j.SeekTail(); err != nil {
		return err
	}
	if n, err := r.j.Previous(); err != nil || n > 0 {
		return err // on the last matching entry: Next gives only new ones
	}
	// Nothing matches yet. In a journal with entries (a first boot: no SIGSYS exit ever logged) sd-journal
	// left at the tail never returns the entries appended later (measured: watch saw no exit entry until it
	// was restarted): position just after the last entry of all instead. An empty journal (a fleet's
	// directory before any host sent) stays at the tail, where the first files' entries do come.
	r.j.FlushMatches()
	if err := r.j.SeekTail(); err != nil {
		return err
	}
	n, err := r.j.Previous()
	var last uint64
	if err == nil && n > 0 {
		last, err = r.j.GetRealtimeUsec()
	}
	if err == nil {
		err = add()
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return r.j.SeekTail()
	}
	return r.j.SeekRealtimeUsec(last + 1)
}

// FollowNext calls fn for each entry after the current position, waiting for new ones, until ctx is done.
func (r *Reader) FollowNext(ctx context.Context, fn func(Fields) error) error {
	for ctx.Err() == nil {
		n, err := r.j.Next()
		if err != nil {
			return fmt.Errorf("reading %s: %w", r.src, err)
		}
		if n == 0 {
			r.j.Wait(250 * time.Millisecond)
			continue
		}
		e, err := r.j.GetEntry()
		if err != nil {
			return err
		}
		e.Fields["__REALTIME_TIMESTAMP"] = strconv.FormatUint(e.RealtimeTimestamp, 10)
		r.hostless(e.Fields)
		if err := fn(e.Fields); err != nil {
			return err
		}
	}
	return nil
}
