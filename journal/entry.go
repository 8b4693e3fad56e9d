package journal

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Message IDs systemd logs with (sd-messages.h).
const (
	MessageCoredump    = "fc2e22bc6ee647b6b90729ab34a250b1" // SD_MESSAGE_COREDUMP
	MessageProcessExit = "98e322203f7a4ed290d09fe03c09fe15" // SD_MESSAGE_UNIT_PROCESS_EXIT "Main process exited"
	MessageUnitFailed  = "d9b373ed55a64feb8242e02dbe79a49c" // SD_MESSAGE_UNIT_FAILURE_RESULT "Failed with result"
	MessageUnitSuccess = "7ad2d189f7e94e70a38c781354912448" // SD_MESSAGE_UNIT_SUCCESS "Deactivated successfully"
)

// SIGSYS is the signal a seccomp kill delivers.
const SIGSYS = 31

// Fields is one journal entry: field name to value (binary values as raw bytes in the string).
type Fields = map[string]string

// maxField bounds the fields sysdiag parses (the stack trace MESSAGE included).
const maxField = 1 << 20

// Frame is one line of a coredump stack trace: "#0  0x00007f43f7116547 __fchown (libc.so.6 + 0xf9547)".
type Frame struct {
	Index    int    `json:"index"`
	Addr     uint64 `json:"addr"`
	Function string `json:"function,omitempty"` // "" for n/a
	Module   string `json:"module,omitempty"`
	Offset   uint64 `json:"offset"`
}

// Coredump is a systemd-coredump journal entry.
type Coredump struct {
	Time      time.Time // COREDUMP_TIMESTAMP (1 s resolution), else the entry's time
	EntryTime time.Time // __REALTIME_TIMESTAMP: when the entry was written
	PID       int       // COREDUMP_PID, in the pid namespace of the systemd-coredump that wrote the entry
	// NSPids is the NSpid: line of COREDUMP_PROC_STATUS, outermost namespace first: the pid in each pid
	// namespace from the one of the procfs it was read from down to the process's own; nil when absent or
	// malformed. When the process ran in a container and the status text was read from the host's procfs,
	// the first is the host's pid (the audit record's pid=) and the last the container's (see HostPID).
	NSPids     []int
	UID, GID   int
	Signal     int
	Unit       string // COREDUMP_UNIT; for a user unit this is user@UID.service
	UserUnit   string // COREDUMP_USER_UNIT
	OwnerUID   int    // COREDUMP_OWNER_UID, -1 if absent
	Slice      string
	Cgroup     string
	Exe        string
	Comm       string
	Cmdline    string
	Filename   string // the stored core, "" if none
	BootID     string
	Invocation string  // INVOCATION_ID from the process's environment (COREDUMP_ENVIRON), "" if absent
	Thread     int     // the thread the stack trace is of
	Frames     []Frame // of the crashing thread
	Arch       string  // "ELF object binary architecture: AMD x86-64"
	Host       Host    // the host whose journal holds the entry
	// Forwarded is COREDUMP_FORWARDED=1: a host's systemd-coredump (≥ 255) handed the core to this
	// container's own systemd-coredump. PID, Exe, Cgroup and Unit are then the container's view, NSPids
	// holds the container's pid alone, and the host's pid (the audit record's pid=) is nowhere in the entry.
	Forwarded bool
}

// Host is the host whose journald wrote an entry: its trusted _HOSTNAME and _MACHINE_ID. In a journal of
// several hosts (systemd-journal-remote's, or copies merged) it tells their entries apart; hostnames may
// repeat (containers, cloned images), machine ids should not.
type Host struct {
	Hostname  string `json:"hostname,omitempty"`
	MachineID string `json:"machine_id,omitempty"`
}

// HostOf reads an entry's host fields.
func HostOf(f Fields) Host { return Host{Hostname: f["_HOSTNAME"], MachineID: f["_MACHINE_ID"]} }

// HostFields are the fields HostOf reads.
var HostFields = []string{"_HOSTNAME", "_MACHINE_ID"}

// Compatible reports whether two pieces of evidence may come from one host: equal machine ids, or equal
// hostnames where a machine id is missing on either side, or a side that knows neither.
func (h Host) Compatible(o Host) bool {
	if h.MachineID != "" && o.MachineID != "" {
		return h.MachineID == o.MachineID
	}
	return h.Hostname == "" || o.Hostname == "" || h.Hostname == o.Hostname
}

