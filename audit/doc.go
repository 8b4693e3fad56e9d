// Package audit reads the kernel's SECCOMP audit records (type 1326) from every place they land and
// decodes them exactly: auditd's log files (raw and ENRICHED, node= prefixes, rotations), the kernel log
// (dmesg/kmsg text and journald's _TRANSPORT=kernel), and journald's audit transport (_TRANSPORT=audit).
//
// Start with [ParseLogLine] (one audit.log line), [ParseKmsgLine] (one kernel-log line) and
// [FromJournal] (one journal entry's fields): each returns a [Record] with every field decoded — comm and
// exe hex-decoded, arch kept as the AUDIT_ARCH value, the syscall named for that arch (never the host's),
// code split into action and data. [Scan] streams records out of a large log at grep speed, bounded in
// memory, and counts what it had to skip. [FindOffset] seeks a time-ordered log to a timestamp.
//
// Everything here except the file readers in files.go is pure and needs no root.
package audit
