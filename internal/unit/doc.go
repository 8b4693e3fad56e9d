// Package unit is what sysdiag knows of a systemd unit, and where it learns it.
//
// A Unit is the unit's files — its fragment and drop-ins in systemd's load order, every seccomp-related
// setting with the file and line it came from — apart from its State, what the running manager says of
// it over D-Bus (load state, invocation, main process, restarts, its own SystemCallFilter, its version):
// the spec and the object, as cilium/ebpf keeps a CollectionSpec apart from the loaded Collection. A unit
// read from a --root tree has no State.
//
// Start with Loader: Manager asks the running manager (system or user), Tree reads a copy of a
// machine's / (or this one's), Fake serves tests. Their errors are *Error, whose Kind says whether the
// unit is not there, the input was bad, or the work failed; a command maps the kind to its exit code.
//
// Which systemd release a unit is read for — and so which @group table and which syscall names its
// manager resolves — is chosen once per host by a Chooser, with the reason in words: --systemd-version,
// the manager's own version, the one the host's journal names, the tree's package files, the local
// systemctl, or the newest table. Local is the machine the choice may consult; tests replace it.
//
// Roots and Versions are --root and --systemd-version, read by one parser each for every command: "DIR"
// or "V" for every host, "HOST=DIR" or "HOST=V" for one host named by its hostname or machine id. Fleet
// puts them together for the commands that see many hosts (watch, postmortem).
package unit
