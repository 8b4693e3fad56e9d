package render

import (
	"encoding/json"
	"io"
)

// JSON prints v as indented JSON followed by a newline: the one way every command emits --json.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// JSONLine prints v as one line of JSON (watch --json: one object per line, each written at once).
func JSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
