// Package unitfile reads the seccomp-related assignments of a systemd unit from its unit file and
// drop-ins, with the file and line of each (go-systemd's unit parser gives the values; the line of each
// is found by counting the directive's occurrences), finds a unit's files under a root directory the
// way systemd's search paths do, validates unit names, and names the drop-in path `systemctl edit` uses.
package unitfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	pathpkg "path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/sysdiag/sysdiag/fixes"
)

// Directives sysdiag reads from [Service] (and the other exec sections): the syscall filter's, and those
// that install implicit seccomp filters (fixes.ImplicitDirectives).
var Directives = func() map[string]bool {
	m := map[string]bool{"SystemCallFilter": true, "SystemCallErrorNumber": true, "SystemCallArchitectures": true, "SystemCallLog": true}
	for _, d := range fixes.ImplicitDirectives {
		m[d] = true
	}
	return m
}()

var execSections = map[string]bool{"Service": true, "Socket": true, "Mount": true, "Swap": true}

// MaxFile bounds a unit file sysdiag reads.
const MaxFile = 1 << 20

// Parse returns the seccomp assignments of one unit file or drop-in, in order, each with its line.
func Parse(path string, content []byte) ([]fixes.Assignment, error) {
	if len(content) > MaxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFile)
	}
	opts, err := deserialize(content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	lines := directiveLines(content)
	seen := map[string]int{}
	var out []fixes.Assignment
	for _, o := range opts {
		if !Directives[o.Name] || !execSections[o.Section] {
			continue
		}
		key := o.Section + "/" + o.Name
		n := seen[key]
		seen[key]++
		line := 0
		if n < len(lines[key]) {
			line = lines[key][n]
		}
		val := strings.ReplaceAll(o.Value, "\\\n", " ") // a continued line is one value, as systemd joins it
		out = append(out, fixes.Assignment{Directive: o.Name, Value: strings.TrimSpace(val), File: path, Line: line})
	}
	return out, nil
}

// directiveLines maps "Section/Directive" to the line numbers where it is assigned, in order.
func directiveLines(content []byte) map[string][]int {
	out := map[string][]int{}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 64<<10), MaxFile)
	section, n, continued := "", 0, false
	for sc.Scan() {
		n++
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		wasContinued := continued
		continued = strings.HasSuffix(line, "\\")
		if wasContinued {
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]")
		default:
			if k, _, ok := strings.Cut(line, "="); ok {
				out[section+"/"+strings.TrimSpace(k)] = append(out[section+"/"+strings.TrimSpace(k)], n)
			}
		}
	}
	return out
}

