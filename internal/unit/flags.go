package unit

import (
	"fmt"
	"os"
	"strings"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Roots is --root in every command: the tree for every host under "", else each host's own under its
// hostname or machine id.
type Roots map[string]string

// ParseRoots reads --root values: "DIR" for every host, "HOST=DIR" for one host (named by its hostname
// or its machine id, as the evidence names it). A host name has no "/", and an existing directory wins:
// "/x/rt=eq" and "rt=eq", when they are directories, are directories. A value that is not a directory,
// one given twice for a host, or an empty one is BadInput. No value: no tree (nil).
func ParseRoots(vals []string) (Roots, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := Roots{}
	for _, v := range vals {
		host, dir, ok := strings.Cut(v, "=")
		if !ok || strings.Contains(host, "/") || isDir(v) {
			host, dir = "", v
		}
		if dir == "" {
			return nil, badInput(fmt.Errorf("--root %q: no directory", v), "--root DIR, or --root HOST=DIR")
		}
		if err := CheckDir("--root", dir); err != nil {
			return nil, err
		}
		if _, dup := out[host]; dup {
			return nil, badInput(fmt.Errorf("--root: %q given twice", host), "")
		}
		out[host] = dir
	}
	return out, nil
}

// For is the tree h's units are read from: its own (by machine id — hostnames repeat in a fleet — then
// hostname), else the one for every host; "" for none (ask the running manager).
func (r Roots) For(h journal.Host) string { return lookup(r, h) }

// Only is the one tree of a command that reads one host's units (why, check): the one value given,
// "DIR" or "HOST=DIR" alike ("" for none); more than one is BadInput.
func (r Roots) Only() (string, error) { return only(r, "--root", "give one --root DIR") }

// CheckDir refuses a flag's value that is not a directory (a FIFO would hang the read, a file is a
// mistake): BadInput.
func CheckDir(flag, dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return badInput(fmt.Errorf("%s %s: not a directory: %w", flag, dir, err), flag+" names a directory: a copy of a machine's /")
	case !fi.IsDir():
		return badInput(fmt.Errorf("%s %s: not a directory (%s)", flag, dir, audit.FileKind(fi.Mode())), flag+" names a directory: a copy of a machine's /")
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Versions is --systemd-version in every command: the version for every host under "", else each host's
// own under its hostname or machine id — for a fleet host whose journal does not name its version.
type Versions map[string]string

// versionHint is the next step after a version that cannot be read.
const versionHint = "pass the version `systemctl --version` prints on the target, e.g. --systemd-version 252.38"

// ParseVersions reads --systemd-version values: "V" (e.g. 252, 252.38, 255.4-1ubuntu8) for every host,
// "HOST=V" for one. A version that cannot be read, a value given twice for a host, or "=V" is BadInput.
// No value: none (nil).
func ParseVersions(vals []string) (Versions, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := Versions{}
	for _, v := range vals {
		host, ver, ok := strings.Cut(v, "=")
		if !ok {
			host, ver = "", v
		} else if host == "" {
			return nil, badInput(fmt.Errorf("--systemd-version %q: no host before \"=\"", v), "--systemd-version V, or --systemd-version HOST=V")
		}
		if _, err := syscalls.ParseVersion(ver); err != nil {
			if host != "" {
				err = fmt.Errorf("--systemd-version for %s: %w", host, err)
			}
			return nil, badInput(err, versionHint)
		}
		if _, dup := out[host]; dup {
			return nil, badInput(fmt.Errorf("--systemd-version: %q given twice", host), "")
		}
		out[host] = ver
	}
	return out, nil
}

// For is h's version: its own (by machine id, then hostname), else the one for every host; "" for none.
func (v Versions) For(h journal.Host) string { return lookup(v, h) }

// Only is the one version of a command that reads one host's units (why, check): the one value given,
// "V" or "HOST=V" alike ("" for none); more than one is BadInput.
func (v Versions) Only() (string, error) {
	return only(v, "--systemd-version", "give one --systemd-version V")
}

// only is the one value of a flag a one-host command was given ("" for none); more than one is BadInput.
func only(m map[string]string, flag, hint string) (string, error) {
	if len(m) > 1 {
		return "", badInput(fmt.Errorf("%s given %d times: this command reads one machine's units", flag, len(m)), hint)
	}
	for _, v := range m {
		return v, nil
	}
	return "", nil
}

// lookup finds h's value in a map keyed by machine id or hostname, "" for every host.
func lookup(m map[string]string, h journal.Host) string {
	if v := Own(m, h); v != "" {
		return v
	}
	return m[""]
}
