// Package journal reads the journal's side of a seccomp kill: systemd-coredump entries (unit, pid, exe,
// cmdline, the stack trace as frames, the core file), systemd's "Main process exited" and "Failed with
// result" entries for system and user units, and — for package audit — the raw entries of the audit and
// kernel transports.
//
// Start with [ParseCoredump] and [ParseUnitExit]: pure functions from an entry's fields to a value. The
// fields come from the live journal, a journal directory or files ([Open], in sd.go, the one file that
// touches libsystemd), or from `journalctl -o export` text ([ReadExportStats], a stream that counts damage
// in [ExportStats] rather than fail on it). [LoadExport] turns export files into a [Memory] that answers
// sysdiag's queries like the live journal, holding only the entries and fields those queries can ask
// for (kept.go lists them). [ReadCoreSigInfo] recovers the blocked syscall from a stored core file's
// NT_SIGINFO note when no audit record exists.
package journal
