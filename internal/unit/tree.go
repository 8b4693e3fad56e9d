package unit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/sysdiag/sysdiag/internal/unitfile"
)

// Tree reads units from the files under Dir — a copy of another machine's / (a --root tree), or "/" —
// by systemd's search and drop-in rules (unitfile.Find), every link resolved inside the tree.
type Tree struct {
	Dir string
	// Home is the home directory a user unit is looked up under: its user's. "" is the caller's own
	// for "/", else /root.
	Home string
}

// home is the home a user unit of the tree is looked up under.
func (t Tree) home() string {
	if t.Home != "" {
		return t.Home
	}
	if t.Dir == "/" {
		if h, err := os.UserHomeDir(); err == nil {
			return h
		}
	}
	return "/root"
}

// ForManager is the tree for a unit of the user manager named manager (user@UID.service, as a kill's
// record names it): that user's home from the tree's /etc/passwd, where it is there — another user's
// unit lives under that user's ~/.config/systemd/user, not the caller's.
func (t Tree) ForManager(manager string) Tree {
	if uid, ok := ManagerUID(manager); ok {
		if h := HomeOf(t.Dir, uid); h != "" {
			t.Home = h
		}
	}
	return t
}

// Load reads the unit's fragment and drop-ins. A unit with no file is NotFound.
func (t Tree) Load(name string, user bool) (*Unit, error) {
	fsys, err := unitfile.OpenRoot(t.Dir)
	if err != nil {
		return nil, failure(err, "")
	}
	defer fsys.Close()
	home := t.home()
	frag, dropins, err := unitfile.Find(fsys, name, user, home)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound(err, "")
		}
		return nil, failure(err, "")
	}
	u := &Unit{Name: name, User: user, Files: append([]string{frag}, dropins...), Home: home}
	u.Assigns, err = unitfile.ReadAll(fsys, u.Files)
	if err != nil {
		return nil, failure(err, "")
	}
	return u, nil
}

// Programs returns a finder of the executables of a unit's commands (unitfile.Commands, then
// unitfile.Programs, in the tree): own's from its own files, any other unit's from its files in the
// tree. It tells apart the kills of units that died in the same second. Each answer is remembered;
// a unit that cannot be read names no program.
func (t Tree) Programs(own *Unit) func(name string, user bool) []string {
	fsys, err := unitfile.OpenRoot(t.Dir)
	if err != nil {
		return func(string, bool) []string { return nil }
	}
	home := t.home()
	var mu sync.Mutex
	memo := map[string][]string{}
	return func(name string, user bool) []string {
		mu.Lock()
		defer mu.Unlock()
		key := fmt.Sprintf("%s/%v", name, user)
		if p, ok := memo[key]; ok {
			return p
		}
		var files []string
		if own != nil && name == own.Name && user == own.User {
			files = own.Files
		} else {
			frag, dropins, err := unitfile.Find(fsys, name, user, home)
			if err != nil {
				memo[key] = nil
				return nil
			}
			files = append([]string{frag}, dropins...)
		}
		cmds, err := unitfile.Commands(fsys, files)
		if err != nil {
			memo[key] = nil
			return nil
		}
		memo[key] = unitfile.Programs(fsys, cmds)
		return memo[key]
	}
}

// HomeOf finds the home directory of uid in the /etc/passwd of the tree dir ("" when it is not there).
func HomeOf(dir string, uid int) string {
	fsys, err := unitfile.OpenRoot(dir)
	if err != nil {
		return ""
	}
	defer fsys.Close()
	raw, err := fsys.ReadFile("etc/passwd")
	if err != nil {
		return ""
	}
	return unitfile.HomeOf(raw, uid)
}

// ManagerUID reads the uid out of a user manager's unit name, user@UID.service.
func ManagerUID(manager string) (int, bool) {
	s, ok := strings.CutPrefix(manager, "user@")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".service")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}
