package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// MaxEntry bounds one entry read from export or JSON text.
const MaxEntry = 8 << 20

const (
	maxFieldName = 64         // systemd's limit on a field name
	dataSizeMax  = 768 << 20  // systemd's DATA_SIZE_MAX (journal-importer.h): a larger binary size is a lie
	journalMagic = "LPKSHHRH" // the first bytes of a binary journal file
)

// ExportStats counts what reading `journalctl -o export` text found. Damage is counted, not fatal: a
// copy cut off mid-entry, a malformed entry among good ones, a field too large to parse.
type ExportStats struct {
	Entries    int // well-formed entries read
	Kept       int // entries given to the caller (ReadExportStats: all with a field left) or kept in memory (LoadExport)
	Skipped    int // malformed entries skipped (a bad field line or name, a lying binary size, an entry over MaxEntry); damage in a row counts once
	Truncated  int // entries cut off by the end of the input (a truncated copy), left out
	LongFields int // fields over the size bound sysdiag parses (1 MiB), left out of their entries

	// LoadExport only: the time of an entry is its __REALTIME_TIMESTAMP, else the sender's
	// _SOURCE_REALTIME_TIMESTAMP; an entry with neither is left out, as no time window can hold it.
	SourceTime  int // entries timed by _SOURCE_REALTIME_TIMESTAMP
	NoTimestamp int // entries with neither, left out
}

func (s *ExportStats) add(o ExportStats) {
	s.Entries += o.Entries
	s.Kept += o.Kept
	s.Skipped += o.Skipped
	s.Truncated += o.Truncated
	s.LongFields += o.LongFields
	s.SourceTime += o.SourceTime
	s.NoTimestamp += o.NoTimestamp
}

// Damaged reports whether anything was skipped, cut off or left out (a long field, an entry without a time).
func (s ExportStats) Damaged() bool {
	return s.Skipped > 0 || s.Truncated > 0 || s.LongFields > 0 || s.NoTimestamp > 0
}

// ExportError is input that is not journal export text at all: not one well-formed entry in it (binary
// data, a binary journal file, another log format). It names the first problem found. Damage in an
// export that has good entries is counted in ExportStats instead.
type ExportError struct {
	Path   string // the file, when known
	Line   int    // the line of the first problem, from 1 (a binary field's data counts as one line)
	Offset int64  // the byte offset of that line
	Reason string
}

func (e *ExportError) Error() string {
	s := fmt.Sprintf("not journal export text: line %d (byte %d): %s", e.Line, e.Offset, e.Reason)
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	return s
}

// ReadExport reads `journalctl -o export` text and calls fn for each entry; see ReadExportStats.
func ReadExport(r io.Reader, fn func(Fields) error) error {
	_, err := ReadExportStats(r, fn)
	return err
}

// ReadExportStats reads `journalctl -o export` text (the Journal Export Format: "FIELD=value" lines,
// binary fields as "FIELD\n" + little-endian 64-bit size + data + "\n", entries separated by an empty
// line) and calls fn for each well-formed entry, as a stream. A field present twice keeps its last value.
//
// Damage is counted and read past: lines may end in "\r\n"; the last entry may lack its blank line, but
// one cut off mid-line is left out (Truncated); a malformed entry is skipped up to the next blank line —
// in journalctl's output, whose entries begin with __CURSOR=, up to the next entry so begun, as a blank
// line may lie inside a binary field whose size a CRLF conversion made a lie (Skipped); a field over
// 1 MiB is left out of its entry (LongFields). Input with no well-formed entry and any damage is an
// *ExportError, and then fn was never called. An error from fn or from r ends the read.
func ReadExportStats(r io.Reader, fn func(Fields) error) (ExportStats, error) {
	s := newExportScanner(r, nil)
	for {
		ok, err := s.next()
		if err != nil {
			return s.st, err
		}
		if !ok {
			return s.st, s.end()
		}
		if len(s.fields) == 0 { // every field of it too long
			continue
		}
		f := make(Fields, len(s.fields))
		for _, rf := range s.fields {
			f[string(s.name(rf))] = string(s.value(rf))
		}
		s.st.Kept++
		if err := fn(f); err != nil {
			return s.st, err
		}
	}
}

