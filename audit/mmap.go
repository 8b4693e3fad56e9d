package audit

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrTruncated says a log shrank while it was read through its mapping (logrotate's copytruncate): the
// pages past the new end fault (SIGBUS), which the scan turns into this error for that file.
var ErrTruncated = errors.New("the file shrank while it was read (truncated, as logrotate's copytruncate does)")

// mappedChunk is how much of a mapped log one worker searches at a time.
const mappedChunk = 8 << 20

var mappedLimits = limits{maxLine: MaxLine, chunk: mappedChunk}

// scanFileMapped searches a regular file from offset start (a line start) through a read-only shared
// mapping: no copy out of the page cache, and the chunks are searched on every core. Records reach fn in
// file order. Pages are dropped from the mapping once searched, so resident memory stays bounded whatever
// the size. ok is false when the file cannot be mapped (the caller then reads it).
//
// Chunks are cut sequentially: a chunk ends at the first newline after its nominal end, looked for in at
// most maxLine+1 bytes. Without one there, the line across the nominal end is too long: the chunk ends
// before it, and the line is passed over to its newline in bounded steps (holes jumped with SEEK_DATA, as
// they read as NUL bytes and hold no newline), its pages dropped as they are passed, counted once in
// TooLong. So every byte is searched about once, and memory stays a few chunks, whatever the line lengths.
func scanFileMapped(f *os.File, start, size int64, fn func(Record) error) (st Stats, err error, ok bool) {
	return scanMapped(f, start, size, mappedLimits, fn)
}

func scanMapped(f *os.File, start, size int64, lim limits, fn func(Record) error) (st Stats, err error, ok bool) {
	if size-start <= 0 {
		return Stats{}, nil, true
	}
	page := int64(os.Getpagesize())
	base := start / page * page
	data, merr := syscall.Mmap(int(f.Fd()), base, int(size-base), syscall.PROT_READ, syscall.MAP_SHARED)
	if merr != nil {
		return Stats{}, nil, false
	}
	defer syscall.Munmap(data)
	_ = syscall.Madvise(data, syscall.MADV_SEQUENTIAL)
	st.Bytes = size - start
	fd := int(f.Fd())
	// drop takes the pages holding data[from:to] out of this mapping (the page cache keeps them); the
	// pages at the edges may be shared with a neighbour, which then faults them back in if it still reads.
	drop := func(from, to int) {
		lo, hi := int64(from)/page*page, min((int64(to)+page-1)/page*page, int64(len(data)))
		if hi > lo {
			_ = syscall.Madvise(data[lo:hi], syscall.MADV_DONTNEED)
		}
	}

	type result struct {
		recs     []Record
		st       Stats
		from, to int
		err      error
	}
	workers := min(runtime.GOMAXPROCS(0), 4)
	// Chunks in flight, in file order: the capacity bounds the chunks (and records) held. One per worker:
	// a log of nothing but kills holds ~40 k records per chunk, and 2× as many chunks in flight cost
	// 1 M kills' postmortem 248 → 169 MiB for no measurable speed on the 1 GiB ENRICHED log (0.12 s).
	order := make(chan chan result, workers)
	done := make(chan struct{})
	var wg sync.WaitGroup // the workers
	var producer sync.WaitGroup
	producer.Add(1)
	go func() {
		defer producer.Done()
		defer close(order)
		// The producer reads the mapping too (chunk ends, long lines): a fault is an error in its place.
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		send := func(from, to int, extra Stats) bool {
			ch := make(chan result, 1)
			select {
			case order <- ch:
			case <-done:
				return false
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := result{from: from, to: to, st: extra}
				func() {
					// A page past a shrunken file's end faults: a panic here (SetPanicOnFault is per
					// goroutine), an error for this file, not a crash of the process.
					defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
					defer func() {
						if p := recover(); p != nil {
							if !isFault(p) {
								panic(p)
							}
							r = result{err: ErrTruncated}
						}
					}()
					if from < to {
						_ = scanBlockMax(data[from:to], lim.maxLine, &r.st, func(rec Record) error { r.recs = append(r.recs, rec); return nil })
					}
				}()
				ch <- r
			}()
			return true
		}
		defer func() {
			if p := recover(); p != nil {
				if !isFault(p) {
					panic(p)
				}
				ch := make(chan result, 1)
				ch <- result{err: ErrTruncated}
				select {
				case order <- ch:
				case <-done:
				}
			}
		}()
		skipper := lineSkipper{fd: fd, base: base, data: data, step: max(lim.chunk, 1<<20), drop: drop, done: done}
		pos := int(start - base)
		for pos < len(data) {
			end := pos + lim.chunk
			if end >= len(data) {
				send(pos, len(data), Stats{})
				return
			}
			win := data[end:min(end+lim.maxLine+1, len(data))]
			if nl := bytes.IndexByte(win, '\n'); nl >= 0 || end+len(win) == len(data) {
				to := len(data)
				if nl >= 0 {
					to = end + nl + 1
				}
				if !send(pos, to, Stats{}) {
					return
				}
				pos = to
				continue
			}
			// The line across end runs over maxLine+1 bytes past it: too long. The chunk stops at its start.
			ls := pos + bytes.LastIndexByte(data[pos:end], '\n') + 1
			if !send(pos, ls, Stats{TooLong: 1}) {
				return
			}
			drop(ls, end+len(win))
			if pos = skipper.past(end + len(win)); pos < 0 {
				return // stopped
			}
		}
	}()

	var cbErr error
	for ch := range order {
		r := <-ch
		if r.err != nil {
			cbErr = r.err
			break
		}
		st.addCounts(r.st)
		for _, rec := range r.recs {
			if cbErr = fn(rec); cbErr != nil {
				break
			}
		}
		// Drop the searched pages from this mapping (the page cache keeps them).
		drop(r.from, r.to)
		if cbErr != nil {
			break
		}
	}
	// No worker may touch the mapping after it is unmapped: stop the producer first (it adds workers),
	// then wait for the workers.
	close(done)
	producer.Wait()
	wg.Wait()
	if cbErr == ErrStop {
		cbErr = nil
	}
	return st, cbErr, true
}

// isFault says whether a recovered panic is a memory fault (SetPanicOnFault).
func isFault(p any) bool {
	_, fault := p.(interface{ Addr() uintptr })
	return fault
}

// lineSkipper passes over the rest of a too-long line in a mapped file.
type lineSkipper struct {
	fd             int
	base           int64 // file offset of data[0]
	data           []byte
	step           int // bytes searched per step
	drop           func(from, to int)
	done           <-chan struct{}
	extFrom, extTo int  // data[extFrom:extTo] is data, not a hole
	noHoles        bool // SEEK_DATA/SEEK_HOLE unsupported: everything is data
}

// past returns the offset just past the first newline at or after p (len(data) when there is none), or
// -1 when the scan is stopped. It searches step bytes at a time, dropping the pages behind it, and jumps
// over holes, which read as NUL bytes: a sparse file's holes cost a seek, not a read.
func (s *lineSkipper) past(p int) int {
	for p < len(s.data) {
		select {
		case <-s.done:
			return -1
		default:
		}
		if p >= s.extTo {
			s.findData(p)
			p = s.extFrom
			if p >= len(s.data) {
				break
			}
		}
		q := min(p+s.step, s.extTo)
		if nl := bytes.IndexByte(s.data[p:q], '\n'); nl >= 0 {
			s.drop(p, p+nl)
			return p + nl + 1
		}
		s.drop(p, q)
		p = q
	}
	return len(s.data)
}

// findData sets [extFrom, extTo) to the data extent at or after p (both len(data) when only a hole is
// left), by SEEK_DATA and SEEK_HOLE; where they are not supported, the rest of the file is one extent.
func (s *lineSkipper) findData(p int) {
	s.extFrom, s.extTo = p, len(s.data)
	if s.noHoles {
		return
	}
	off, err := unix.Seek(s.fd, s.base+int64(p), unix.SEEK_DATA)
	if err == unix.ENXIO { // nothing but a hole from p to the end
		s.extFrom = len(s.data)
		return
	}
	if err != nil {
		s.noHoles = true
		return
	}
	s.extFrom = int(min(max(off-s.base, int64(p)), int64(len(s.data))))
	if h, err := unix.Seek(s.fd, off, unix.SEEK_HOLE); err == nil && h-s.base > int64(s.extFrom) && h-s.base < int64(len(s.data)) {
		s.extTo = int(h - s.base)
	}
}
