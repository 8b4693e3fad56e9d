package dist

import (
	"runtime/debug"
	"strings"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Version is the module version and VCS revision the binary was built from.
func Version(release string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if release != "" {
		v = release // stamped by scripts/package.sh (-ldflags -X main.release=…)
	}
	parts := []string{v}
	if rev != "" && !strings.Contains(v, rev) {
		parts = append(parts, "("+rev+dirty+")")
	}
	var labels []string
	for _, t := range syscalls.Tables() {
		labels = append(labels, "v"+t.Label())
	}
	return strings.Join(parts, " ") + "\ngroup tables: " + strings.Join(labels, " ")
}
