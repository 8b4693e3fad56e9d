package journal

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/auditgen"
)

// callerQuery is a query a Query call makes: its matches ("FIELD=*" for any value the caller fills in),
// the fields it asks for (Only; nil for all) and the fields its caller then reads.
type callerQuery struct {
	matches []string
	only    []string
	reads   []string
}

var auditOnly = append([]string{"_TRANSPORT", "_AUDIT_TYPE", "MESSAGE", "_AUDIT_ID", "_SOURCE_REALTIME_TIMESTAMP"}, HostFields...)

// callerQueries is every Query call in the module (but the end-to-end tests, which ask the live journal),
// keyed as queryCalls names them, with the queries each makes. A call added or changed fails
// TestKeptQueriesAreTheCallers: add it here, and its pattern to keptQueries if none covers it.
var callerQueries = map[string][]callerQuery{
	"internal/attribute/journal.go: Query([]string{unitField + u.Name})": {
		{[]string{"UNIT=*"}, nil, invocationFields},
		{[]string{"USER_UNIT=*"}, nil, invocationFields},
	},
	"internal/attribute/journal.go: Query([]string{\"MESSAGE_ID=\" + journal.MessageCoredump, coreField + u.Name})": {
		{[]string{"MESSAGE_ID=" + MessageCoredump, "COREDUMP_UNIT=*"}, nil, coredumpFields},
		{[]string{"MESSAGE_ID=" + MessageCoredump, "COREDUMP_USER_UNIT=*"}, nil, coredumpFields},
	},
	"internal/attribute/journal.go: Only(journal.ProcessFields...).Query([]string{procField + q.Unit.Name})": {
		{[]string{"_SYSTEMD_UNIT=*"}, ProcessFields, ProcessFields},
		{[]string{"_SYSTEMD_USER_UNIT=*"}, ProcessFields, ProcessFields},
	},
	"internal/attribute/journal.go: Query([]string{\"MESSAGE_ID=\" + journal.MessageProcessExit})": {
		{[]string{"MESSAGE_ID=" + MessageProcessExit}, nil, unitExitFields},
	},
	"internal/attribute/journal.go: Query([]string{\"MESSAGE_ID=\" + journal.MessageUnitFailed})": {
		{[]string{"MESSAGE_ID=" + MessageUnitFailed}, nil, unitResultFields},
	},
	"internal/attribute/journal.go: Only(journal.ProcessFields...).Query([]string{\"_PID=\" + strconv.Itoa(pid)})": {
		{[]string{"_PID=*"}, ProcessFields, ProcessFields},
	},
	// matches is "_PID=…", with "_MACHINE_ID=…" for another host's process.
	"internal/sources/live.go: Only(journal.ProcessFields...).Query(matches)": {
		{[]string{"_PID=*"}, ProcessFields, ProcessFields},
		{[]string{"_PID=*", "_MACHINE_ID=*"}, ProcessFields, ProcessFields},
	},
	"internal/sources/sources.go: Query([]string{\"MESSAGE_ID=\" + journal.MessageCoredump, \"COREDUMP_SIGNAL=31\"})": {
		{[]string{"MESSAGE_ID=" + MessageCoredump, "COREDUMP_SIGNAL=31"}, nil, coredumpFields},
	},
	// q ranges over {{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, {"_TRANSPORT=kernel"}}.
	"internal/sources/sources.go: Only(journal.AuditFields...).Query(q)": {
		{[]string{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}, auditOnly, auditOnly},
		{[]string{"_TRANSPORT=kernel"}, auditOnly, auditOnly},
	},
	// m ranges over managerStartQueries.
	"journal/entry.go: Only(ManagerStartFields...).Query(m)": {
		{managerStartQueries[0], ManagerStartFields, ManagerStartFields},
		{managerStartQueries[1], ManagerStartFields, ManagerStartFields},
	},
}