// ErrNotEntry is returned for an entry of another kind.
var ErrNotEntry = errors.New("not an entry of that kind")

// ParseCoredump decodes a systemd-coredump entry (MESSAGE_ID=fc2e22bc…).
func ParseCoredump(f Fields) (Coredump, error) {
	if f["MESSAGE_ID"] != MessageCoredump {
		return Coredump{}, ErrNotEntry
	}
	var c Coredump
	var err error
	if c.PID, err = atoiField(f, "COREDUMP_PID"); err != nil {
		return Coredump{}, err
	}
	if c.Signal, err = atoiField(f, "COREDUMP_SIGNAL"); err != nil {
		return Coredump{}, err
	}
	c.UID, _ = strconv.Atoi(f["COREDUMP_UID"])
	c.GID, _ = strconv.Atoi(f["COREDUMP_GID"])
	c.OwnerUID = -1
	if v, err := strconv.Atoi(f["COREDUMP_OWNER_UID"]); err == nil {
		c.OwnerUID = v
	}
	c.EntryTime = usecField(f, "__REALTIME_TIMESTAMP")
	c.Time = usecField(f, "COREDUMP_TIMESTAMP")
	if c.Time.IsZero() {
		c.Time = c.EntryTime
	}
	c.Unit, c.UserUnit, c.Slice, c.Cgroup = f["COREDUMP_UNIT"], f["COREDUMP_USER_UNIT"], f["COREDUMP_SLICE"], f["COREDUMP_CGROUP"]
	c.Exe, c.Comm, c.Cmdline, c.Filename = f["COREDUMP_EXE"], f["COREDUMP_COMM"], f["COREDUMP_CMDLINE"], f["COREDUMP_FILENAME"]
	c.BootID, c.Host = f["_BOOT_ID"], HostOf(f)
	c.NSPids = parseNSpid(f["COREDUMP_PROC_STATUS"])
	c.Forwarded = f["COREDUMP_FORWARDED"] == "1"
	if env := f["COREDUMP_ENVIRON"]; len(env) <= maxField {
		for _, kv := range strings.Split(env, "\n") {
			if id, ok := strings.CutPrefix(kv, "INVOCATION_ID="); ok {
				c.Invocation = id
			}
		}
	}
	if m := f["MESSAGE"]; len(m) <= maxField {
		c.Thread, c.Frames, c.Arch = ParseStack(m)
	}
	return c, nil
}

// HostPID is the process's pid in the outermost pid namespace NSpid: names, when the entry's COREDUMP_PID
// is the pid in an inner one (a core of a container's process, with the status text read from the host's
// procfs): then the kernel's audit record on the host says pid=HostPID. ok is false for an entry of a
// process in the reader's own namespace, and for one whose NSpid: does not end at COREDUMP_PID.
func (c Coredump) HostPID() (pid int, ok bool) {
	if n := len(c.NSPids); n >= 2 && c.NSPids[n-1] == c.PID && c.NSPids[0] != c.PID {
		return c.NSPids[0], true
	}
	return 0, false
}

// maxNSDepth bounds the NSpid: line: the kernel nests pid namespaces at most 32 deep (MAX_PID_NS_LEVEL),
// so a line lists at most 33 pids.
const maxNSDepth = 33

// parseNSpid reads the NSpid: line of a /proc/PID/status text, as systemd-coredump stores it in
// COREDUMP_PROC_STATUS ("NSpid:\t40177\t212"): the pid in each pid namespace, from the namespace of the
// procfs it was read from (outermost) to the process's own. Anything malformed — a pid that is not a
// positive decimal as the kernel writes it, more than maxNSDepth of them, a second NSpid: line — gives nil.
//
// Which namespaces the line spans depends on who read it. systemd-coredump on the host reads the host's
// procfs: both pids. But since v255 (CoredumpReceive=, commit a108c43e36d3ceb6e34efe37c014fc2cda856000) a
// host's systemd-coredump that forwards a core into a container (forward_coredump_to_container() in
// src/coredump/coredump.c, later coredump_send_to_container() in src/coredump/coredump-send.c) forks into the
// container's pid and mount namespaces and root, rewrites COREDUMP_PID to the container's pid (translated by
// SCM_CREDENTIALS), adds COREDUMP_FORWARDED=1 and reads /proc/PID/status there: from the container's procfs
// the kernel lists only the container's pid (fs/proc/array.c starts at the procfs's namespace). Only an
// entry whose status text came from the host's procfs carries the pair.
func parseNSpid(status string) []int {
	if len(status) > maxField {
		return nil
	}
	var pids []int
	found := false
	for rest := status; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		v, ok := strings.CutPrefix(line, "NSpid:")
		if !ok {
			continue
		}
		if found {
			return nil // two NSpid: lines: not a status text the kernel wrote
		}
		found = true
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == '\t' || r == ' ' }) {
			n, err := strconv.Atoi(s)
			if err != nil || s[0] < '1' || s[0] > '9' || len(pids) == maxNSDepth { // decimal as the kernel writes it: no sign, no 0
				return nil
			}
			pids = append(pids, n)
		}
	}
	return pids
}

