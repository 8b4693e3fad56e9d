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
	Bytes       int64 // bytes read
	Records     int   // SECCOMP records decoded
	Malformed   int   // lines that looked like SECCOMP records but did not decode
	TooLong     int   // lines longer than MaxLine, whatever their type: skipped unread
	OutOfWindow int   // records decoded but outside the window asked for, not passed on (file readers only)
}

// Add sums two Stats.
func (s *Stats) Add(o Stats) {
	s.Bytes += o.Bytes
	s.Records += o.Records
	s.Malformed += o.Malformed
	s.TooLong += o.TooLong
	s.OutOfWindow += o.OutOfWindow
}

// addCounts sums the counts a block search makes (not Bytes, which the reader keeps).
func (s *Stats) addCounts(o Stats) {
	s.Records += o.Records
	s.Malformed += o.Malformed
	s.TooLong += o.TooLong
}

// MaxLine is the longest line Scan looks at; auditd writes at most ~9 KiB of record plus its ENRICHED
// tail. Longer lines are skipped and counted.
const MaxLine = 256 << 10

const chunkSize = 1 << 20

// limits are the sizes a reader works with. The exported readers use the constants; tests and fuzzers
// lower them to reach long lines and chunk boundaries with small inputs.
type limits struct {
	maxLine int // longest line looked at; longer ones are counted in TooLong and skipped
	chunk   int // bytes read (Scan) or searched (mapped) per chunk
}

var streamLimits = limits{maxLine: MaxLine, chunk: chunkSize}

var seccompAnchor = seccompType[len("type="):]

// ErrStop, returned by a Scan callback, ends the scan early without an error.
var ErrStop = errors.New("stop scan")

// Scan streams auditd log text from r and calls fn for each SECCOMP record, in file order. It looks only
// at lines that contain "type=SECCOMP msg=audit(", so it runs at the speed of a byte search, on several
// cores: one goroutine reads chunks cut at line ends, workers search them, and the records are handed to
// fn in order. Memory is bounded whatever the input: a few chunks in flight and their records. A line
// longer than MaxLine is skipped in bounded memory and linear time (counted in Stats.TooLong, whatever
// its type), and never hides the lines after it. A callback error stops the scan and is returned
// (ErrStop stops it cleanly).
func Scan(r io.Reader, fn func(Record) error) (Stats, error) {
	return scanStream(r, streamLimits, fn)
}

func scanStream(r io.Reader, lim limits, fn func(Record) error) (Stats, error) {
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
	pool := sync.Pool{New: func() any { b := make([]byte, lim.chunk+lim.maxLine); return &b }}
	// A token per chunk between its read and its delivery to fn: chunks in flight (and the records the
	// workers hold for them) stay bounded even when one worker is slow.
	tokens := make(chan struct{}, 2*workers+1)
	jobs := make(chan job, workers)
	results := make(chan result, workers)
	done := make(chan struct{})
	var readErr error
	var readStats Stats

	// Reader: chunks cut after the last newline; the tail is carried into the next chunk. A tail longer
	// than maxLine is a line too long to look at: counted here, then its rest is dropped up to its newline,
	// chunk by chunk, without sending anything. Every chunk sent takes the next sequence number, so the
	// in-order delivery below never waits for a chunk that was not sent.
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer close(jobs)
		var carry []byte  // the start of a line, at most maxLine bytes
		skipping := false // inside a line longer than maxLine, already counted
		for seq := 0; ; {
			select {
			case tokens <- struct{}{}:
			case <-done:
				return
			}
			bp := pool.Get().(*[]byte)
			buf := *bp
			n0 := copy(buf, carry)
			n, err := io.ReadFull(r, buf[n0:n0+lim.chunk])
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
					pool.Put(bp)
					<-tokens
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
			if len(rest) > lim.maxLine {
				readStats.TooLong++
				skipping, rest = true, nil
			}
			carry = append(carry[:0], rest...)
			select {
			case jobs <- job{seq, data[:end], bp}:
				seq++
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
				_ = scanBlockMax(j.data, lim.maxLine, &res.st, func(rec Record) error { res.recs = append(res.recs, rec); return nil })
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
				st.addCounts(r.st)
				for _, rec := range r.recs {
					if cbErr = fn(rec); cbErr != nil {
						close(done)
						break
					}
				}
			}
			pool.Put(r.buf)
			<-tokens
		}
	}
	reader.Wait()
	st.Bytes = readStats.Bytes
	st.addCounts(readStats)
	if cbErr == ErrStop {
		return st, nil
	}
	if cbErr != nil {
		return st, cbErr
	}
	return st, readErr
}

// scanBlock handles a block of whole lines (only the input's last line may lack its newline): it counts
// those longer than MaxLine and decodes the SECCOMP records among the others.
func scanBlock(block []byte, st *Stats, fn func(Record) error) error {
	return scanBlockMax(block, MaxLine, st, fn)
}

// scanBlockMax is scanBlock with lines up to maxLine.
func scanBlockMax(block []byte, maxLine int, st *Stats, fn func(Record) error) error {
	st.TooLong += countTooLong(block, maxLine)
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
		if len(line) > maxLine {
			continue // counted by countTooLong
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

// countTooLong counts the lines of b longer than maxLine (not counting the newline). It looks back from
// maxLine bytes ahead for the last newline, so on ordinary text it reads about one line per maxLine bytes;
// a too-long line costs its own length plus maxLine: linear in any case.
func countTooLong(b []byte, maxLine int) int {
	n := 0
	p := 0 // the start of a line
	for len(b)-p > maxLine {
		// The line at p is too long exactly when b[p:p+maxLine+1] has no newline; when it has one, every
		// line starting before that newline ends within the window.
		if k := bytes.LastIndexByte(b[p:p+maxLine+1], '\n'); k >= 0 {
			p += k + 1
			continue
		}
		n++
		k := bytes.IndexByte(b[p+maxLine+1:], '\n')
		if k < 0 {
			break
		}
		p += maxLine + 1 + k + 1
	}
	return n
}
