package journal

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"unicode/utf8"
)

// writeExportEntry writes one entry as journalctl -o export does: __REALTIME_TIMESTAMP first, then the
// fields by name; a value that is not printable text (a newline, a control byte, bad UTF-8) as a binary
// field.
func writeExportEntry(w io.Writer, f Fields) (int, error) { return writeExportEntryEOL(w, f, "\n") }

// writeExportEntryEOL writes an entry with its lines ended by eol, binary data as it is.
func writeExportEntryEOL(w io.Writer, f Fields, eol string) (int, error) {
	var b bytes.Buffer
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, c string) int {
		switch {
		case a == c:
			return 0
		case a == realtimeField:
			return -1
		case c == realtimeField:
			return 1
		case a < c:
			return -1
		}
		return 1
	})
	for _, k := range names {
		v := f[k]
		if printable(v) {
			b.WriteString(k + "=" + v + eol)
			continue
		}
		b.WriteString(k + eol)
		binary.Write(&b, binary.LittleEndian, uint64(len(v)))
		b.WriteString(v + eol)
	}
	b.WriteString(eol)
	return w.Write(b.Bytes())
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

func exportText(entries ...Fields) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		writeExportEntry(&b, e)
	}
	return b.Bytes()
}
