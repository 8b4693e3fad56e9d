package main

import (
	"context"
	"errors"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/journal"
)

// cliErr turns internal/unit's errors into the command's: not found exit 1, bad input 2, failure 3,
// with the message and hint unit gave.
func cliErr(err error) error {
	var ue *unit.Error
	if !errors.As(err, &ue) {
		return err
	}
	switch ue.Kind {
	case unit.NotFound:
		return notFoundErr(ue, ue.Hint)
	case unit.BadInput:
		return usageErr(ue, ue.Hint)
	}
	return failureErr(ue, ue.Hint)
}

// loadUnit reads the unit from the files under root, or (root "") from the running manager.
func loadUnit(root, name string, user bool) (*diagnose.Unit, error) {
	var l unit.Loader = unit.Manager{}
	if root != "" {
		l = unit.Tree{Dir: root}
	}
	u, err := l.Load(name, user)
	return u, cliErr(err)
}

// The wrappers below keep the names the other commands call; each is one call into internal/unit.

func loadUnitLive(name string, user bool) (*diagnose.Unit, error) { return loadUnit("", name, user) }

func loadUnitOffline(root, name string, user bool) (*diagnose.Unit, error) {
	return loadUnit(root, name, user)
}

func loadUnitOfflineHome(root, name string, user bool, home string) (*diagnose.Unit, error) {
	u, err := unit.Tree{Dir: root, Home: home}.Load(name, user)
	return u, cliErr(err)
}

func managerConn(ctx context.Context, user bool) (*sddbus.Conn, error) {
	c, err := unit.Connect(ctx, user)
	return c, cliErr(err)
}

func programsFinder(root string, own *diagnose.Unit) func(name string, user bool) []string {
	return unit.Tree{Dir: rootOrSlash(root)}.Programs(own)
}

func homeOf(root string, uid int) string { return unit.HomeOf(root, uid) }

func managerUID(manager string) (int, bool) { return unit.ManagerUID(manager) }

func completeUnits(user bool, prefix string) []string { return unit.Manager{}.Units(user, prefix) }

func userFlag(user bool) string { return diagnose.UserFlag(user) }

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

// oneHost reads --root and --systemd-version of a command about one host's unit (why, check) as every
// command reads them — DIR or HOST=DIR, V or HOST=V — given at most once: "" chooses.
func oneHost(root, systemdVersion string) (dir, version string, err error) {
	roots, err := unit.ParseRoots(nonEmpty(root))
	if err == nil {
		dir, err = roots.Only()
	}
	var vs unit.Versions
	if err == nil {
		vs, err = unit.ParseVersions(nonEmpty(systemdVersion))
	}
	if err == nil {
		version, err = vs.Only()
	}
	return dir, version, cliErr(err)
}

// nonEmpty is a string flag's value as a list: none when it was not given.
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// newFleet reads --root and --systemd-version of a command about many hosts' units (watch, postmortem):
// DIR or HOST=DIR, V or HOST=V, each repeatable.
func newFleet(roots, versions []string) (*unit.Fleet, error) {
	rs, err := unit.ParseRoots(roots)
	if err != nil {
		return nil, cliErr(err)
	}
	vs, err := unit.ParseVersions(versions)
	if err != nil {
		return nil, cliErr(err)
	}
	return &unit.Fleet{Roots: rs, Versions: vs, Here: unit.ThisHost(), Manager: unit.Manager{}, Tables: tables}, nil
}

// The wrappers below keep the names watch.go calls until it reads its units through unit.Fleet.

func parseRoots(vals []string) (map[string]string, error) {
	rs, err := unit.ParseRoots(vals)
	return rs, cliErr(err)
}

func rootFor(roots map[string]string, host, machine string) string {
	return unit.Roots(roots).For(journal.Host{Hostname: host, MachineID: machine})
}

func hostLabel(h journal.Host) string { return unit.HostLabel(h) }
func hostKey(h journal.Host) string   { return unit.HostKey(h) }
func thisHost() journal.Host          { return unit.ThisHost() }

func rootOrSlash(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

// unitLoader is what watch.go names its hosts' programs by until it holds a unit.Fleet itself.
type unitLoader struct {
	roots map[string]string
	flag  string
	local journal.Host
}

func (l *unitLoader) programs(h journal.Host, name string, user bool) []string {
	return (&unit.Fleet{Roots: l.roots, Here: l.local, Tables: tables}).Programs(h, name, user)
}