// queryCalls finds the Query(matches, since, until, fn) calls in the module's code, tests and the
// end-to-end packages left out, each as "path: [Only(…).]Query(first argument)".
func queryCalls(t *testing.T) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, "../"))
		if d.IsDir() {
			if rel == "internal/e2e" || rel == "internal/testbed" || rel == ".git" || rel == "testdata" || strings.HasSuffix(rel, "/testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 4 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Query" {
				return true
			}
			key := "Query(" + exprString(fset, call.Args[0]) + ")"
			if only, ok := sel.X.(*ast.CallExpr); ok {
				if s, ok := only.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "Only" {
					var args []string
					for _, a := range only.Args {
						args = append(args, exprString(fset, a))
					}
					key = "Only(" + strings.Join(args, ", ") + "...)." + key
				}
			}
			out = append(out, rel+": "+key)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The keep rule is derived from the real queries: every Query call is listed in callerQueries, and every
// query a call makes is one a Memory answers.
func TestKeptQueriesAreTheCallers(t *testing.T) {
	calls := queryCalls(t)
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c] = true
		if _, ok := callerQueries[c]; !ok {
			t.Errorf("a Query call sysdiag makes is not in callerQueries (kept_test.go): %s\n"+
				"list the queries it makes there; if a Memory refuses one, add its pattern to keptQueries (kept.go)", c)
		}
	}
	for k := range callerQueries {
		if !seen[k] {
			t.Errorf("callerQueries lists a call no longer made: %s", k)
		}
	}
	m := &Memory{}
	for k, qs := range callerQueries {
		for _, q := range qs {
			matches := strings.Split(strings.ReplaceAll(strings.Join(q.matches, "\x00"), "=*", "=x"), "\x00")
			var qr Querier = m
			if q.only != nil {
				qr = m.Only(q.only...)
			}
			if err := qr.Query(matches, time.Time{}, time.Time{}, func(Fields) error { return nil }); err != nil {
				t.Errorf("%s: %v", k, err)
			}
			// What the caller reads is kept for every entry the query matches.
			if !covers(mustParse(t, matches), maskOf(q.reads)) {
				t.Errorf("%s: the fields read %q are not all kept", k, q.reads)
			}
		}
	}
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b bytes.Buffer
	format.Node(&b, fset, e)
	return b.String()
}

func mustParse(t *testing.T, matches []string) []fieldValue {
	t.Helper()
	fv, err := parseMatches(matches)
	if err != nil {
		t.Fatal(err)
	}
	return fv
}

// A query no pattern covers would miss entries: it is refused, not answered short.
func TestMemoryRefusesQueriesItCannotAnswer(t *testing.T) {
	m, err := LoadExport("../testdata/fleet/systemd252.export")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		matches, only []string
	}{
		{[]string{"_TRANSPORT=audit"}, nil},                 // SECCOMP (1326) records only are kept
		{[]string{"SYSLOG_IDENTIFIER=systemd"}, nil},        // kept with _TRANSPORT=kernel only
		{[]string{"_AUDIT_FIELD_SYSCALL=93"}, nil},          // a field not kept
		{[]string{"UNIT=a.service", "UNIT=b.service"}, nil}, // sd-journal ORs these
		{[]string{"_PID=1"}, []string{"MESSAGE"}},           // a field the pattern does not keep
		{[]string{"_PID=1"}, []string{"_CMDLINE"}},          // a field not kept at all
		{[]string{"__REALTIME_TIMESTAMP=1"}, nil},           // the time is not matched
		{nil, nil},                    // every entry
		{[]string{"MESSAGE_ID"}, nil}, // not a match
		{[]string{"MESSAGE_ID=" + MessageUnitSuccess}, nil},  // not asked: not kept
		{[]string{"COREDUMP_UNIT=x.service"}, nil},           // only with MESSAGE_ID=coredump
		{[]string{"_TRANSPORT=kernel", "_PID=1"}, auditOnly}, // _PID is not kept with kernel lines
	} {
		var q Querier = m
		if c.only != nil {
			q = m.Only(c.only...)
		}
		n := 0
		if err := q.Query(c.matches, time.Time{}, time.Time{}, func(Fields) error { n++; return nil }); err == nil {
			t.Errorf("Query(%q) with fields %q answered (%d entries), want an error", c.matches, c.only, n)
		}
	}
}

// corpus is export text of many shapes: real exports, the JSON coredumps as export text (binary fields),
// a generated busy host, and entries at the edges of the keep rule.
func corpus(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	paths, _ := filepath.Glob("testdata/*.export")
	more, _ := filepath.Glob("../audit/testdata/*.export")
	paths = append(paths, more...)
	paths = append(paths, "../testdata/example/journal.export", "../testdata/fleet/systemd252.export", "../testdata/fleet/systemd257.export")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	jsons, _ := filepath.Glob("testdata/*.coredump.json")
	for _, p := range jsons {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		ReadJSON(f, func(e Fields) error { writeExportEntry(&b, e); return nil })
		f.Close()
		out = append(out, b.Bytes())
	}
	var gen bytes.Buffer
	if err := auditgen.GenerateExport(&gen, auditgen.JournalOptions{Entries: 3000, Start: 1795300000, Unit: "remote-ssh-agent.service", Seed: 7}); err != nil {
		t.Fatal(err)
	}
	out = append(out, gen.Bytes())
	out = append(out, exportText(edgeEntries()...))
	return out
}