// exportScanner reads export text one entry at a time into one reused buffer: an entry costs no
// allocation unless its caller keeps something of it.
type exportScanner struct {
	br     *bufio.Reader
	index  func(name []byte) int // a field's index among those wanted, -1 for one not wanted; nil wants all (index 0)
	off    int64                 // bytes read
	line   int                   // lines read
	buf    []byte                // the entry's names and values
	fields []rawField
	size   int // bytes of the entry's fields
	st     ExportStats
	bad    *ExportError // the first problem
	begun  bool

	// The entry being read: how many field lines, the first one's name, whether it has its time.
	seen    int
	first   []byte
	hasTime bool

	// Resynchronising after damage (see malformed).
	resync   bool   // an entry was skipped, and no entry read whole since
	allTimed bool   // every good entry so far had __REALTIME_TIMESTAMP
	anchor   []byte // "NAME=" that began the first good entry, when a "__" field (journalctl's __CURSOR=)
}

// rawField is one field of the entry being read: its name is buf[n0:n1], its value buf[v0:v1].
type rawField struct {
	idx            int
	n0, n1, v0, v1 int
}

func newExportScanner(r io.Reader, index func([]byte) int) *exportScanner {
	return &exportScanner{br: bufio.NewReaderSize(r, 64<<10), index: index, allTimed: true}
}

func (s *exportScanner) name(f rawField) []byte  { return s.buf[f.n0:f.n1] }
func (s *exportScanner) value(f rawField) []byte { return s.buf[f.v0:f.v1] }

func (s *exportScanner) want(name []byte) int {
	if s.index == nil {
		return 0
	}
	return s.index(name)
}

// end is the error of the whole read: input with damage and not one good entry is not export text.
func (s *exportScanner) end() error {
	if s.st.Entries == 0 && s.bad != nil {
		return s.bad
	}
	return nil
}

func (s *exportScanner) reset() {
	s.buf, s.fields, s.size, s.seen, s.hasTime = s.buf[:0], s.fields[:0], 0, 0, false
}

func (s *exportScanner) problem(line int, off int64, reason string) {
	if s.bad == nil {
		s.bad = &ExportError{Line: line, Offset: off, Reason: reason}
	}
}

// next reads the next well-formed entry into s.fields (the fields wanted of it); false at the end of the
// input.
func (s *exportScanner) next() (bool, error) {
	if !s.begun {
		s.begun = true
		if b, _ := s.br.Peek(len(journalMagic)); string(b) == journalMagic {
			s.problem(1, 0, "a binary journal file, not export text")
			return false, nil
		}
	}
	s.reset()
	for {
		line, at := s.line+1, s.off
		mark := len(s.buf)
		n, nl, long, err := s.readLine(maxFieldName + 1 + maxField)
		if err != nil {
			return false, fmt.Errorf("reading export: line %d: %w", line, err)
		}
		if !nl && n > 0 {
			s.truncated(line, at, "entry cut off mid-line by the end of the input")
			return false, nil
		}
		text := s.buf[mark:]
		if !nl || (len(text) == 0 && !long) { // a blank line, or the end of the input, ends the entry
			if s.seen > 0 && s.complete() {
				return true, nil
			}
			if !nl {
				return false, nil
			}
			s.reset()
			continue
		}
		i := bytes.IndexByte(text, '=')
		if i < 0 { // a binary field: "NAME\n", its size, its data, "\n"
			if !validName(text) || long {
				if err := s.malformed(line, at, fmt.Sprintf("field name %s is not valid", quoteClip(text))); err != nil {
					return false, err
				}
				continue
			}
			if ok, err := s.binaryField(mark, line, at); err != nil || !ok {
				return false, err
			}
			continue
		}
		name := text[:i]
		if !validName(name) {
			if err := s.malformed(line, at, fmt.Sprintf("field name %s is not valid", quoteClip(name))); err != nil {
				return false, err
			}
			continue
		}
		s.saw(name)
		switch idx := s.want(name); {
		case idx < 0:
			s.buf = s.buf[:mark]
		case long || len(text)-i-1 > maxField:
			s.st.LongFields++
			s.buf = s.buf[:mark]
		default:
			if err := s.add(rawField{idx, mark, mark + i, mark + i + 1, len(s.buf)}, line, at); err != nil {
				return false, err
			}
		}
	}
}

