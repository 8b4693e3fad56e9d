package unit

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// fakeMachine is a Local with a given systemd (or none) and trees in memory; it counts what it is asked.
type fakeMachine struct {
	version    string // "" no systemd
	trees      map[string]fstest.MapFS
	disk       bool // other trees from the disk
	asked      int
	treeOpened map[string]int
}

func (m *fakeMachine) SystemdVersion() (syscalls.Version, bool) {
	m.asked++
	if m.version == "" {
		return syscalls.Version{}, false
	}
	v, err := syscalls.ParseVersion(m.version)
	return v, err == nil
}

func (m *fakeMachine) OpenTree(dir string) (fs.FS, error) {
	if m.treeOpened == nil {
		m.treeOpened = map[string]int{}
	}
	m.treeOpened[dir]++
	t, ok := m.trees[dir]
	if !ok && m.disk {
		return unitfile.OpenRoot(dir)
	}
	if !ok {
		return nil, fs.ErrNotExist
	}
	return t, nil
}

var dpkgStatus = "Package: libsystemd0\nVersion: 257.1-1\n\nPackage: systemd\nStatus: install ok installed\nVersion: 252.38-1~deb12u1\n\n"

func TestTreeVersion(t *testing.T) {
	for _, c := range []struct {
		name       string
		tree       fstest.MapFS
		want, from string
	}{
		{"dpkg", fstest.MapFS{"var/lib/dpkg/status": {Data: []byte(dpkgStatus)}}, "252.38-1~deb12u1", "var/lib/dpkg/status"},
		{"shared library", fstest.MapFS{"usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-255.so": {}}, "255", "usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-255.so"},
		{"dpkg without systemd, then the library", fstest.MapFS{"var/lib/dpkg/status": {Data: []byte("Package: bash\nVersion: 5.2\n")},
			"usr/lib/systemd/libsystemd-shared-257.so": {}}, "257", "usr/lib/systemd/libsystemd-shared-257.so"},
		{"nothing", fstest.MapFS{"etc/hostname": {Data: []byte("x\n")}}, "", ""},
	} {
		v, from, ok := TreeVersion(c.tree)
		if ok != (c.want != "") || ok && (v.String() != c.want || from != c.from) {
			t.Errorf("%s: %v from %q (%v), want %q from %q", c.name, v, from, ok, c.want, c.from)
		}
	}
}

func TestChoose(t *testing.T) {
	trees := map[string]fstest.MapFS{
		"/srv/deb12": {"var/lib/dpkg/status": {Data: []byte(dpkgStatus)}},
		"/srv/bare":  {"etc/hostname": {Data: []byte("bare\n")}},
	}
	managed := &Unit{Name: "a.service", State: State{Live: true, Version: mustVersion(t, "257.9"), HaveVer: true}}
	newest := syscalls.Latest().Label()
	for _, c := range []struct {
		name   string
		local  string
		target Target
		from   From
		note   string
		known  bool
	}{
		{"the flag wins", "255.4", Target{Flag: "252.39", Unit: managed, Journal: "257", Root: "/srv/deb12"}, FromFlag,
			"systemd 252.39: table v252.39-debian", false},
		{"the manager's", "255.4", Target{Unit: managed, Journal: "252", Here: true}, FromManager,
			"the manager's systemd 257.9 has no table of its own; using the nearest lower one, v257", true},
		{"a unit from files names no version", "", Target{Unit: &Unit{Name: "a.service"}, Journal: "252.39"}, FromJournal,
			"the host's journal's (its manager started as systemd 252.39) systemd 252.39: table v252.39-debian", false},
		{"the tree's", "255.4", Target{Root: "/srv/deb12"}, FromTree,
			"the tree's (var/lib/dpkg/status) systemd 252.38-1~deb12u1: table v252.38-debian", false},
		{"a tree without a version, a local systemd", "255.4", Target{Root: "/srv/bare"}, FromLocal,
			"the tree names no systemd version, so local systemd 255.4 has no table of its own; using the nearest lower one, v255 — pass --systemd-version with the target's", false},
		{"a tree without a version, no local systemd", "", Target{Root: "/srv/bare"}, FromNewest,
			"the tree names no systemd version, so no local systemd found; using the newest table, v" + newest + " (pass --systemd-version) — pass --systemd-version with the target's", false},
		{"a tree that cannot be opened", "252", Target{Root: "/srv/none"}, FromLocal,
			"the tree names no systemd version, so local systemd 252: table v252 — pass --systemd-version with the target's", false},
		{"local", "252.39", Target{Here: true}, FromLocal, "local systemd 252.39: table v252.39-debian", true},
		{"newest", "", Target{}, FromNewest, "no local systemd found; using the newest table, v" + newest + " (pass --systemd-version)", false},
		{"a journal's version that is not one", "", Target{Journal: "garbage"}, FromNewest, "no local systemd found; using the newest table, v" + newest + " (pass --systemd-version)", false},
		{"a tree is never this machine's manager", "", Target{Flag: "252", Root: "/srv/deb12", Here: true}, FromFlag, "systemd 252: table v252", false},
	} {
		m := &fakeMachine{version: c.local, trees: trees}
		ch, err := NewChooser(m).Choose(c.target)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if ch.From != c.from || ch.Note != c.note || (ch.Known != nil) != c.known {
			t.Errorf("%s:\n got %s %q known=%v\nwant %s %q known=%v", c.name, ch.From, ch.Note, ch.Known != nil, c.from, c.note, c.known)
		}
		if ch.Table.Requested.String() == "" {
			t.Errorf("%s: no requested version", c.name)
		}
	}
}

func TestChooseOnce(t *testing.T) {
	m := &fakeMachine{version: "255.4", trees: map[string]fstest.MapFS{"/srv/bare": {}}}
	c := NewChooser(m)
	for range 3 {
		if _, err := c.Choose(Target{Root: "/srv/bare"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Choose(Target{Journal: "garbage"}); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok := c.LocalVersion(); !ok || v.String() != "255.4" {
		t.Errorf("LocalVersion: %v %v", v, ok)
	}
	if m.asked != 1 || m.treeOpened["/srv/bare"] != 1 {
		t.Errorf("systemctl asked %d times, the tree opened %d times; want once each", m.asked, m.treeOpened["/srv/bare"])
	}
}

func TestChooseBadFlag(t *testing.T) {
	_, err := NewChooser(&fakeMachine{}).Choose(Target{Flag: "two-five-two"})
	var e *Error
	if KindOf(err) != BadInput || !asError(err, &e) || e.Hint != versionHint {
		t.Errorf("a flag that is no version: %v (%v), want bad input with the hint", err, KindOf(err))
	}
}

func mustVersion(t *testing.T, s string) syscalls.Version {
	t.Helper()
	v, err := syscalls.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func asError(err error, e **Error) bool { return errors.As(err, e) }