func edgeEntries() []Fields {
	ts := func(us int64) string { return strconv.FormatInt(us, 10) }
	return []Fields{
		// PID 1's start-up line from the kernel log (no _PID), and one after a re-exec.
		{"__REALTIME_TIMESTAMP": ts(1795300000000000), "_TRANSPORT": "kernel", "SYSLOG_IDENTIFIER": "systemd", "SYSLOG_PID": "1",
			"MESSAGE": "systemd 252.39-1~deb12u1 running in system mode (+PAM)", "_HOSTNAME": "h", "_MACHINE_ID": "m1"},
		{"__REALTIME_TIMESTAMP": ts(1795300000000001), "_TRANSPORT": "journal", "CODE_FUNC": "log_execution_mode", "_PID": "1",
			"SYSLOG_IDENTIFIER": "systemd", "MESSAGE": "systemd 257.9-1 running in system mode (+PAM)", "_COMM": "systemd"},
		// A user manager's line: kept (the query matches it), left out by ParseManagerStart.
		{"__REALTIME_TIMESTAMP": ts(1795300000000002), "CODE_FUNC": "log_execution_mode", "_PID": "900", "MESSAGE": "systemd 252 running in user mode"},
		// A kernel line that is a SECCOMP record, one that is not, and one with a UNIT= field.
		{"__REALTIME_TIMESTAMP": ts(1795300000000003), "_TRANSPORT": "kernel", "MESSAGE": "audit: type=1326 audit(1795300000.000:5): auid=0 uid=0 gid=0 ses=1 pid=5 comm=\"x\" exe=\"/x\" sig=31 arch=c000003e syscall=41 compat=0 ip=0x1 code=0x80000000"},
		{"__REALTIME_TIMESTAMP": ts(1795300000000004), "_TRANSPORT": "kernel", "MESSAGE": "eth0: link up", "UNIT": "k.service"},
		// No __REALTIME_TIMESTAMP: timed by _SOURCE_REALTIME_TIMESTAMP, or left out.
		{"_SOURCE_REALTIME_TIMESTAMP": ts(1795300000000005), "_TRANSPORT": "audit", "_AUDIT_TYPE": "1326", "_PID": "7", "MESSAGE": "SECCOMP pid=7"},
		{"_TRANSPORT": "audit", "_AUDIT_TYPE": "1326", "_PID": "8", "MESSAGE": "SECCOMP pid=8"},
		{"__REALTIME_TIMESTAMP": "garbage", "_SOURCE_REALTIME_TIMESTAMP": ts(1795300000000006), "UNIT": "a.service", "INVOCATION_ID": "i1"},
		// Another audit type (not kept), and a user unit's entries.
		{"__REALTIME_TIMESTAMP": ts(1795300000000007), "_TRANSPORT": "audit", "_AUDIT_TYPE": "1300", "MESSAGE": "SYSCALL"},
		{"__REALTIME_TIMESTAMP": ts(1795300000000008), "USER_UNIT": "u.service", "USER_INVOCATION_ID": "i2", "_UID": "1000", "_PID": "1200",
			"MESSAGE_ID": MessageProcessExit, "EXIT_CODE": "killed", "EXIT_STATUS": "31", "_SYSTEMD_UNIT": "user@1000.service"},
		{"__REALTIME_TIMESTAMP": ts(1795300000000009), "_PID": "1300", "_SYSTEMD_USER_UNIT": "u.service", "_SYSTEMD_UNIT": "user@1000.service",
			"_SYSTEMD_INVOCATION_ID": "i3", "_EXE": "/usr/bin/u", "_COMM": "u", "MESSAGE": "hello"},
		// Out of order, and at the same time as another.
		{"__REALTIME_TIMESTAMP": ts(1795299999000000), "_PID": "1300", "_SYSTEMD_USER_UNIT": "u.service", "_SYSTEMD_INVOCATION_ID": "i3"},
		{"__REALTIME_TIMESTAMP": ts(1795300000000009), "_PID": "1301", "_SYSTEMD_UNIT": "b.service", "_SYSTEMD_INVOCATION_ID": "i4"},
		// Nothing any query asks: not kept.
		{"__REALTIME_TIMESTAMP": ts(1795300000000010), "_TRANSPORT": "stdout", "MESSAGE": "no pid"},
		{"__REALTIME_TIMESTAMP": ts(1795300000000011), "MESSAGE_ID": MessageUnitSuccess, "MESSAGE": "no unit"},
		// A coredump of a user unit, with values that are binary in export text.
		{"__REALTIME_TIMESTAMP": ts(1795300000000012), "MESSAGE_ID": MessageCoredump, "COREDUMP_USER_UNIT": "u.service", "COREDUMP_UNIT": "user@1000.service",
			"COREDUMP_PID": "1300", "COREDUMP_SIGNAL": "31", "COREDUMP_ENVIRON": "A=1\nINVOCATION_ID=i3\n", "MESSAGE": "Process 1300 (u) dumped core.\n\x01"},
	}
}

