package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/spf13/cobra"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// loadUnitLive asks the running manager (system, or the user's with --user) over D-Bus.
func loadUnitLive(name string, user bool) (*diagnose.Unit, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := managerConn(ctx, user)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	u := &diagnose.Unit{Name: name, User: user, Live: true}
	if v, err := conn.GetManagerProperty("Version"); err == nil {
		if ver, err := syscalls.ParseVersion(strings.Trim(v, `"`)); err == nil {
			u.Version, u.HaveVer = ver, true
		}
	}
	up, err := conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading unit %s: %w", name, err)
	}
	u.LoadState, _ = up["LoadState"].(string)
	if u.LoadState == "not-found" {
		return nil, notFoundErr(fmt.Errorf("unit %s not found", name), "check the name with 'systemctl list-units --all'"+userFlag(user))
	}
	frag, _ := up["FragmentPath"].(string)
	if frag != "" {
		u.Files = append(u.Files, frag)
	}
	if d, ok := up["DropInPaths"].([]string); ok {
		u.Files = append(u.Files, d...)
	}
	if b, ok := up["InvocationID"].([]byte); ok && len(b) == 16 {
		u.Invocation = fmt.Sprintf("%x", b)
	}
	u.NeedReload, _ = up["NeedDaemonReload"].(bool)
	if strings.HasSuffix(name, ".service") {
		sp, err := conn.GetUnitTypePropertiesContext(ctx, name, "Service")
		if err == nil {
			u.Result, _ = sp["Result"].(string)
			u.MainCode, _ = sp["ExecMainCode"].(int32)
			u.MainStatus, _ = sp["ExecMainStatus"].(int32)
			u.MainPID, _ = sp["ExecMainPID"].(uint32)
			if n, ok := sp["NRestarts"].(uint32); ok {
				u.NRestarts = &n
			}
			if f, ok := sp["SystemCallFilter"].([]any); ok && len(f) == 2 {
				u.DBusAllow, _ = f[0].(bool)
				u.DBusFilter, _ = f[1].([]string)
			}
		}
	}
	u.Assigns, err = unitfile.ReadAll(os.DirFS("/"), u.Files)
	if err != nil {
		return nil, failureErr(fmt.Errorf("reading the unit's files: %w", err), "")
	}
	return u, nil
}

func userFlag(user bool) string {
	if user {
		return " --user"
	}
	return ""
}

// managerConn connects to the manager: as root through its private socket (no dbus-daemon needed),
// else through the bus.
func managerConn(ctx context.Context, user bool) (*sddbus.Conn, error) {
	if user {
		rt := os.Getenv("XDG_RUNTIME_DIR")
		if rt == "" {
			rt = fmt.Sprintf("/run/user/%d", os.Getuid())
		}
		priv := rt + "/systemd/private"
		conn, err := sddbus.NewConnection(func() (*godbus.Conn, error) {
			c, err := godbus.Dial("unix:path="+priv, godbus.WithContext(ctx))
			if err != nil {
				return nil, err
			}
			if err := c.Auth([]godbus.Auth{godbus.AuthExternal(fmt.Sprint(os.Getuid()))}); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		})
		if err != nil {
			return nil, failureErr(fmt.Errorf("cannot reach the user manager at %s: %w", priv, err),
				"run as the unit's user with XDG_RUNTIME_DIR set, or read its files with --root")
		}
		return conn, nil
	}
	if os.Geteuid() == 0 {
		if conn, err := sddbus.NewSystemdConnectionContext(ctx); err == nil {
			return conn, nil
		}
	}
	conn, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, failureErr(fmt.Errorf("cannot reach systemd over D-Bus: %w", err),
			"is systemd running here? on another machine's files use --root DIR (and --systemd-version)")
	}
	return conn, nil
}

// loadUnitOffline reads a unit's files under root (a copy of another machine's /, or "/").
// loadUnit reads the unit from the files under root, or (root "") from the running manager.
func loadUnit(root, name string, user bool) (*diagnose.Unit, error) {
	if root != "" {
		return loadUnitOffline(root, name, user)
	}
	return loadUnitLive(name, user)
}

func loadUnitOffline(root, name string, user bool) (*diagnose.Unit, error) {
	home := "/root"
	if h, err := os.UserHomeDir(); err == nil && root == "/" {
		home = h
	}
	return loadUnitOfflineHome(root, name, user, home)
}

// loadUnitOfflineHome is loadUnitOffline for a user unit of the user whose home is home.
func loadUnitOfflineHome(root, name string, user bool, home string) (*diagnose.Unit, error) {
	fsys, err := unitfile.OpenRoot(root) // links resolve inside the tree, as systemd's --root= does
	if err != nil {
		return nil, failureErr(err, "")
	}
	defer fsys.Close()
	frag, dropins, err := unitfile.Find(fsys, name, user, home)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFoundErr(err, "")
		}
		return nil, failureErr(err, "")
	}
	u := &diagnose.Unit{Name: name, User: user, Files: append([]string{frag}, dropins...), Home: home}
	u.Assigns, err = unitfile.ReadAll(fsys, u.Files)
	if err != nil {
		return nil, failureErr(err, "")
	}
	return u, nil
}

// completeUnits lists the manager's units starting with prefix, for shell completion (failures: none).
func completeUnits(user bool, prefix string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := managerConn(ctx, user)
	if err != nil {
		return nil
	}
	defer conn.Close()
	units, err := conn.ListUnitsByPatternsContext(ctx, nil, []string{prefix + "*"})
	if err != nil {
		return nil
	}
	var out []string
	for _, u := range units {
		out = append(out, u.Name)
	}
	return out
}

// programsFinder names the executables of a unit's commands (unitfile.Programs), for telling apart the
// kills of units that died in the same second: the unit in hand from its own files, others from their
// files under root (or "/"). Failures name no program.
func programsFinder(root string, own *diagnose.Unit) func(name string, user bool) []string {
	if root == "" {
		root = "/"
	}
	fsys, err := unitfile.OpenRoot(root)
	if err != nil {
		return func(string, bool) []string { return nil }
	}
	home := "/root"
	if h, err := os.UserHomeDir(); err == nil && root == "/" {
		home = h
	}
	memo := map[string][]string{}
	return func(name string, user bool) []string {
		key := fmt.Sprintf("%s/%v", name, user)
		if p, ok := memo[key]; ok {
			return p
		}
		files := own.Files
		if name != own.Name || user != own.User {
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

// homeOf finds the home directory of uid in root's /etc/passwd ("" when it is not there): a user unit of
// another user lives under that user's ~/.config/systemd/user, not the caller's.
func homeOf(root string, uid int) string {
	raw, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return ""
	}
	return unitfile.HomeOf(raw, uid)
}

// managerUID reads the uid out of a user manager's unit name, user@UID.service.
func managerUID(manager string) (int, bool) {
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

// unitName validates a unit name given on the command line (why, trial, check): a usage error if it is
// not one systemd accepts; "nginx" means nginx.service.
func unitName(s string) (string, error) {
	name, err := unitfile.Name(s)
	if err != nil {
		return "", usageErr(err, "a unit name is like nginx.service or getty@tty1.service")
	}
	return name, nil
}

// unitCompleter completes a command's UNIT argument with the manager's units (the user's with --user);
// with --root (root non-nil and set) the units are another machine's: nothing is offered.
func unitCompleter(user *bool, root *string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 || root != nil && *root != "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeUnits(*user, prefix), cobra.ShellCompDirectiveNoFileComp
	}
}
