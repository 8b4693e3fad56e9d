package audit

import (
	"bytes"
	"errors"
	"io"
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
// at lines that contain "type=SECCOMP msg=audit(", so it runs at the speed of a byte search, and it holds
// at most one chunk and one line in memory whatever the input size. A callback error stops the scan and
// is returned (ErrStop stops it cleanly).
func Scan(r io.Reader, fn func(Record) error) (Stats, error) {
	var st Stats
	buf := make([]byte, chunkSize+MaxLine)
	carry := 0
	skipping := false // inside a line longer than MaxLine
	for {
		n, rerr := io.ReadFull(r, buf[carry:carry+chunkSize])
		st.Bytes += int64(n)
		eof := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !eof {
			return st, rerr
		}
		data := buf[:carry+n]
		if skipping {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				carry = 0
				if eof {
					return st, nil
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
		if err := scanBlock(data[:end], &st, fn); err != nil {
			if err == ErrStop {
				return st, nil
			}
			return st, err
		}
		rest := data[end:]
		if len(rest) > MaxLine {
			// No newline for longer than MaxLine: skip to the next one, counting it if it mattered.
			if bytes.Contains(rest, seccompType) {
				st.TooLong++
			}
			skipping, rest = true, nil
		}
		carry = copy(buf, rest)
		if eof {
			return st, nil
		}
	}
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
