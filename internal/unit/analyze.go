package unit

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"time"

	"github.com/sysdiag/sysdiag/syscalls"
)

// AnalyzeOffline runs this machine's systemd-analyze on the tree under root (systemd's own loader:
// --offline=true --root=DIR security --json=short) and returns the SystemCallFilter=~@… rows it shows
// for the unit (id → set) and its major version; an error when it is not installed or fails. Its two
// processes cost more than the rest of why: a command runs it only when asked (--cross-check).
func AnalyzeOffline(root, unit string) (map[string]bool, int, error) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ver, err := exec.CommandContext(ctx, sa, "--version").Output()
	if err != nil {
		return nil, 0, err
	}
	v, err := syscalls.ParseVersion(strings.SplitN(string(ver), "\n", 2)[0])
	if err != nil {
		return nil, 0, err
	}
	out, err := exec.CommandContext(ctx, sa, "--offline=true", "--root="+root, "security", "--json=short", "--no-pager", "--", unit).Output()
	if err != nil {
		return nil, 0, err
	}
	rows, err := filterRows(out)
	return rows, v.Major, err
}

// filterRows reads the SystemCallFilter=~@… rows of systemd-analyze security --json=short: id → set (a
// row with no "set" is left out).
func filterRows(out []byte) (map[string]bool, error) {
	var rows []struct {
		Name string `json:"name"`
		Set  *bool  `json:"set"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, r := range rows {
		if strings.HasPrefix(r.Name, "SystemCallFilter=~") && r.Set != nil {
			m[r.Name] = *r.Set
		}
	}
	return m, nil
}
