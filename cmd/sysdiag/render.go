package main

import (
	"github.com/sysdiag/sysdiag/internal/safetext"
)

// clean makes text from logs safe for a terminal.
func clean(s string) string { return safetext.Clean(s) }
