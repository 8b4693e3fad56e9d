package unit

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Manager reads units from this machine's running manager over D-Bus (Connect), and their files from
// this machine's /.
type Manager struct {
	Timeout time.Duration // for the whole load; 0: 10 s
}

// Load asks the manager (the system's, or the calling user's with user) for the unit's state, its files
// and its version, then reads the files. A unit the manager does not know is NotFound.
func (m Manager) Load(name string, user bool) (*Unit, error) {
	timeout := m.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := Connect(ctx, user)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	u := &Unit{Name: name, User: user, State: State{Live: true}}
	if v, err := conn.GetManagerProperty("Version"); err == nil {
		if ver, err := syscalls.ParseVersion(strings.Trim(v, `"`)); err == nil {
			u.Version, u.HaveVer = ver, true
		}
	}
	up, err := conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return nil, failure(fmt.Errorf("reading unit %s: %w", name, err), "")
	}
	u.LoadState, _ = up["LoadState"].(string)
	if u.LoadState == "not-found" {
		return nil, notFound(fmt.Errorf("unit %s not found", name), "check the name with 'systemctl list-units --all'"+userFlag(user))
	}
	if frag, _ := up["FragmentPath"].(string); frag != "" {
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
		if sp, err := conn.GetUnitTypePropertiesContext(ctx, name, "Service"); err == nil {
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
		return nil, failure(fmt.Errorf("reading the unit's files: %w", err), "")
	}
	return u, nil
}

// Units lists the manager's units whose names start with prefix, for shell completion (failures: none).
func (m Manager) Units(user bool, prefix string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := Connect(ctx, user)
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

// Connect connects to this machine's manager: the calling user's through its private socket
// ($XDG_RUNTIME_DIR/systemd/private); the system's, as root, through its private socket (no dbus-daemon
// needed), else through the system bus. The caller closes the connection.
func Connect(ctx context.Context, user bool) (*sddbus.Conn, error) {
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
			return nil, failure(fmt.Errorf("cannot reach the user manager at %s: %w", priv, err),
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
		return nil, failure(fmt.Errorf("cannot reach systemd over D-Bus: %w", err),
			"is systemd running here? on another machine's files use --root DIR (and --systemd-version)")
	}
	return conn, nil
}