// saw notes a well-formed field line of the entry.
func (s *exportScanner) saw(name []byte) {
	if s.seen == 0 {
		s.first = append(s.first[:0], name...)
	}
	s.seen++
	if string(name) == realtimeField {
		s.hasTime = true
	}
}

// complete decides about an entry read whole: a good one (true), or the rest of a skipped entry after a
// blank line inside its binary data — no __REALTIME_TIMESTAMP where every good entry had one — left out
// with it (false).
func (s *exportScanner) complete() bool {
	fragment := s.resync && s.st.Entries > 0 && s.allTimed && !s.hasTime
	s.resync = false
	if fragment {
		return false
	}
	s.st.Entries++
	if !s.hasTime {
		s.allTimed = false
	}
	if s.st.Entries == 1 && bytes.HasPrefix(s.first, []byte("__")) {
		s.anchor = append(bytes.Clone(s.first), '=')
	}
	return true
}

// binaryField reads the size, data and newline of the binary field whose name is buf[mark:]; false when
// the input ended in it.
func (s *exportScanner) binaryField(mark, line int, at int64) (bool, error) {
	var sz [8]byte
	if n, err := io.ReadFull(s.br, sz[:]); err != nil {
		s.off += int64(n)
		return false, s.cut(err, line, at)
	}
	s.off += 8
	size := binary.LittleEndian.Uint64(sz[:])
	name := s.buf[mark:]
	if size > dataSizeMax {
		s.buf = s.buf[:mark]
		return true, s.malformed(line, at, fmt.Sprintf("binary field %s of %d bytes", quoteClip(name), size))
	}
	idx := s.want(name)
	keep := idx >= 0 && size <= maxField
	if keep {
		// In steps, so a size that lies costs what the input holds, not what it claims.
		for left := int(size); left > 0; {
			step := min(left, 64<<10)
			v := len(s.buf)
			s.buf = slices.Grow(s.buf, step)[:v+step]
			n, err := io.ReadFull(s.br, s.buf[v:])
			s.off += int64(n)
			if err != nil {
				return false, s.cut(err, line, at)
			}
			left -= step
		}
	} else {
		n, err := s.br.Discard(int(size))
		s.off += int64(n)
		if err != nil {
			return false, s.cut(err, line, at)
		}
	}
	c, err := s.br.ReadByte()
	if err == nil {
		s.off++
		if c == '\r' { // a "\r\n" line end
			if c, err = s.br.ReadByte(); err == nil {
				s.off++
			}
		}
	}
	if err != nil {
		return false, s.cut(err, line, at)
	}
	s.line++
	if c != '\n' {
		s.buf = s.buf[:mark]
		return true, s.malformed(line, at, fmt.Sprintf("binary field %s not followed by a newline", quoteClip(name)))
	}
	s.saw(name)
	if !keep {
		if idx >= 0 {
			s.st.LongFields++
		}
		s.buf = s.buf[:mark]
		return true, nil
	}
	return true, s.add(rawField{idx, mark, mark + len(name), mark + len(name), len(s.buf)}, line, at)
}

// add adds a field to the entry, or skips the entry when it grows over MaxEntry.
func (s *exportScanner) add(f rawField, line int, at int64) error {
	s.size += f.n1 - f.n0 + f.v1 - f.v0
	if s.size > MaxEntry {
		return s.malformed(line, at, fmt.Sprintf("entry larger than %d bytes", MaxEntry))
	}
	s.fields = append(s.fields, f)
	return nil
}

// cut handles a read error inside a field: the end of the input cuts the entry off, anything else is an
// error of the reader.
func (s *exportScanner) cut(err error, line int, at int64) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		s.truncated(line, at, "entry cut off by the end of the input")
		return nil
	}
	return fmt.Errorf("reading export: line %d: %w", line, err)
}