// ReadAll reads the fragment and drop-ins (in systemd's order) and returns every assignment.
func ReadAll(fsys fs.FS, files []string) ([]fixes.Assignment, error) {
	var out []fixes.Assignment
	for _, f := range files {
		content, err := fs.ReadFile(fsys, strings.TrimPrefix(f, "/"))
		if err != nil {
			return nil, err
		}
		as, err := Parse(f, content)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	return out, nil
}

// SearchPaths are the unit directories of the system or user manager, highest priority first.
func SearchPaths(user bool, home string) []string {
	if user {
		// `systemd-analyze --user unit-paths` of 252 and 257, without the runtime directory's
		// (/run/user/UID/systemd/{user.control,transient,generator*,user}): sysdiag does not know the uid here.
		return []string{home + "/.config/systemd/user.control", home + "/.config/systemd/user", "/etc/xdg/systemd/user",
			"/etc/systemd/user", "/run/systemd/user", home + "/.local/share/systemd/user", "/usr/local/share/systemd/user",
			"/usr/share/systemd/user", "/usr/local/lib/systemd/user", "/usr/lib/systemd/user"}
	}
	// `systemd-analyze unit-paths` of 252 and 257 (Debian: split /lib included), highest priority first.
	return []string{"/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient",
		"/run/systemd/generator.early", "/etc/systemd/system", "/etc/systemd/system.attached", "/run/systemd/system",
		"/run/systemd/system.attached", "/run/systemd/generator", "/usr/local/lib/systemd/system", "/lib/systemd/system",
		"/usr/lib/systemd/system", "/run/systemd/generator.late"}
}

// ErrMasked says the unit is masked (its file links to /dev/null, or is empty): systemd refuses to load it.
var ErrMasked = errors.New("the unit is masked (linked to /dev/null)")

// Find locates a unit's fragment and drop-ins under root (an fs.FS of "/"), in load order, as systemd's
// unit loader does: the fragment from the highest-priority directory — the instance's own file, else its
// template's ("getty@tty1.service" → "getty@.service"); then the drop-ins of every NAME.d/*.conf among
// the type's ("service.d"), the dash prefixes' ("foo-.service.d" for "foo-bar.service", v246+), the
// template's and the unit's own, a file of a higher-priority directory masking one of the same name,
// sorted by file name. A fragment linked to /dev/null is ErrMasked.
func Find(fsys fs.FS, name string, user bool, home string) (fragment string, dropins []string, err error) {
	paths := SearchPaths(user, home)
	names := []string{name}
	if t, ok := template(name); ok {
		names = append(names, t)
	}
	for _, n := range names {
		for _, dir := range paths {
			p := filepath.Join(dir, n)
			rel := strings.TrimPrefix(p, "/")
			if target, err := fs.ReadLink(fsys, rel); err == nil && target == "/dev/null" {
				return "", nil, fmt.Errorf("%s: %w", p, ErrMasked)
			}
			fi, err := fs.Stat(fsys, rel)
			if err == nil && !fi.IsDir() {
				fragment = p
				break
			}
			if errors.Is(err, syscall.ELOOP) { // a link loop is not "no such file": say what it is
				return "", nil, fmt.Errorf("%s: a loop of symbolic links: %w", p, err)
			}
		}
		if fragment != "" {
			break
		}
	}
	if fragment == "" {
		return "", nil, fmt.Errorf("no unit file %s in %s: %w", name, strings.Join(paths, ", "), fs.ErrNotExist)
	}
	byName := map[string]string{}
	for i := len(paths) - 1; i >= 0; i-- { // lower priority first, so higher ones overwrite
		for _, d := range dropinDirs(name) {
			dir := filepath.Join(paths[i], d)
			entries, err := fs.ReadDir(fsys, strings.TrimPrefix(dir, "/"))
			if err != nil {
				continue
			}
			for _, e := range entries {
				if !strings.HasSuffix(e.Name(), ".conf") || e.IsDir() {
					continue
				}
				p := filepath.Join(dir, e.Name())
				rel := strings.TrimPrefix(p, "/")
				// A drop-in linked to /dev/null masks the lower-priority ones of its name; anything else
				// that is not a regular file (a FIFO, a socket, a dangling link) is skipped, as systemd
				// skips it, instead of failing the whole unit.
				if target, err := fs.ReadLink(fsys, rel); err == nil && target == "/dev/null" {
					byName[e.Name()] = ""
					continue
				}
				if fi, err := fs.Stat(fsys, rel); err != nil || !fi.Mode().IsRegular() {
					continue
				}
				byName[e.Name()] = p
			}
		}
	}
	names = names[:0]
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if byName[n] != "" {
			dropins = append(dropins, byName[n])
		}
	}
	return fragment, dropins, nil
}

// template is an instance's template: "getty@tty1.service" → "getty@.service".
func template(name string) (string, bool) {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at || at+1 == dot {
		return "", false
	}
	return name[:at+1] + name[dot:], true
}

// dropinDirs are the drop-in directory names of a unit, the most general first (the order only matters
// for files of the same name, which the later one wins): "service.d", each dash prefix "a-.service.d",
// "a-b-.service.d", the template's "a-b@.service.d", the unit's own.
func dropinDirs(name string) []string {
	dot := strings.LastIndexByte(name, '.')
	typ := name[dot+1:]
	base := name[:dot]
	out := []string{typ + ".d"}
	stem := base
	if at := strings.IndexByte(base, '@'); at >= 0 {
		stem = base[:at]
	}
	for i := 0; i < len(stem); i++ {
		if stem[i] == '-' && i > 0 {
			out = append(out, stem[:i+1]+"."+typ+".d")
		}
	}
	if t, ok := template(name); ok {
		out = append(out, t+".d")
	}
	return append(out, name+".d")
}

