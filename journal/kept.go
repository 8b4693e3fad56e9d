package journal

import (
	"fmt"
	"slices"
)

// What a Memory keeps of an export: the entries sysdiag's queries can match, and of each only the fields
// their callers read. keptQueries lists those queries — every Query call outside the end-to-end tests —
// and TestKeptQueriesAreTheCallers fails when a call is added or changed without it.

// keptQuery is the shape of one query sysdiag asks a journal. A match "FIELD=value" is fixed; a bare
// "FIELD" stands for any value the caller fills in (a unit name, a pid).
type keptQuery struct {
	asker   string   // who asks, and what reads the answer
	matches []string // "FIELD=value" or "FIELD"
	reads   []string // the fields the reader of the answer reads
}

var keptQueries = []keptQuery{
	{"attribute (why): a unit's runs (Invocations)", []string{"UNIT"}, invocationFields},
	{"attribute (why): a user unit's runs (Invocations)", []string{"USER_UNIT"}, invocationFields},
	{"attribute (why), sources: coredumps (ParseCoredump)", []string{"MESSAGE_ID=" + MessageCoredump}, coredumpFields},
	{"attribute (why, events, postmortem): SIGSYS exits (ParseUnitExit)", []string{"MESSAGE_ID=" + MessageProcessExit}, unitExitFields},
	{"attribute (postmortem): failed units (ParseUnitResult)", []string{"MESSAGE_ID=" + MessageUnitFailed}, unitResultFields},
	{"attribute (why): the unit's own processes (Processes)", []string{"_SYSTEMD_UNIT"}, ProcessFields},
	{"attribute (why): the user unit's own processes (Processes)", []string{"_SYSTEMD_USER_UNIT"}, ProcessFields},
	{"attribute (events, postmortem), sources (watch): what a killed pid wrote (Processes)", []string{"_PID"}, ProcessFields},
	{"sources: SECCOMP records of the audit transport (audit.FromJournal)", []string{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, AuditFields},
	{"sources: kernel lines, for SECCOMP records (audit.FromJournal)", []string{"_TRANSPORT=kernel"}, AuditFields},
	{"postmortem: the manager's start-up line from the kernel log (ManagerStarts)", []string{"_TRANSPORT=kernel", "SYSLOG_IDENTIFIER=systemd"}, ManagerStartFields},
	{"postmortem: the manager's start-up line after a re-exec (ManagerStarts)", []string{"CODE_FUNC=log_execution_mode"}, ManagerStartFields},
}

// AuditFields are the fields of an audit- or kernel-transport entry that package audit reads
// (audit.FromJournal), with the host's: ask the journal for no others.
var AuditFields = []string{"_TRANSPORT", "_AUDIT_TYPE", "MESSAGE", "_AUDIT_ID", "_SOURCE_REALTIME_TIMESTAMP", "_HOSTNAME", "_MACHINE_ID"}

// The fields the parsers read (TestKeptFieldsAreRead checks each parses the same from only these).
var (
	coredumpFields = []string{"MESSAGE_ID", "__REALTIME_TIMESTAMP", "COREDUMP_PID", "COREDUMP_SIGNAL", "COREDUMP_UID",
		"COREDUMP_GID", "COREDUMP_OWNER_UID", "COREDUMP_TIMESTAMP", "COREDUMP_UNIT", "COREDUMP_USER_UNIT", "COREDUMP_SLICE",
		"COREDUMP_CGROUP", "COREDUMP_EXE", "COREDUMP_COMM", "COREDUMP_CMDLINE", "COREDUMP_FILENAME", "COREDUMP_ENVIRON", "COREDUMP_PROC_STATUS", "COREDUMP_FORWARDED",
		"MESSAGE", "_BOOT_ID", "_HOSTNAME", "_MACHINE_ID"}
	unitExitFields = []string{"MESSAGE_ID", "__REALTIME_TIMESTAMP", "UNIT", "USER_UNIT", "INVOCATION_ID", "USER_INVOCATION_ID",
		"EXIT_CODE", "EXIT_STATUS", "COMMAND", "MESSAGE", "_UID", "_HOSTNAME", "_MACHINE_ID"}
	unitResultFields = []string{"MESSAGE_ID", "__REALTIME_TIMESTAMP", "UNIT", "USER_UNIT", "INVOCATION_ID", "USER_INVOCATION_ID",
		"UNIT_RESULT", "_HOSTNAME", "_MACHINE_ID"}
	invocationFields = union(unitExitFields, unitResultFields) // Invocations: ids and times, exits, results
)

func union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, f := range l {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

const realtimeField = "__REALTIME_TIMESTAMP"

// keptNames are the fields a Memory can hold, at most 64 (a bit each); keptIndex maps a name to its bit.
var (
	keptNames = keptFieldNames()
	keptIndex = func() map[string]int {
		m := map[string]int{}
		for i, n := range keptNames {
			m[n] = i
		}
		return m
	}()
	realtimeIdx   = keptIndex[realtimeField]
	realtimeBit   = uint64(1) << realtimeIdx
	sourceTimeIdx = keptIndex["_SOURCE_REALTIME_TIMESTAMP"]
	keptPatterns  = compilePatterns()
)

func keptFieldNames() []string {
	names := []string{realtimeField, "_SOURCE_REALTIME_TIMESTAMP"} // the time, and its fallback
	for _, q := range keptQueries {
		for _, m := range q.matches {
			names = union(names, []string{matchName(m)})
		}
		names = union(names, q.reads)
	}
	if len(names) > 64 {
		panic(fmt.Sprintf("journal: %d kept fields, at most 64", len(names)))
	}
	return names
}

func matchName(m string) string {
	for i := 0; i < len(m); i++ {
		if m[i] == '=' {
			return m[:i]
		}
	}
	return m
}

// keptPattern is a keptQuery in bits: an entry that has every field of need, with the values of fixed,
// keeps the fields of keep.
type keptPattern struct {
	need  uint64
	fixed []fieldValue
	keep  uint64 // the match fields, the fields read, the time
}

type fieldValue struct {
	idx int
	val string
}

func compilePatterns() []keptPattern {
	var out []keptPattern
	for _, q := range keptQueries {
		p := keptPattern{keep: realtimeBit | maskOf(q.reads)}
		for _, m := range q.matches {
			name := matchName(m)
			i := keptIndex[name]
			p.need |= 1 << i
			if len(name) < len(m) {
				p.fixed = append(p.fixed, fieldValue{i, m[len(name)+1:]})
			}
		}
		p.keep |= p.need
		out = append(out, p)
	}
	return out
}

func maskOf(names []string) uint64 {
	var m uint64
	for _, n := range names {
		m |= 1 << keptIndex[n]
	}
	return m
}

// keptMask is the fields an entry keeps: those of every pattern it matches; 0 drops it. has is the fields
// the entry has; value gives the value of one it has.
func keptMask(has uint64, value func(idx int) []byte) uint64 {
	var keep uint64
next:
	for _, p := range keptPatterns {
		if has&p.need != p.need {
			continue
		}
		for _, f := range p.fixed {
			if string(value(f.idx)) != f.val {
				continue next
			}
		}
		keep |= p.keep
	}
	return keep
}

// covers reports whether a Memory answers a query exactly: some pattern's entries include every entry
// the matches can match, and keep the fields matched and the fields asked for (only; nil asks for the
// pattern's). An uncovered query would silently miss entries, so Query refuses it.
func covers(matches []fieldValue, only uint64) bool {
next:
	for _, p := range keptPatterns {
		var have uint64
		for _, m := range matches {
			have |= 1 << m.idx
		}
		if have&p.need != p.need || have&^p.keep != 0 || only&^p.keep != 0 {
			continue
		}
		for _, f := range p.fixed {
			if !slices.ContainsFunc(matches, func(m fieldValue) bool { return m.idx == f.idx && m.val == f.val }) {
				continue next
			}
		}
		return true
	}
	return false
}
