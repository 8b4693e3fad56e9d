package trial

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
	"golang.org/x/sys/unix"
)

// LocalFiles is Files on this machine's file system.
type LocalFiles struct{}

var _ Files = LocalFiles{}

func (LocalFiles) ReadFile(path string) ([]byte, error)   { return os.ReadFile(path) }
func (LocalFiles) WriteDropIn(path, content string) error { return unitfile.WriteDropIn(path, content) }
func (LocalFiles) WriteFile(path string, data []byte) error {
	return os.WriteFile(path, data, 0o644)
}
func (LocalFiles) Remove(path string) error { return os.Remove(path) }

func (LocalFiles) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names, err
}

func (LocalFiles) Create(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, werr := fd.WriteString(content)
	if cerr := fd.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
	}
	return werr
}

// RunningKernel is this machine's kernel release as major.point (ParseKernel; zero when uname fails).
func RunningKernel() syscalls.Version {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return syscalls.Version{}
	}
	return ParseKernel(unix.ByteSliceToString(u.Release[:]))
}

// RuntimeDir is the calling user's runtime directory, where a --user trial's drop-in goes:
// $XDG_RUNTIME_DIR, else /run/user/UID.
func RuntimeDir() string {
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		return rt
	}
	return fmt.Sprintf("/run/user/%d", os.Getuid())
}