var unitTypes = map[string]bool{"service": true, "socket": true, "mount": true, "swap": true, "target": true,
	"timer": true, "path": true, "slice": true, "scope": true, "device": true, "automount": true}

// Name validates a unit name as systemd does (unit_name_is_valid) and adds ".service" to a bare name,
// as systemctl does.
func Name(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty unit name")
	}
	if i := strings.LastIndexByte(s, '.'); i < 0 || !unitTypes[s[i+1:]] {
		s += ".service"
	}
	if len(s) > 255 {
		return "", fmt.Errorf("unit name too long")
	}
	base := s[:strings.LastIndexByte(s, '.')]
	if base == "" || strings.Count(s, "@") > 1 {
		return "", fmt.Errorf("invalid unit name %q", s)
	}
	for _, c := range base {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":-_.\\@", c)) {
			return "", fmt.Errorf("invalid unit name %q: %q is not allowed", s, c)
		}
	}
	return s, nil
}

// DropInDir is where `systemctl [--user] edit UNIT` puts drop-ins.
func DropInDir(name string, user bool, home string) string {
	if user {
		return filepath.Join(home, ".config/systemd/user", name+".d")
	}
	return filepath.Join("/etc/systemd/system", name+".d")
}

// DropInName is sysdiag's drop-in file name: it sorts after the usual names, so its relaxation comes
// after the lines it relaxes.
const DropInName = "zz-sysdiag.conf"

// TrialDropinName is the runtime drop-in of a trial (internal/trial writes it; the unit's files name it
// when a trial is running or was left by a crash).
const TrialDropinName = "zz-sysdiag-trial.conf"

// Marker starts every file sysdiag writes; sysdiag overwrites no file without it.
const Marker = "# written by sysdiag"

// WriteDropIn writes content to path on this host (path as WriteDropInUnder takes it, root "/").
func WriteDropIn(path, content string) error { return WriteDropInUnder("", path, content) }

// WriteDropInUnder writes content as the file path (absolute, as the target host names it:
// "/etc/systemd/system/U.service.d/zz-sysdiag.conf") inside the tree root — "" is this host's "/" —
// atomically (temporary file + rename), creating the directory, refusing to replace a file sysdiag did
// not write.
//
// Writes are confined like reads: the directory is resolved chroot-style inside the tree (an absolute
// link names the tree's file, ".." stops at its top) and every step goes through os.Root, so a link
// swapped during the write cannot leave the tree either. A drop-in directory that is, or passes through,
// a symbolic link is followed only when it lands inside a systemd configuration directory: the tree's
// /etc/systemd, /run/systemd, or the first ".../systemd" directory of path itself (a user's
// ~/.config/systemd); anything else is refused with an error, as is a target that is itself a link or
// not a regular file.
func WriteDropInUnder(root, path, content string) error {
	if root == "" {
		root = "/"
	}
	rel := strings.TrimLeft(filepath.ToSlash(filepath.Clean("/"+path)), "/")
	if rel == "" || !fs.ValidPath(rel) {
		return fmt.Errorf("%s: not a file path", path)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	dir, base := pathpkg.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	resolved, err := chase(r.Readlink, dir, true)
	if err != nil {
		return fmt.Errorf("%s: %w", pathpkg.Join(root, dir), err)
	}
	if resolved != dir { // a link on the way: it must land in a systemd configuration directory
		var allowed, said []string
		for _, a := range allowedDirs(dir) {
			ra, _ := chase(r.Readlink, a, true) // such a directory may itself be a link: where it leads counts
			allowed = append(allowed, a, ra)
			said = append(said, "/"+a)
		}
		if !insideAny(resolved, allowed) {
			return fmt.Errorf("%s leads through a symbolic link to %s, outside the systemd configuration directories (%s): not writing through it",
				shown(root, dir), shown(root, resolved), strings.Join(said, ", "))
		}
	}
	if resolved == "" {
		return fmt.Errorf("%s: not a file path", path)
	}
	if err := r.MkdirAll(resolved, 0o755); err != nil {
		return err
	}
	target := pathpkg.Join(resolved, base)
	if fi, err := r.Lstat(target); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s exists and is not a regular file (%s): not replacing it", shown(root, target), fi.Mode().Type())
		}
		f, err := r.OpenFile(target, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		head := make([]byte, len(Marker))
		n, _ := io.ReadFull(f, head)
		f.Close()
		if !bytes.Equal(head[:n], []byte(Marker)) {
			return fmt.Errorf("%s exists and was not written by sysdiag: not replacing it", shown(root, target))
		}
	}
	return writeAtomicIn(r, resolved, base, []byte(content))
}