var (
	frameRE  = regexp.MustCompile(`^#(\d+)\s+0x([0-9a-fA-F]+)\s+(\S+)\s+\((.*) \+ 0x([0-9a-fA-F]+)\)\s*$`)
	threadRE = regexp.MustCompile(`^Stack trace of thread (\d+):`)
)

// ParseStack reads the stack trace systemd-coredump writes into MESSAGE: the frames of the first thread
// listed (the one that received the signal), and the ELF architecture line. Lines that do not parse are
// skipped; it never fails.
func ParseStack(message string) (thread int, frames []Frame, arch string) {
	inThread := false
	for _, line := range strings.Split(message, "\n") {
		line = strings.TrimSpace(line)
		if m := threadRE.FindStringSubmatch(line); m != nil {
			if inThread || frames != nil {
				inThread = false // only the first thread
				continue
			}
			thread, _ = strconv.Atoi(m[1])
			inThread = true
			continue
		}
		if a, ok := strings.CutPrefix(line, "ELF object binary architecture: "); ok {
			arch = a
			continue
		}
		if !inThread || !strings.HasPrefix(line, "#") {
			if line == "" {
				inThread = false
			}
			continue
		}
		m := frameRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		idx, _ := strconv.Atoi(m[1])
		addr, _ := strconv.ParseUint(m[2], 16, 64)
		off, _ := strconv.ParseUint(m[5], 16, 64)
		fr := Frame{Index: idx, Addr: addr, Function: m[3], Module: m[4], Offset: off}
		if fr.Function == "n/a" {
			fr.Function = ""
		}
		if fr.Module == "n/a" {
			fr.Module = ""
		}
		frames = append(frames, fr)
	}
	return thread, frames, arch
}

// Caller returns the innermost frame that names a function: the syscall wrapper (__fchown in libc), or
// the program's own function when the call was inlined. ok is false when no frame is named (no libdw,
// or a stripped binary).
func (c Coredump) Caller() (Frame, bool) {
	for _, f := range c.Frames {
		if f.Function != "" {
			return f, true
		}
	}
	return Frame{}, false
}

// UnitExit is systemd's "Main process exited" entry (MESSAGE_ID=98e32220…).
type UnitExit struct {
	Time         time.Time
	Unit         string // the unit, system or user
	User         bool   // a user unit (USER_UNIT=)
	UserUID      int    // the user manager's uid (_UID of the entry) for a user unit, -1 otherwise
	InvocationID string
	ExitCode     string // "exited", "killed", "dumped"
	ExitStatus   int    // exit status, or the signal number for killed/dumped
	Command      string // "ExecStart", "ExecStartPre", …
	Message      string
	Host         Host
}

// Killed reports whether the process died of SIGSYS (with or without a core).
func (e UnitExit) Killed() bool {
	return (e.ExitCode == "dumped" || e.ExitCode == "killed") && e.ExitStatus == SIGSYS
}

// ParseUnitExit decodes a "Main process exited" entry.
func ParseUnitExit(f Fields) (UnitExit, error) {
	if f["MESSAGE_ID"] != MessageProcessExit {
		return UnitExit{}, ErrNotEntry
	}
	e := UnitExit{Time: usecField(f, "__REALTIME_TIMESTAMP"), UserUID: -1, InvocationID: invocation(f),
		ExitCode: f["EXIT_CODE"], Command: f["COMMAND"], Message: f["MESSAGE"], Host: HostOf(f)}
	e.Unit, e.User = unitOf(f)
	if e.Unit == "" {
		return UnitExit{}, fmt.Errorf("exit entry without UNIT or USER_UNIT")
	}
	if e.User {
		if uid, err := strconv.Atoi(f["_UID"]); err == nil {
			e.UserUID = uid
		}
	}
	var err error
	if e.ExitStatus, err = atoiField(f, "EXIT_STATUS"); err != nil {
		// systemd writes EXIT_STATUS as a number; older versions wrote the signal name.
		if n, ok := signalNumbers[f["EXIT_STATUS"]]; ok {
			e.ExitStatus = n
		} else {
			return UnitExit{}, err
		}
	}
	return e, nil
}

