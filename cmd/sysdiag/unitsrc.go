package main

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
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
		return unit.Manager{}.Units(*user, prefix), cobra.ShellCompDirectiveNoFileComp
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

func rootOrSlash(root string) string {
	if root == "" {
		return "/"
	}
	return root
}
