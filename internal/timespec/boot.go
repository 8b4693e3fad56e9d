package timespec

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// BootTime is when the machine whose /proc is proc booted: the btime line of proc's stat.
func BootTime(proc fs.FS) (time.Time, error) {
	raw, err := fs.ReadFile(proc, "stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, errors.New("stat: malformed btime line")
			}
			return time.Unix(n, 0), nil
		}
	}
	return time.Time{}, errors.New("stat: no btime line")
}
