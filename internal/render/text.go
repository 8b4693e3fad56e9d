package render

import (
	"io"
	"os"
	"strings"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/diagnose"
)

// ErrWriter keeps the first error of a run of writes, so a renderer writes on and checks once.
type ErrWriter struct {
	W   io.Writer
	Err error
}

func (e *ErrWriter) Write(p []byte) (int, error) {
	if e.Err != nil {
		return 0, e.Err
	}
	n, err := e.W.Write(p)
	e.Err = err
	return n, err
}

// IsTerminal reports whether w is a terminal (colour and emphasis only then; never with NO_COLOR).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}

// HostText names a host in one word: hostname, and the start of its machine id where the journal names
// one (hostnames repeat in fleets; machine ids do not); "-" for this host.
func HostText(h diagnose.HostReport) string {
	host := h.Host
	if host == "" {
		host = "-"
	}
	if id := h.MachineID; id != "" {
		host += "/" + id[:min(8, len(id))]
	}
	return host
}

// WindowText is " since … until …" of a window, each part only when set.
func WindowText(w audit.Window) string {
	var s string
	if !w.Since.IsZero() {
		s += " since " + w.Since.Format("2006-01-02 15:04:05")
	}
	if !w.Until.IsZero() {
		s += " until " + w.Until.Format("2006-01-02 15:04:05")
	}
	return s
}

// FirstOr is s's first element, or def.
func FirstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// LastLine is the last line of s.
func LastLine(s string) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return ls[len(ls)-1]
}

// ExeOr is exe, or "-" when it is unknown.
func ExeOr(exe string) string {
	if exe == "" {
		return "-"
	}
	return exe
}
