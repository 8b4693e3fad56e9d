package unitfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// Root is a directory read as another host's "/" (a --root tree): every symbolic link, absolute or
// relative, resolves inside it, as systemd's chase() with CHASE_PREFIX_ROOT does for `--root=` — an
// absolute link "/usr/lib/systemd/system/x.service" in the tree names the tree's file, never the host's,
// and ".." stops at the tree's top. The final open goes through os.Root, so a link swapped while it is
// read cannot leave the tree either. It implements fs.FS, fs.StatFS, fs.ReadDirFS, fs.ReadFileFS and
// fs.ReadLinkFS.
type Root struct {
	r *os.Root
}

// OpenRoot opens dir as a root. The caller closes it.
func OpenRoot(dir string) (*Root, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Root{r: r}, nil
}

// Close releases the tree.
func (r *Root) Close() error { return r.r.Close() }

const maxLinks = 40 // systemd's CHASE_MAX, the kernel's MAXSYMLINKS

// resolve turns name (slash-separated, relative to the tree's top, as fs.FS names are) into the tree's
// path with no symbolic link left in it, following the last element's link too when last is set.
func (r *Root) resolve(op, name string, last bool) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	done, err := chase(r.r.Readlink, name, last)
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	if done == "" {
		done = "."
	}
	return done, nil
}

// chase resolves the symbolic links of name (relative to a tree's top) with readlink, chroot-style: an
// absolute target starts again from the top, ".." stops there, at most maxLinks links (then ELOOP, with
// the path resolved so far). A component readlink fails on is taken as it is (not a link, or not there:
// the open that follows says so). The result is relative ("" is the top).
func chase(readlink func(string) (string, error), name string, last bool) (string, error) {
	todo := strings.Split(name, "/")
	done := ""
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			done = parent(done)
			continue
		}
		next := path.Join(done, c)
		if len(todo) == 0 && !last {
			done = next
			break
		}
		target, err := readlink(next)
		if err != nil {
			done = next // not a link, or not there
			continue
		}
		if links++; links > maxLinks {
			return done, syscall.ELOOP
		}
		if strings.HasPrefix(target, "/") {
			done = "" // absolute: from the tree's top
		}
		todo = append(strings.Split(strings.TrimLeft(target, "/"), "/"), todo...)
	}
	return done, nil
}

func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func (r *Root) Open(name string) (fs.File, error) {
	p, err := r.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: a FIFO planted in a hostile tree must not hang the read (it fails as not regular).
	return r.r.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

func (r *Root) Stat(name string) (fs.FileInfo, error) {
	p, err := r.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return r.r.Stat(p)
}

func (r *Root) Lstat(name string) (fs.FileInfo, error) {
	p, err := r.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return r.r.Lstat(p)
}

// ReadLink reads name's own link (not followed): a mask's "/dev/null" as written.
func (r *Root) ReadLink(name string) (string, error) {
	p, err := r.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	return r.r.Readlink(p)
}

func (r *Root) ReadFile(name string) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("not a regular file")}
	}
	return readAllBounded(f, name)
}

func (r *Root) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, ok := f.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	es, err := d.ReadDir(-1)
	sortEntries(es)
	return es, err
}

func readAllBounded(f io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFile {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("larger than %d bytes", MaxFile)}
	}
	return b, nil
}

func sortEntries(es []fs.DirEntry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
}
