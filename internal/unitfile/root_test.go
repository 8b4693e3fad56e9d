package unitfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A --root tree is read as its host's "/": links resolve inside it, never on this machine.
func TestRootKeepsLinksInside(t *testing.T) {
	dir := t.TempDir()
	mk := func(p, content string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc/hostname", "tree\n")
	link("a/abs", "/etc/hostname")                    // absolute: the tree's /etc/hostname
	link("a/up", "../../../../../../../etc/hostname") // climbs past the top: stops there
	link("a/host", "/etc/os-release")                 // the tree has none: not this machine's either
	link("a/loop1", "loop2")
	link("a/loop2", "loop1")
	link("a/dir", "/etc")
	link("m.service", "/dev/null")
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, p := range []string{"a/abs", "a/up", "a/dir/hostname"} {
		if b, err := fs.ReadFile(r, p); err != nil || string(b) != "tree\n" {
			t.Errorf("%s: %q %v, want the tree's file", p, b, err)
		}
	}
	if _, err := fs.ReadFile(r, "a/host"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a link to a file only this machine has: %v, want not found", err)
	}
	if _, err := fs.ReadFile(r, "a/loop1"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("a loop: %v", err)
	}
	if target, err := fs.ReadLink(r, "m.service"); err != nil || target != "/dev/null" {
		t.Errorf("a mask's link: %q %v", target, err)
	}
	done := make(chan error, 1)
	go func() { _, err := fs.ReadFile(r, "fifo"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a FIFO read as a file")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO in the tree hangs")
	}
	if _, err := fs.ReadFile(r, "../etc/hostname"); err == nil {
		t.Error("an invalid fs path was read")
	}
}
