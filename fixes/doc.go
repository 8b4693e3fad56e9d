// Package fixes models systemd's seccomp filter semantics and turns a blocked call into the smallest
// change that lets a unit run.
//
// Start with [Build]: it takes a unit's SystemCallFilter=/SystemCallErrorNumber=/SystemCallArchitectures=
// assignments in systemd's order (each with its file and line) and a group table for the unit's systemd
// version, and returns the effective [Filter] — mode, every name with the line that put it there, the
// negative action. [Filter.Decide] says why a call was blocked and which line did it; [Propose] returns
// the minimal relaxation as a drop-in (fewest syscalls newly allowed) with its alternatives and their
// `systemd-analyze security` cost; [Verify] (verify.go, the one cgo file) builds the filter with libseccomp
// as systemd would, before and after, and evaluates the blocked call against the exported BPF.
//
// Everything but Verify is pure: no root, no systemd.
package fixes