// allowedDirs are where a drop-in directory under dir may lead through a link: the tree's /etc/systemd
// and /run/systemd, and the first ".../systemd" directory of dir itself (~/.config/systemd,
// /run/user/UID/systemd).
func allowedDirs(dir string) []string {
	out := []string{"etc/systemd", "run/systemd"}
	parts := strings.Split(dir, "/")
	for i, p := range parts {
		if p == "systemd" {
			if own := strings.Join(parts[:i+1], "/"); !slices.Contains(out, own) {
				out = append(out, own)
			}
			break
		}
	}
	return out
}

func insideAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func shown(root, rel string) string {
	if root == "/" {
		return "/" + rel
	}
	return filepath.Join(root, rel)
}

// writeAtomicIn writes dir/name inside r by a temporary file, synced and renamed over it.
func writeAtomicIn(r *os.Root, dir, name string, content []byte) error {
	var tmp string
	var f *os.File
	for i := 0; ; i++ {
		tmp = pathpkg.Join(dir, fmt.Sprintf(".sysdiag-%d-%d.tmp", os.Getpid(), i))
		var err error
		f, err = r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return err
		}
	}
	defer r.Remove(tmp)
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return r.Rename(tmp, pathpkg.Join(dir, name))
}

// WriteFileAtomic writes a file by a temporary file in its directory (made if needed), synced and
// renamed over it: a reader sees the old content or the new, never a part. It is for sysdiag's own
// files (the scan cache), in a directory the user named; drop-ins go through WriteDropInUnder.
func WriteFileAtomic(path string, content []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return writeAtomicIn(r, ".", filepath.Base(path), content)
}

// HomeOf returns uid's home directory from the content of an /etc/passwd ("" if uid has no line).
func HomeOf(passwd []byte, uid int) string {
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 7 && f[2] == fmt.Sprint(uid) {
			return f[5]
		}
	}
	return ""
}

// deserialize reads a unit file's options with go-systemd's parser. That parser refuses any line over
// 2048 bytes (its SYSTEMD_LINE_MAX), while systemd reads lines up to LONG_LINE_MAX (1 MiB): a long
// SystemCallFilter= line is common in generated units. For such a file, the same grammar is read here —
// sections, "Key=Value", "#"/";" comments, a trailing backslash continuing the value.
func deserialize(content []byte) ([]*unit.UnitOption, error) {
	opts, err := unit.DeserializeOptions(bytes.NewReader(content))
	if !errors.Is(err, unit.ErrLineTooLong) {
		return opts, err
	}
	var out []*unit.UnitOption
	section := ""
	var cur *unit.UnitOption
	for _, raw := range strings.Split(string(content), "\n") {
		line := strings.TrimRight(raw, "\r")
		if cur != nil { // a continuation of the previous value
			t := strings.TrimSpace(line)
			if strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
				continue
			}
			more := strings.HasSuffix(t, "\\")
			cur.Value = strings.TrimSpace(cur.Value) + " " + strings.TrimSpace(strings.TrimSuffix(t, "\\"))
			if !more {
				cur = nil
			}
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case t == "" || t[0] == '#' || t[0] == ';':
		case t[0] == '[':
			if !strings.HasSuffix(t, "]") {
				return nil, fmt.Errorf("bad section header %q", t)
			}
			section = t[1 : len(t)-1]
		default:
			k, v, ok := strings.Cut(t, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("not an assignment: %.40q", t)
			}
			o := &unit.UnitOption{Section: section, Name: strings.TrimSpace(k), Value: strings.TrimSpace(v)}
			if strings.HasSuffix(o.Value, "\\") {
				o.Value = strings.TrimSpace(strings.TrimSuffix(o.Value, "\\"))
				cur = o
			}
			out = append(out, o)
		}
	}
	return out, nil
}
