package e2e

import (
	"errors"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func pollT(d time.Duration, f func() bool) bool { return testbed.Poll(d, f) }