func (s *exportScanner) truncated(line int, at int64, reason string) {
	s.st.Truncated++
	s.problem(line, at, reason)
	s.reset()
}

// malformed skips the entry up to the next blank line (or the end of the input). Once the input is
// known to begin its entries with a "__" field (journalctl's __CURSOR=), only a blank line followed by
// that field ends the skip: a blank line inside a binary field's data (a stack trace whose size a CRLF
// conversion made a lie) would otherwise start a fragment of the entry as an entry of its own.
//
// Damage found while resynchronising (after a skip, before an entry read whole) belongs to the same
// stretch: Skipped counts stretches, not lines.
func (s *exportScanner) malformed(line int, at int64, reason string) error {
	if !s.resync {
		s.st.Skipped++
	}
	s.resync = true
	s.problem(line, at, reason)
	for {
		s.reset()
		_, nl, long, err := s.readLine(0)
		if err != nil {
			return fmt.Errorf("reading export: line %d: %w", s.line+1, err)
		}
		if !nl {
			break
		}
		if len(s.buf) == 0 && !long {
			if s.anchor == nil {
				break
			}
			next, _ := s.br.Peek(len(s.anchor))
			if bytes.Equal(next, s.anchor) {
				s.resync = false // an entry starts here for sure
				break
			}
			if len(next) < len(s.anchor) {
				break
			}
		}
	}
	s.reset()
	return nil
}

// readLine appends the next line to s.buf without its "\n" or "\r\n", keeping at most max bytes of it
// (long: more were dropped). n is the line's length as read; nl says it ended in a newline (else the
// input ended: nothing of it is counted as a line).
func (s *exportScanner) readLine(max int) (n int, nl, long bool, err error) {
	start := len(s.buf)
	for {
		chunk, err := s.br.ReadSlice('\n')
		n += len(chunk)
		s.off += int64(len(chunk))
		keep := min(len(chunk), max+2-(len(s.buf)-start)) // +2: room for the "\r\n" taken off below
		if keep < len(chunk) {
			long = true
		}
		s.buf = append(s.buf, chunk[:keep]...)
		switch err {
		case nil:
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return n, false, long, nil
		default:
			return n, false, long, err
		}
		break
	}
	s.line++
	if !long {
		s.buf = s.buf[:len(s.buf)-1]
		if len(s.buf) > start && s.buf[len(s.buf)-1] == '\r' {
			s.buf = s.buf[:len(s.buf)-1]
		}
	}
	return n, true, long, nil
}

// validName reports whether b is a journal field name as journald accepts them (journal_field_valid, with
// the "__" fields export text carries): 1 to 64 of A-Z, 0-9 and _, not starting with a digit.
func validName(b []byte) bool {
	if len(b) == 0 || len(b) > maxFieldName || (b[0] >= '0' && b[0] <= '9') {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// quoteClip quotes the start of b for an error message, in ASCII: it came from a hostile file.
func quoteClip(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%+q...", b[:40])
	}
	return fmt.Sprintf("%+q", b)
}

// ReadJSON reads `journalctl -o json` (one object per line) or `-o json-pretty` text and calls fn for
// each entry. String values are taken as they are; byte-array values (binary fields) are turned into
// bytes; a field present several times (an array of values) keeps its first value.
func ReadJSON(r io.Reader, fn func(Fields) error) error {
	dec := json.NewDecoder(io.LimitReader(r, 1<<34))
	for {
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("json: %w", err)
		}
		f := Fields{}
		for k, v := range raw {
			f[k] = jsonValue(v)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
}

func jsonValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var bs []byte
	var nums []int
	if json.Unmarshal(v, &nums) == nil {
		for _, n := range nums {
			bs = append(bs, byte(n))
		}
		return string(bs)
	}
	var many []json.RawMessage
	if json.Unmarshal(v, &many) == nil && len(many) > 0 {
		return jsonValue(many[0])
	}
	return string(v)
}
