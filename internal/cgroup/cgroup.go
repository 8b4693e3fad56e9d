// Package cgroup attributes a process to its systemd unit from its cgroup path, the way systemd names
// them: the innermost "*.service"/"*.scope"/… component; below a user manager (user@UID.service) the unit is
// a user unit of that manager.
package cgroup

import (
	"bufio"
	"bytes"
	"strings"
)

// Unit is the attribution of one cgroup path.
type Unit struct {
	Name    string // "" when the path names no unit
	User    bool   // Name is a unit of a user manager
	Manager string // the user manager (user@UID.service) for a user unit
}

var unitSuffixes = []string{".service", ".scope", ".socket", ".mount", ".swap"}

func isUnit(c string) bool {
	for _, s := range unitSuffixes {
		if strings.HasSuffix(c, s) && len(c) > len(s) {
			return true
		}
	}
	return false
}

// FromPath attributes a cgroup path ("/system.slice/nginx.service",
// "/user.slice/user-1000.slice/user@1000.service/app.slice/backup.service").
func FromPath(p string) Unit {
	var u Unit
	for _, c := range strings.Split(p, "/") {
		switch {
		case strings.HasPrefix(c, "user@") && strings.HasSuffix(c, ".service"):
			u = Unit{Name: c, Manager: c}
		case isUnit(c):
			if u.Manager != "" {
				u.Name, u.User = c, true
			} else {
				u.Name = c
			}
		}
	}
	if u.User && u.Name == u.Manager {
		u.User = false
	}
	if !u.User {
		u.Manager = ""
	}
	return u
}

// FromProcFile attributes the contents of /proc/PID/cgroup: the unified ("0::") line, or the name=systemd
// line of a hybrid hierarchy.
func FromProcFile(content []byte) Unit {
	var unified, named string
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			unified = parts[2]
		case parts[1] == "name=systemd":
			named = parts[2]
		}
	}
	if u := FromPath(unified); u.Name != "" {
		return u
	}
	return FromPath(named)
}