// reference answers a query from every entry in full, as a journal would: the entry's time (or its
// _SOURCE_REALTIME_TIMESTAMP), oldest first, every match equal.
func reference(entries []Fields, matches []string, since, until time.Time) []Fields {
	type timed struct {
		t int64
		f Fields
	}
	var all []timed
	for _, e := range entries {
		t, err := strconv.ParseUint(e["__REALTIME_TIMESTAMP"], 10, 63)
		if err != nil || t == 0 {
			if t, err = strconv.ParseUint(e["_SOURCE_REALTIME_TIMESTAMP"], 10, 63); err != nil || t == 0 {
				continue
			}
		}
		all = append(all, timed{int64(t), e})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].t < all[j].t })
	var out []Fields
next:
	for _, e := range all {
		if (!since.IsZero() && e.t < since.UnixMicro()) || (!until.IsZero() && e.t > until.UnixMicro()) {
			continue
		}
		for _, m := range matches {
			k, v, _ := strings.Cut(m, "=")
			if got, ok := e.f[k]; !ok || got != v {
				continue next
			}
		}
		f := maps.Clone(e.f)
		f[realtimeField] = strconv.FormatInt(e.t, 10)
		out = append(out, f)
	}
	return out
}

func project(fs []Fields, names []string) []Fields {
	out := make([]Fields, 0, len(fs))
	for _, f := range fs {
		p := Fields{}
		for _, n := range append(names, realtimeField) {
			if v, ok := f[n]; ok {
				p[n] = v
			}
		}
		out = append(out, p)
	}
	return out
}

// checkAgainstReference asks m every query the callers make — with every value the entries have for a
// field the caller fills in, and one none has — and compares the answer, in the fields the caller reads,
// with the reference's from the entries in full.
func checkAgainstReference(t testing.TB, m *Memory, entries []Fields, windows [][2]time.Time) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(callerQueries))
	for _, k := range keys {
		for _, q := range callerQueries[k] {
			for _, matches := range fillIn(q.matches, entries) {
				for _, w := range windows {
					var qr Querier = m
					if q.only != nil {
						qr = m.Only(q.only...)
					}
					var got []Fields
					if err := qr.Query(matches, w[0], w[1], func(f Fields) error { got = append(got, f); return nil }); err != nil {
						t.Fatalf("%s: %q: %v", k, matches, err)
					}
					want := project(reference(entries, matches, w[0], w[1]), q.reads)
					if q.only != nil {
						for _, f := range got {
							for n := range f {
								if n != realtimeField && !slices.Contains(q.only, n) {
									t.Fatalf("%s: %q: field %s given, not asked for", k, matches, n)
								}
							}
						}
					}
					if got := project(got, q.reads); !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: %q in %v: memory gave %d entries, the journal %d\ngot  %q\nwant %q", k, matches, w, len(got), len(want), clipList(got), clipList(want))
					}
				}
			}
		}
	}
}

func clipList(fs []Fields) []Fields {
	if len(fs) > 3 {
		return fs[:3]
	}
	return fs
}