var signalNumbers = map[string]int{"SYS": SIGSYS, "SIGSYS": SIGSYS}

// UnitResult is systemd's "Failed with result" entry (MESSAGE_ID=d9b373ed…).
type UnitResult struct {
	Time         time.Time
	Unit         string
	User         bool
	InvocationID string
	Result       string // "core-dump", "signal", "exit-code", …
	Host         Host
}

// ParseUnitResult decodes a "Failed with result" entry.
func ParseUnitResult(f Fields) (UnitResult, error) {
	if f["MESSAGE_ID"] != MessageUnitFailed {
		return UnitResult{}, ErrNotEntry
	}
	r := UnitResult{Time: usecField(f, "__REALTIME_TIMESTAMP"), InvocationID: invocation(f), Result: f["UNIT_RESULT"], Host: HostOf(f)}
	r.Unit, r.User = unitOf(f)
	if r.Unit == "" {
		return UnitResult{}, fmt.Errorf("result entry without UNIT or USER_UNIT")
	}
	return r, nil
}

func unitOf(f Fields) (string, bool) {
	if u := f["USER_UNIT"]; u != "" {
		return u, true
	}
	return f["UNIT"], false
}

func invocation(f Fields) string {
	if id := f["INVOCATION_ID"]; id != "" {
		return id
	}
	return f["USER_INVOCATION_ID"]
}

func atoiField(f Fields, key string) (int, error) {
	v, ok := f[key]
	if !ok {
		return 0, fmt.Errorf("entry has no %s", key)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("bad %s=%q", key, v)
	}
	return n, nil
}

