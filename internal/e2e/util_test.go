package e2e

import (
	"errors"
	"sort"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func pollT(d time.Duration, f func() bool) bool { return testbed.Poll(d, f) }

func sortStrings(s []string) { sort.Strings(s) }

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 && s[i] != '\t' {
			return false
		}
	}
	return true
}
