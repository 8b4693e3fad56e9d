package unit

import (
	"context"
	"io"
	"io/fs"
	"os/exec"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Local is the machine sysdiag runs on, as the table choice consults it. ThisMachine is the real one;
// tests give their own.
type Local interface {
	// SystemdVersion is the installed systemd's version; ok is false without one.
	SystemdVersion() (v syscalls.Version, ok bool)
	// OpenTree opens a --root tree as a file system of its "/" (closed after use if it is an io.Closer).
	OpenTree(dir string) (fs.FS, error)
}

// ThisMachine is the machine sysdiag runs on: `systemctl --version`, and trees opened with
// unitfile.OpenRoot (every link resolved inside the tree).
func ThisMachine() Local { return thisMachine{} }

type thisMachine struct{}

// SystemdVersion asks the installed systemctl ("systemd 252 (252.38-1~deb12u1)").
func (thisMachine) SystemdVersion() (syscalls.Version, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", "--version").Output()
	if err != nil {
		return syscalls.Version{}, false
	}
	first, _, _ := strings.Cut(string(out), "\n")
	v, err := syscalls.ParseVersion(first)
	if err != nil {
		return syscalls.Version{}, false
	}
	return v, true
}

func (thisMachine) OpenTree(dir string) (fs.FS, error) { return unitfile.OpenRoot(dir) }

// TreeVersion reads the systemd version a copy of a machine's / names: its dpkg status (Debian, Ubuntu:
// the exact package version), else the major version in the name of its libsystemd-shared-NNN.so. from
// is the file it came from, relative to the tree.
func TreeVersion(tree fs.FS) (v syscalls.Version, from string, ok bool) {
	if raw, err := fs.ReadFile(tree, "var/lib/dpkg/status"); err == nil {
		for _, stanza := range strings.Split(string(raw), "\n\n") {
			if !strings.HasPrefix(stanza, "Package: systemd\n") {
				continue
			}
			for _, l := range strings.Split(stanza, "\n") {
				if s, ok := strings.CutPrefix(l, "Version: "); ok {
					if ver, err := syscalls.ParseVersion(strings.TrimSpace(s)); err == nil {
						return ver, "var/lib/dpkg/status", true
					}
				}
			}
		}
	}
	for _, dir := range []string{"usr/lib/systemd", "lib/systemd", "usr/lib/x86_64-linux-gnu/systemd", "usr/lib64/systemd"} {
		matches, _ := fs.Glob(tree, dir+"/libsystemd-shared-*.so")
		for _, m := range matches {
			n := strings.TrimSuffix(strings.TrimPrefix(path.Base(m), "libsystemd-shared-"), ".so")
			if ver, err := syscalls.ParseVersion(n); err == nil {
				return ver, m, true
			}
		}
	}
	return syscalls.Version{}, "", false
}

// From names where a host's systemd version came from.
type From string

const (
	FromFlag    From = "flag"    // --systemd-version
	FromManager From = "manager" // the running manager's Version property
	FromJournal From = "journal" // the host's journal: its manager's start-up line
	FromTree    From = "tree"    // the --root tree's package files
	FromLocal   From = "local"   // this machine's systemctl
	FromNewest  From = "newest"  // nothing named one: the newest table
)

// Choice is what a host's units are read with: the group table of its systemd, where its version came
// from and why that table (Note, for a person), and which syscall names its manager resolves (Known:
// this machine's libseccomp for a unit of this machine's running manager; nil — every name in sysdiag's
// tables — for a tree or another host).
type Choice struct {
	Table syscalls.Table
	From  From
	Note  string
	Known fixes.Known
}

// Target is what is known of a host, for the choice; the first of these that names a version wins.
type Target struct {
	Flag    string // --systemd-version for the host
	Unit    *Unit  // a unit read from the host's running manager, which named its version (State.HaveVer)
	Journal string // the version the host's journal names (its manager's start-up line)
	Root    string // the host's --root tree
	// Here: the unit is this machine's, read from its running manager or its own files (no tree): its
	// manager resolves names with this machine's libseccomp.
	Here bool
}

// Chooser chooses each host's table, consulting this machine once: the local systemd's version is
// asked for once, each tree's read once, and each choice made once.
type Chooser struct {
	local Local

	mu       sync.Mutex
	asked    bool
	localVer syscalls.Version
	haveLoc  bool
	trees    map[string]treeVer
	choices  map[choiceKey]Choice
}

type treeVer struct {
	v    syscalls.Version
	from string
	ok   bool
}

type choiceKey struct {
	flag, manager, journal, root string
	here                         bool
}

// NewChooser returns a chooser that consults local.
func NewChooser(local Local) *Chooser {
	return &Chooser{local: local, trees: map[string]treeVer{}, choices: map[choiceKey]Choice{}}
}

// Choose picks the group table for t: --systemd-version, else the manager's version, else the one its
// journal names, else (with a tree) the tree's own, else this machine's systemd, else the newest table.
// A flag that is not a version is BadInput.
func (c *Chooser) Choose(t Target) (Choice, error) {
	k := choiceKey{flag: t.Flag, journal: t.Journal, root: t.Root, here: t.Here && t.Root == ""}
	if t.Unit != nil && t.Unit.HaveVer {
		k.manager = t.Unit.Version.String()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.choices[k]; ok {
		return ch, nil
	}
	ch, err := c.choose(t)
	if err != nil {
		return Choice{}, err
	}
	if k.here {
		ch.Known = fixes.LibseccompKnows // the manager here resolves names with this libseccomp
	}
	c.choices[k] = ch
	return ch, nil
}

func (c *Chooser) choose(t Target) (Choice, error) {
	if t.Flag != "" {
		v, err := syscalls.ParseVersion(t.Flag)
		if err != nil {
			return Choice{}, badInput(err, versionHint)
		}
		tb := syscalls.Select(v)
		return Choice{Table: tb, From: FromFlag, Note: tb.Note()}, nil
	}
	if u := t.Unit; u != nil && u.HaveVer {
		tb := syscalls.Select(u.Version)
		return Choice{Table: tb, From: FromManager, Note: "the manager's " + tb.Note()}, nil
	}
	if v, err := syscalls.ParseVersion(t.Journal); t.Journal != "" && err == nil {
		tb := syscalls.Select(v)
		return Choice{Table: tb, From: FromJournal, Note: "the host's journal's (its manager started as systemd " + t.Journal + ") " + tb.Note()}, nil
	}
	if t.Root != "" {
		if tv := c.tree(t.Root); tv.ok {
			tb := syscalls.Select(tv.v)
			return Choice{Table: tb, From: FromTree, Note: "the tree's (" + tv.from + ") " + tb.Note()}, nil
		}
		ch := c.fallback()
		ch.Note = "the tree names no systemd version, so " + ch.Note + " — pass --systemd-version with the target's"
		return ch, nil
	}
	return c.fallback(), nil
}

// fallback is the local systemd's table, else the newest.
func (c *Chooser) fallback() Choice {
	if !c.asked {
		c.localVer, c.haveLoc = c.local.SystemdVersion()
		c.asked = true
	}
	if c.haveLoc {
		tb := syscalls.Select(c.localVer)
		return Choice{Table: tb, From: FromLocal, Note: "local " + tb.Note()}
	}
	tb := syscalls.Latest()
	tb.Requested = syscalls.Version{Major: tb.Version().Major, Point: tb.Version().Point}
	return Choice{Table: tb, From: FromNewest, Note: "no local systemd found; using the newest table, v" + tb.Label() + " (pass --systemd-version)"}
}

// tree reads a tree's version once.
func (c *Chooser) tree(dir string) treeVer {
	if tv, ok := c.trees[dir]; ok {
		return tv
	}
	var tv treeVer
	if fsys, err := c.local.OpenTree(dir); err == nil {
		tv.v, tv.from, tv.ok = TreeVersion(fsys)
		if cl, ok := fsys.(io.Closer); ok {
			cl.Close()
		}
	}
	c.trees[dir] = tv
	return tv
}

// LocalVersion is the local systemd's version as the chooser saw it (asked at most once).
func (c *Chooser) LocalVersion() (syscalls.Version, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.asked {
		c.localVer, c.haveLoc = c.local.SystemdVersion()
		c.asked = true
	}
	return c.localVer, c.haveLoc
}
