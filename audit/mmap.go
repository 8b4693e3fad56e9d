package audit

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
)

// ErrTruncated says a log shrank while it was read through its mapping (logrotate's copytruncate): the
// pages past the new end fault (SIGBUS), which the scan turns into this error for that file.
var ErrTruncated = errors.New("the file shrank while it was read (truncated, as logrotate's copytruncate does)")

// mappedChunk is how much of a mapped log one worker searches at a time.
const mappedChunk = 8 << 20

// scanFileMapped searches a regular file from offset start through a read-only shared mapping: no copy
// out of the page cache, and the chunks are searched on every core. Records reach fn in file order.
// Pages are dropped from the mapping once searched, so resident memory stays bounded whatever the size.
// ok is false when the file cannot be mapped (the caller then reads it).
func scanFileMapped(f *os.File, start, size int64, fn func(Record) error) (st Stats, err error, ok bool) {
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
	skip := int(start - base)
	st.Bytes = size - start
	// A chunk begins after the first newline at or after its nominal start (the first chunk at skip) and
	// ends at the first newline at or after its nominal end: every line belongs to exactly one chunk.
	bound := func(i int) int {
		if i <= skip {
			return skip
		}
		if i >= len(data) {
			return len(data)
		}
		nl := bytes.IndexByte(data[i:], '\n')
		if nl < 0 {
			return len(data)
		}
		return i + nl + 1
	}
	n := (len(data) - skip + mappedChunk - 1) / mappedChunk
	type result struct {
		recs     []Record
		st       Stats
		from, to int
		err      error
	}
	workers := min(runtime.GOMAXPROCS(0), 4)
	results := make([]chan result, n)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	sem := make(chan struct{}, workers*2) // chunks in flight: bounds the records held
	done := make(chan struct{})
	var wg sync.WaitGroup // the workers
	var producer sync.WaitGroup
	producer.Add(1)
	go func() {
		defer producer.Done()
		for i := 0; i < n; i++ {
			select {
			case sem <- struct{}{}:
			case <-done:
				return
			}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var r result
				func() {
					// A page past a shrunken file's end faults: a panic here (SetPanicOnFault is per
					// goroutine), an error for this file, not a crash of the process.
					defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
					defer func() {
						if p := recover(); p != nil {
							if _, fault := p.(interface{ Addr() uintptr }); !fault {
								panic(p)
							}
							r = result{err: ErrTruncated}
						}
					}()
					from, to := bound(skip+i*mappedChunk), bound(skip+(i+1)*mappedChunk)
					r.from, r.to = from, to
					if from < to {
						_ = scanBlock(data[from:to], &r.st, func(rec Record) error { r.recs = append(r.recs, rec); return nil })
					}
				}()
				results[i] <- r
			}(i)
		}
	}()
	var cbErr error
	for i := 0; i < n && cbErr == nil; i++ {
		r := <-results[i]
		if r.err != nil {
			cbErr = r.err
			<-sem
			break
		}
		st.Records += r.st.Records
		st.Malformed += r.st.Malformed
		st.TooLong += r.st.TooLong
		for _, rec := range r.recs {
			if cbErr = fn(rec); cbErr != nil {
				break
			}
		}
		// Drop the searched pages from this mapping (the page cache keeps them).
		if lo, hi := int64(r.from)/page*page, int64(r.to)/page*page; hi > lo {
			_ = syscall.Madvise(data[lo:hi], syscall.MADV_DONTNEED)
		}
		<-sem
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
