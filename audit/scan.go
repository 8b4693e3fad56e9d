package audit

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
)

// Stats says what a scan read and what it had to leave out. A non-zero Malformed or TooLong is reported
// to the user: nothing is dropped silently.
type Stats struct {
	Bytes     int64 // bytes read
	Records   int   // SECCOMP records decoded
	Malformed int   // lines that looked like SECCOMP records but did not decode
	TooLong   int   // lines longer than MaxLine, skipped
}

// Add sums two Stats.
func (s *Stats) Add(o Stats) {
	s.Bytes += o.Bytes
	s.Records += o.Records
	s.Malformed += o.Malformed
	s.TooLong += o.TooLong
}

// MaxLine is the longest line Scan looks at; auditd writes at most ~9 KiB of record plus its ENRICHED
// tail. Longer lines are skipped and counted.
const MaxLine = 256 << 10

const chunkSize = 1 << 20

var seccompAnchor = seccompType[len("type="):]

// ErrStop, returned by a Scan callback, ends the scan early without an error.
var ErrStop = errors.New("stop scan")

// Scan streams auditd log text from r and calls fn for each SECCOMP record, in file order. It looks only
// at lines that contain "type=SECCOMP msg=audit(", so it runs at the speed of a byte search, on several
// cores: one goroutine reads chunks cut at line ends, workers search them, and the records are handed to
// fn in order. Memory is bounded whatever the input size: a few chunks in flight and their records. A
// callback error stops the scan and is returned (ErrStop stops it cleanly).
func Scan(r io.Reader, fn func(Record) error) (Stats, error) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	type job struct {
		seq  int
		data []byte
		buf  *[]byte
	}
	type result struct {
		seq  int
		recs []Record
		st   Stats
		buf  *[]byte
	}
	pool := sync.Pool{New: func() any { b := make([]byte, chunkSize+MaxLine); return &b }}
	jobs := make(chan job, workers)
	results := make(chan result, workers)
	done := make(chan struct{})
	var readErr error
	var readStats Stats

	// Reader: chunks cut after the last newline; the tail is carried into the next chunk.
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer close(jobs)
		var carry []byte
		skipping := false // inside a line longer than MaxLine
		for seq := 0; ; seq++ {
			bp := pool.Get().(*[]byte)
			buf := *bp
			n0 := copy(buf, carry)
			n, err := io.ReadFull(r, buf[n0:n0+chunkSize])
			readStats.Bytes += int64(n)
			eof := err == io.EOF || err == io.ErrUnexpectedEOF
			if err != nil && !eof {
				readErr = err
				return
			}
			data := buf[:n0+n]
			if skipping {
				nl := bytes.IndexByte(data, '\n')
				if nl < 0 {
					carry = nil
					pool.Put(bp)
					if eof {
						return
					}
					continue
				}
				data = data[nl+1:]
				skipping = false
			}
			end := len(data)
			if !eof {
				end = bytes.LastIndexByte(data, '\n') + 1
			}
			rest := data[end:]
			if len(rest) > MaxLine {
				if bytes.Contains(rest, seccompType) {
					readStats.TooLong++
				}
				skipping, rest = true, nil
			}
			carry = append(carry[:0], rest...)
			select {
			case jobs <- job{seq, data[:end], bp}:
			case <-done:
				return
			}
			if eof {
				return
			}
		}
	}()

	// Workers: search and decode.
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var res result
				res.seq, res.buf = j.seq, j.buf
				_ = scanBlock(j.data, &res.st, func(rec Record) error { res.recs = append(res.recs, rec); return nil })
				select {
				case results <- res:
				case <-done:
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	// In order, to fn.
	var st Stats
	var cbErr error
	pending := map[int]result{}
	next := 0
	for res := range results {
		pending[res.seq] = res
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if cbErr == nil {
				st.Records += r.st.Records
				st.Malformed += r.st.Malformed
				st.TooLong += r.st.TooLong
				for _, rec := range r.recs {
					if cbErr = fn(rec); cbErr != nil {
						close(done)
						break
					}
				}
			}
			pool.Put(r.buf)
		}
	}
	reader.Wait()
	st.Bytes = readStats.Bytes
	st.TooLong += readStats.TooLong
	if cbErr == ErrStop {
		return st, nil
	}
	if cbErr != nil {
		return st, cbErr
	}
	return st, readErr
}

// scanBlock handles a block of complete lines.
func scanBlock(block []byte, st *Stats, fn func(Record) error) error {
	for len(block) > 0 {
		// Search for the rarer tail of the marker: 'S' is far less common than 't' in audit logs, which
		// makes this ~9x faster than searching for "type=SECCOMP" (bytes.Index skips by first byte).
		j := bytes.Index(block, seccompAnchor)
		if j < 0 {
			return nil
		}
		ls := bytes.LastIndexByte(block[:j], '\n') + 1
		le := len(block)
		if k := bytes.IndexByte(block[j:], '\n'); k >= 0 {
			le = j + k
		}
		line := block[ls:le]
		block = block[min(le+1, len(block)):]
		if len(line) > MaxLine {
			st.TooLong++
			continue
		}
		rec, err := ParseLogLine(line)
		switch {
		case err == ErrNotSeccomp:
			continue // the marker inside another record's value
		case err != nil:
			st.Malformed++
			continue
		}
		st.Records++
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}
