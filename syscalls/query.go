package syscalls

import (
	"fmt"
	"strconv"
	"strings"
)

// Query is what a person typed to name a syscall: a name, or a number (decimal or 0x-hex) that only
// means something together with an arch.
type Query struct {
	Name     string // lowercased name, when not a number
	Number   int
	IsNumber bool
}

// ParseQuery parses a syscall name or number. It checks the form only, not that the syscall exists.
func ParseQuery(s string) (Query, error) {
	q := strings.TrimSpace(s)
	if q == "" {
		return Query{}, fmt.Errorf("empty syscall name")
	}
	if len(q) > 64 {
		return Query{}, fmt.Errorf("not a syscall name or number: too long (%d bytes)", len(q))
	}
	if c := q[0]; c >= '0' && c <= '9' {
		base, digits := 10, q
		if h, ok := strings.CutPrefix(strings.ToLower(q), "0x"); ok {
			base, digits = 16, h
		}
		n, err := strconv.ParseUint(digits, base, 31)
		if err != nil {
			return Query{}, fmt.Errorf("not a syscall number: %q", q)
		}
		return Query{Number: int(n), IsNumber: true}, nil
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return Query{}, fmt.Errorf("not a syscall name or number: %q", q)
		}
	}
	return Query{Name: strings.ToLower(q)}, nil
}