// fillIn makes concrete queries of a shape: each "FIELD=*" takes every value the entries have (at most
// 40), and one they do not.
func fillIn(shape []string, entries []Fields) [][]string {
	out := [][]string{nil}
	for _, m := range shape {
		k, v, _ := strings.Cut(m, "=")
		vals := []string{v}
		if v == "*" {
			vals = []string{"no such value"}
			seen := map[string]bool{}
			for _, e := range entries {
				if x, ok := e[k]; ok && !seen[x] && len(seen) < 40 {
					seen[x] = true
					vals = append(vals, x)
				}
			}
		}
		var next [][]string
		for _, q := range out {
			for _, x := range vals {
				next = append(next, append(slices.Clip(q), k+"="+x))
			}
		}
		out = next
	}
	return out
}

func loadBytes(t testing.TB, data ...[]byte) (*Memory, error) {
	m := &Memory{}
	pool := newInterner()
	for _, d := range data {
		st, err := m.load(bytes.NewReader(d), pool)
		m.stats.add(st)
		if err != nil {
			return nil, err
		}
	}
	m.sort()
	return m, nil
}

// What a Memory answers is what the whole journal answers, in every field the callers read: no entry a
// query can match is dropped.
func TestMemoryAnswersLikeTheJournal(t *testing.T) {
	data := corpus(t)
	var entries []Fields
	for _, d := range data {
		if err := ReadExport(bytes.NewReader(d), func(f Fields) error { entries = append(entries, f); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	m, err := loadBytes(t, data...)
	if err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	if st.Kept == 0 || st.Kept == st.Entries || st.SourceTime != 2 || st.NoTimestamp != 1 {
		t.Errorf("stats %+v: want some entries left out, 2 timed by the source, 1 without a time", st)
	}
	mid := time.UnixMicro(1795300000000004)
	windows := [][2]time.Time{{}, {mid, time.Time{}}, {time.Time{}, mid}, {mid, mid}, {time.Unix(4000000000, 0), time.Time{}}}
	checkAgainstReference(t, m, entries, windows)
}

// The parsers read only the fields the keep rule keeps for them: each parses the same from those alone.
func TestKeptFieldsAreRead(t *testing.T) {
	var entries []Fields
	for _, d := range corpus(t) {
		ReadExport(bytes.NewReader(d), func(f Fields) error { entries = append(entries, f); return nil })
	}
	var n [5]int
	for _, e := range entries {
		one := []Fields{e}
		same := func(what string, names []string, parse func(Fields) (any, error)) bool {
			a, errA := parse(e)
			b, errB := parse(project(one, names)[0])
			if !reflect.DeepEqual(a, b) || (errA == nil) != (errB == nil) {
				t.Errorf("%s differs from the kept fields alone:\n%+v %v\n%+v %v", what, a, errA, b, errB)
			}
			return errA == nil
		}
		if same("ParseCoredump", coredumpFields, func(f Fields) (any, error) { return ParseCoredump(f) }) {
			n[0]++
		}
		if same("ParseUnitExit", unitExitFields, func(f Fields) (any, error) { return ParseUnitExit(f) }) {
			n[1]++
		}
		same("ParseUnitResult", unitResultFields, func(f Fields) (any, error) { return ParseUnitResult(f) })
		if same("ParseManagerStart", ManagerStartFields, func(f Fields) (any, error) { return ParseManagerStart(f) }) {
			n[2]++
		}
		if same("audit.FromJournal", AuditFields, func(f Fields) (any, error) { return audit.FromJournal(f) }) {
			n[3]++
		}
		same("Invocations", invocationFields, func(f Fields) (any, error) { return Invocations([]Fields{f}), nil })
		if same("Processes", ProcessFields, func(f Fields) (any, error) { return Processes([]Fields{f}), nil }) {
			n[4]++
		}
	}
	if n[0] == 0 || n[1] == 0 || n[2] == 0 || n[3] == 0 {
		t.Errorf("parsed coredumps, exits, start-up lines, records: %v; the corpus lacks some", n)
	}
	if !reflect.DeepEqual(Invocations(entries), Invocations(project(entries, invocationFields))) ||
		!reflect.DeepEqual(Processes(entries), Processes(project(entries, ProcessFields))) {
		t.Error("Invocations or Processes of all entries differ from the kept fields alone")
	}
	if !slices.Equal(AuditFields, auditOnly) {
		t.Errorf("AuditFields %q, internal/sources asks for %q", AuditFields, auditOnly)
	}
}

func TestKeptNamesFit(t *testing.T) {
	if len(keptNames) > 64 {
		t.Fatalf("%d kept fields", len(keptNames))
	}
	for _, n := range keptNames {
		if !validName([]byte(n)) {
			t.Errorf("kept field %q is not a field name", n)
		}
	}
}
