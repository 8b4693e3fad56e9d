package trial

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// LocalFiles.Create is the trial's lock: it creates the directory, refuses a file that is there
// (fs.ErrExist, the file untouched), and ReadDir names what is in a directory.
func TestLocalFilesCreate(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "a.service.d", DropinName)
	var f LocalFiles
	if err := f.Create(lock, "first\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Create(lock, "second\n"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create: %v, want fs.ErrExist", err)
	}
	if b, err := f.ReadFile(lock); err != nil || string(b) != "first\n" {
		t.Errorf("lock holds %q, %v", b, err)
	}
	if names, err := f.ReadDir(filepath.Dir(lock)); err != nil || !slices.Equal(names, []string{DropinName}) {
		t.Errorf("ReadDir: %v, %v", names, err)
	}
	if err := f.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Remove: %v", err)
	}
}

func TestRuntimeDir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1234")
	if got := RuntimeDir(); got != "/run/user/1234" {
		t.Errorf("RuntimeDir() = %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got, want := RuntimeDir(), fmt.Sprintf("/run/user/%d", os.Getuid()); got != want {
		t.Errorf("RuntimeDir() = %q, want %q", got, want)
	}
}
