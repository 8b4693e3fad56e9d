package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxEntry bounds one entry read from export or JSON text.
const MaxEntry = 8 << 20

// ReadExport reads `journalctl -o export` text (the Journal Export Format: "FIELD=value" lines, binary
// fields as "FIELD\n" + little-endian 64-bit size + data + "\n", entries separated by an empty line) and
// calls fn for each entry. Entries and fields are bounded; a malformed stream is an error.
func ReadExport(r io.Reader, fn func(Fields) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	cur := Fields{}
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		err := fn(cur)
		cur, size = Fields{}, 0
		return err
	}
	for {
		line, err := readLine(br, maxField)
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return err
		}
		if len(line) == 0 {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		var key, val string
		if i := bytes.IndexByte(line, '='); i >= 0 {
			key, val = string(line[:i]), string(line[i+1:])
		} else {
			key = string(line)
			var n uint64
			if err := binary.Read(br, binary.LittleEndian, &n); err != nil {
				return fmt.Errorf("export: binary field %s: %w", key, err)
			}
			if n > maxField {
				return fmt.Errorf("export: field %s of %d bytes is too large", key, n)
			}
			buf := make([]byte, n+1)
			if _, err := io.ReadFull(br, buf); err != nil {
				return fmt.Errorf("export: binary field %s: %w", key, err)
			}
			if buf[n] != '\n' {
				return fmt.Errorf("export: binary field %s not followed by a newline", key)
			}
			val = string(buf[:n])
		}
		if key == "" {
			return errors.New("export: empty field name")
		}
		size += len(key) + len(val)
		if size > MaxEntry {
			return fmt.Errorf("export: entry larger than %d bytes", MaxEntry)
		}
		cur[key] = val
	}
}

// readLine reads one line without its newline, failing on a line longer than max.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		out = append(out, chunk...)
		if len(out) > max+1 {
			return nil, fmt.Errorf("export: line longer than %d bytes", max)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(out) > 0 {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		return out[:len(out)-1], nil
	}
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
