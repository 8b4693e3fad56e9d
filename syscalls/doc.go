// Package syscalls holds the facts sysdiag decides with: syscall numbers per audit arch, systemd's
// @group membership per systemd version, and the SystemCallFilter rows of `systemd-analyze security`.
//
// Start with [ParseArch] and [Name]/[Number] to turn an audit record's (arch, syscall) into a name —
// always for the record's own arch, never the host's — and with [Select] to pick the group table for a
// systemd version ("252.38-1~deb12u1" picks Debian's 252.38 table; "253.7" picks v253 and says so).
//
// The tables are generated (zsyscalls.go, zgroups.go) from inputs checked in under data/:
// golang.org/x/sys/unix's zsysnum tables (refresh with `go run ./syscalls/internal/fetch`) and systemd's
// syscall_filter_sets[] per release. `go generate ./syscalls` rebuilds them offline. Nothing here does
// I/O: the package is pure and needs no root and no systemd.
package syscalls

//go:generate go run ./internal/gen -dir .