func usecField(f Fields, key string) time.Time {
	us, err := strconv.ParseInt(f[key], 10, 64)
	if err != nil || us <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// Invocation is one run of a unit, as its journal entries (UNIT= or USER_UNIT=, with INVOCATION_ID=) tell it.
type Invocation struct {
	ID         string
	Start, End time.Time // first and last entry of the invocation
	Exits      []UnitExit
	Result     string // "Failed with result" value; "success" after "Deactivated successfully"
}

// Invocations groups a unit's journal entries (oldest first) by INVOCATION_ID, oldest first.
func Invocations(entries []Fields) []Invocation {
	var out []Invocation
	idx := map[string]int{}
	for _, f := range entries {
		id := invocation(f)
		if id == "" {
			continue
		}
		t := usecField(f, "__REALTIME_TIMESTAMP")
		i, ok := idx[id]
		if !ok {
			idx[id] = len(out)
			out = append(out, Invocation{ID: id, Start: t, End: t})
			i = len(out) - 1
		}
		inv := &out[i]
		if t.Before(inv.Start) {
			inv.Start = t
		}
		if t.After(inv.End) {
			inv.End = t
		}
		switch f["MESSAGE_ID"] {
		case MessageProcessExit:
			if e, err := ParseUnitExit(f); err == nil {
				inv.Exits = append(inv.Exits, e)
			}
		case MessageUnitFailed:
			inv.Result = f["UNIT_RESULT"]
		case MessageUnitSuccess:
			inv.Result = "success"
		}
	}
	return out
}

// Process is what a unit's own processes wrote to the journal: one per pid and invocation, from the
// trusted fields journald adds to every entry it receives (`_PID`, `_EXE`, `_SYSTEMD_UNIT` or
// `_SYSTEMD_USER_UNIT`, `_SYSTEMD_INVOCATION_ID`), which no process can forge.
type Process struct {
	PID         int
	Exe         string // _EXE: empty when the process was gone before journald read its /proc entry
	Comm        string // _COMM, from the message's credentials' process (also gone then, but often kept)
	Unit        string
	User        bool
	Invocation  string
	First, Last time.Time // its first and last entry
	Host        Host
}

// ProcessFields are the fields Processes reads: ask the journal for no others.
var ProcessFields = []string{"_PID", "_EXE", "_COMM", "_SYSTEMD_UNIT", "_SYSTEMD_USER_UNIT", "_SYSTEMD_INVOCATION_ID", "__REALTIME_TIMESTAMP", "_HOSTNAME", "_MACHINE_ID"}

// Processes folds journal entries into the processes that wrote them, oldest first. Entries without a pid
// or an invocation are skipped; for a user unit `_SYSTEMD_UNIT` is the user manager and
// `_SYSTEMD_USER_UNIT` the unit.
func Processes(entries []Fields) []Process {
	type key struct {
		pid     int
		inv     string
		machine string
	}
	idx := map[key]int{}
	var out []Process
	for _, f := range entries {
		pid, err := strconv.Atoi(f["_PID"])
		inv := f["_SYSTEMD_INVOCATION_ID"]
		if err != nil || pid <= 0 || inv == "" {
			continue
		}
		t := usecField(f, "__REALTIME_TIMESTAMP")
		k := key{pid, inv, f["_MACHINE_ID"]}
		i, ok := idx[k]
		if !ok {
			p := Process{PID: pid, Exe: f["_EXE"], Comm: f["_COMM"], Unit: f["_SYSTEMD_UNIT"], Invocation: inv, First: t, Last: t, Host: HostOf(f)}
			if uu := f["_SYSTEMD_USER_UNIT"]; uu != "" {
				p.Unit, p.User = uu, true
			}
			idx[k] = len(out)
			out = append(out, p)
			continue
		}
		p := &out[i]
		if p.Exe == "" {
			p.Exe = f["_EXE"]
		}
		if p.Comm == "" {
			p.Comm = f["_COMM"]
		}
		if t.Before(p.First) {
			p.First = t
		}
		if t.After(p.Last) {
			p.Last = t
		}
	}
	return out
}

// ManagerStart is a system manager's start-up line, "systemd 252.39-1~deb12u1 running in system mode
// (+PAM …)": the one place a journal says which systemd its host runs.
type ManagerStart struct {
	Time    time.Time
	Version string // "252.39-1~deb12u1"
	Host    Host
}

// managerStartQueries select the start-up lines in a journal, each query small on a big journal. PID 1
// logs its line at boot before journald runs, to the kernel log, which journald imports later with
// _TRANSPORT=kernel, SYSLOG_IDENTIFIER=systemd and SYSLOG_PID=1 (no _PID: a kernel-log line has no
// sender credentials); after a daemon-reexec (a package upgrade) it logs it to the journal, from
// log_execution_mode() in src/core/main.c (the same function from v245 to v261).
var managerStartQueries = [][]string{{"_TRANSPORT=kernel", "SYSLOG_IDENTIFIER=systemd"}, {"CODE_FUNC=log_execution_mode"}}

// ManagerStartFields are the fields ParseManagerStart reads.
var ManagerStartFields = []string{"MESSAGE", "__REALTIME_TIMESTAMP", "_HOSTNAME", "_MACHINE_ID", "_PID", "SYSLOG_PID"}

// ManagerStarts reads the system managers' start-up lines up to until (zero: all), oldest first per query.
func ManagerStarts(q Querier, until time.Time) ([]ManagerStart, error) {
	var out []ManagerStart
	for _, m := range managerStartQueries {
		if err := q.Only(ManagerStartFields...).Query(m, time.Time{}, until, func(f Fields) error {
			if s, err := ParseManagerStart(f); err == nil {
				out = append(out, s)
			}
			return nil
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

var managerStartRE = regexp.MustCompile(`^systemd ([0-9][0-9A-Za-z.~+_-]*) running in system mode`)

// ParseManagerStart reads a system manager's start-up line; other entries are ErrNotEntry.
func ParseManagerStart(f Fields) (ManagerStart, error) {
	if f["_PID"] != "1" && f["SYSLOG_PID"] != "1" {
		return ManagerStart{}, ErrNotEntry // a user manager's, or a process that calls itself systemd
	}
	m := f["MESSAGE"]
	if len(m) > 4096 {
		return ManagerStart{}, ErrNotEntry
	}
	sm := managerStartRE.FindStringSubmatch(m)
	if sm == nil {
		return ManagerStart{}, ErrNotEntry
	}
	return ManagerStart{Time: usecField(f, "__REALTIME_TIMESTAMP"), Version: sm[1], Host: HostOf(f)}, nil
}
