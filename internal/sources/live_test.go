package sources

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
)

// fakeTail hands its entries to FollowNext, then waits for ctx.
type fakeTail struct {
	entries []journal.Fields
	closed  bool
}

func (f *fakeTail) FollowNext(ctx context.Context, fn func(journal.Fields) error) error {
	for _, e := range f.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (f *fakeTail) Close() error { f.closed = true; return nil }

// fakeReceiver is the multicast socket: each call hands on the next message or error, then blocks until Close.
type fakeReceiver struct {
	steps  []func(fn func(uint16, []byte)) error
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func (r *fakeReceiver) Receive(fn func(uint16, []byte)) error {
	r.mu.Lock()
	if len(r.steps) > 0 {
		s := r.steps[0]
		r.steps = r.steps[1:]
		r.mu.Unlock()
		return s(fn)
	}
	r.mu.Unlock()
	<-r.closed
	return audit.ErrClosed
}

func (r *fakeReceiver) Close() error { r.once.Do(func() { close(r.closed) }); return nil }

const netlinkChown = `audit(1795346348.230:178): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=8062 comm="probe" exe="/tmp/testbed/bin/probe" sig=31 arch=c000003e syscall=93 compat=0 ip=0x7f43f7116547 code=0x80000000`

// openersLog records which opener was asked, in order; each fails unless named in ok.
func openersLog(ok map[string]bool, asked *[]string) *openers {
	return &openers{
		netlink: func(int) (receiver, error) {
			*asked = append(*asked, LiveNetlink)
			if ok[LiveNetlink] {
				return &fakeReceiver{closed: make(chan struct{})}, nil
			}
			return nil, errors.New("operation not permitted")
		},
		journal: func(src journal.Source, matches []string) (journalTail, error) {
			*asked = append(*asked, LiveJournal+":"+src.String()+":"+strings.Join(matches, ","))
			if ok[LiveJournal] {
				return &fakeTail{}, nil
			}
			return nil, errors.New("no journal support")
		},
		auditLog: func(path string) (Source, error) {
			*asked = append(*asked, LiveAuditLog+":"+path)
			if ok[LiveAuditLog] {
				return SourceFunc(func(context.Context, func(audit.Record)) error { return nil }), nil
			}
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		},
	}
}

func TestOpenLiveFallbackOrder(t *testing.T) {
	const journalAsk = "journal:the local journal:_TRANSPORT=audit,_AUDIT_TYPE=1326"
	for _, c := range []struct {
		name   string
		plan   FollowPlan
		ok     map[string]bool
		kind   string
		asked  []string
		str    string
		errHas string
	}{
		{name: "auto: netlink first", ok: map[string]bool{LiveNetlink: true, LiveJournal: true, LiveAuditLog: true},
			kind: LiveNetlink, asked: []string{LiveNetlink}, str: "the audit netlink multicast group"},
		{name: "auto: then the journal, saying why", ok: map[string]bool{LiveJournal: true, LiveAuditLog: true},
			kind: LiveJournal, asked: []string{LiveNetlink, journalAsk},
			str: "journald's audit transport (netlink: operation not permitted)"},
		{name: "auto: then the audit log", plan: FollowPlan{AuditLog: "/a.log"}, ok: map[string]bool{LiveAuditLog: true},
			kind: LiveAuditLog, asked: []string{LiveNetlink, journalAsk, "audit-log:/a.log"}, str: "/a.log"},
		{name: "auto: the default log", ok: map[string]bool{LiveAuditLog: true},
			kind: LiveAuditLog, asked: []string{LiveNetlink, journalAsk, "audit-log:" + DefaultAuditLog}, str: DefaultAuditLog},
		{name: "auto: none", plan: FollowPlan{AuditLog: "/a.log"},
			asked:  []string{LiveNetlink, journalAsk, "audit-log:/a.log"},
			errHas: "no source to follow: netlink: operation not permitted; journal: no journal support; /a.log: not found"},
		{name: "netlink only, failing", plan: FollowPlan{Source: LiveNetlink}, ok: map[string]bool{LiveJournal: true},
			asked: []string{LiveNetlink}, errHas: "cannot join the audit multicast group: operation not permitted"},
		{name: "journal only", plan: FollowPlan{Source: LiveJournal}, ok: map[string]bool{LiveNetlink: true, LiveJournal: true},
			kind: LiveJournal, asked: []string{journalAsk}, str: "journald's audit transport"},
		{name: "audit-log only, failing", plan: FollowPlan{Source: LiveAuditLog, AuditLog: "/a.log"}, ok: map[string]bool{LiveNetlink: true},
			asked: []string{"audit-log:/a.log"}, errHas: "no source to follow: /a.log: not found"},
		{name: "a fleet's journals are the one source", plan: FollowPlan{JournalDirs: []string{"/var/log/journal/remote"}}, ok: map[string]bool{LiveNetlink: true, LiveJournal: true},
			kind: LiveFleet, asked: []string{"journal:journal directory /var/log/journal/remote:_TRANSPORT=audit,_AUDIT_TYPE=1326"},
			str: "journal directory /var/log/journal/remote (a fleet's: each record is its host's)"},
		{name: "a fleet's journals, failing", plan: FollowPlan{JournalDirs: []string{"/r"}},
			asked: []string{"journal:journal directory /r:_TRANSPORT=audit,_AUDIT_TYPE=1326"}, errHas: "cannot follow journal directory /r: no journal support"},
		{name: "unknown", plan: FollowPlan{Source: "kmsg"}, errHas: `unknown source "kmsg"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked []string
			p := c.plan
			p.open = openersLog(c.ok, &asked)
			l, err := OpenLive(p)
			if strings.Join(asked, " | ") != strings.Join(c.asked, " | ") {
				t.Errorf("asked\n  %s\nwant\n  %s", strings.Join(asked, " | "), strings.Join(c.asked, " | "))
			}
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err %v, want %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Kind != c.kind || l.String() != c.str {
				t.Errorf("got %s %q, want %s %q", l.Kind, l.String(), c.kind, c.str)
			}
			if l.Local != (c.kind != LiveFleet) {
				t.Errorf("Local %v for %s", l.Local, c.kind)
			}
		})
	}
}

func exportEntries(t *testing.T, path string) []journal.Fields {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []journal.Fields
	if err := journal.ReadExport(f, func(e journal.Fields) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A record of another host's journal comes stamped with that host; one of a journal that names no host
// (the local journal: journal.Reader drops this host's fields) keeps its own.
func TestJournalSourceStampsHost(t *testing.T) {
	entries := exportEntries(t, "../../audit/testdata/debian12-systemd252-x86_64-deny-fchown.journal-audit.export")
	if len(entries) == 0 {
		t.Fatal("no entries")
	}
	hostless := journal.Fields{}
	for k, v := range entries[0] {
		hostless[k] = v
	}
	delete(hostless, "_HOSTNAME")
	delete(hostless, "_MACHINE_ID")
	tail := &fakeTail{entries: append([]journal.Fields{{"_TRANSPORT": "audit", "_AUDIT_TYPE": "1300", "MESSAGE": "SYSCALL"}}, entries[0], hostless)}
	var recs []audit.Record
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- journalSource(tail).Run(ctx, func(r audit.Record) { recs = append(recs, r); cancel() })
	}()
	<-ctx.Done()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !tail.closed {
		t.Error("the journal was not closed when Run returned")
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2 (the SYSCALL entry is not one): %+v", len(recs), recs)
	}
	if recs[0].Node != "vm" || recs[0].Machine != "3d1219c7c4c5404aaa1f6d2a48adfda4" || recs[0].Name != "fchown" {
		t.Errorf("another host's record: node %q machine %q %s", recs[0].Node, recs[0].Machine, recs[0].Name)
	}
	if recs[1].Node != "" || recs[1].Machine != "" {
		t.Errorf("a hostless entry's record: node %q machine %q", recs[1].Node, recs[1].Machine)
	}
	r := audit.Record{Node: "web1"}
	StampHost(&r, journal.Fields{})
	if r.Node != "web1" {
		t.Errorf("StampHost cleared the record's own node= for an entry naming no host: %q", r.Node)
	}
}

// An overflow of the netlink socket is a loss, told and survived; the end of ctx ends the source cleanly.
func TestNetlinkSourceOverflowIsALoss(t *testing.T) {
	r := &fakeReceiver{closed: make(chan struct{}), steps: []func(fn func(uint16, []byte)) error{
		func(fn func(uint16, []byte)) error {
			fn(1300, []byte("audit(1.0:1): arch=c000003e syscall=1"))
			return nil
		},
		func(func(uint16, []byte)) error { return audit.ErrOverflow },
		func(fn func(uint16, []byte)) error { fn(audit.TypeSeccomp, []byte(netlinkChown)); return nil },
		func(func(uint16, []byte)) error { return audit.ErrOverflow },
	}}
	var losses []Loss
	ctx, cancel := context.WithCancel(context.Background())
	var recs []audit.Record
	done := make(chan error)
	go func() {
		done <- netlinkSource(r, func(l Loss) { losses = append(losses, l) }).Run(ctx, func(rec audit.Record) { recs = append(recs, rec) })
	}()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.steps)
		r.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the source stopped reading")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ended by ctx: %v, want nil", err)
	}
	if len(losses) != 2 || losses[0] != (Loss{Overflows: 1}) {
		t.Errorf("losses %+v, want two overflows", losses)
	}
	if len(recs) != 1 || recs[0].Name != "fchown" || recs[0].PID != 8062 {
		t.Errorf("records %+v, want the one SECCOMP record", recs)
	}

	// A socket that fails is the source dying: said, not retried.
	r = &fakeReceiver{closed: make(chan struct{}), steps: []func(fn func(uint16, []byte)) error{
		func(func(uint16, []byte)) error { return errors.New("recvfrom: bad file descriptor") },
	}}
	err := netlinkSource(r, nil).Run(context.Background(), func(audit.Record) {})
	if err == nil || !strings.Contains(err.Error(), "netlink: recvfrom") {
		t.Errorf("a failing socket: %v", err)
	}
}

func TestWatchLostTellsHowFarTheCounterMoved(t *testing.T) {
	counts := []uint32{5, 5, 9, 9, 10}
	errAt := 3 // a failed read in between changes nothing
	i := 0
	lost := func() (uint32, error) {
		defer func() { i++ }()
		if i == errAt {
			return 0, errors.New("EPERM")
		}
		if i >= len(counts) {
			return counts[len(counts)-1], nil
		}
		return counts[i], nil
	}
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	var got []Loss
	done := make(chan struct{})
	go func() { watchLost(ctx, lost, tick, func(l Loss) { got = append(got, l) }); close(done) }()
	for range 4 {
		tick <- time.Time{}
	}
	cancel()
	<-done
	if len(got) != 2 || got[0].Kernel != 4 || got[1].Kernel != 1 {
		t.Errorf("losses %+v, want 4 then 1 (the first read is the baseline)", got)
	}
}

func TestFactsFollowsSIGSYSCoredumpsAndExits(t *testing.T) {
	core := func(sig string) journal.Fields {
		return journal.Fields{"MESSAGE_ID": journal.MessageCoredump, "COREDUMP_PID": "8062", "COREDUMP_SIGNAL": sig,
			"COREDUMP_UNIT": "a.service", "COREDUMP_TIMESTAMP": "1795346348000000", "COREDUMP_UID": "0", "COREDUMP_GID": "0",
			"__REALTIME_TIMESTAMP": "1795346348500000"}
	}
	exit := func(code, status string) journal.Fields {
		return journal.Fields{"MESSAGE_ID": journal.MessageProcessExit, "UNIT": "b.service", "EXIT_CODE": code, "EXIT_STATUS": status,
			"INVOCATION_ID": "i1", "__REALTIME_TIMESTAMP": "1795346348400000", "_HOSTNAME": "web1"}
	}
	tail := &fakeTail{entries: []journal.Fields{core("31"), core("11"), exit("killed", "31"), exit("exited", "1"), exit("dumped", "SYS"), {"MESSAGE": "other"}}}
	var opened []string
	f, err := followFacts(journal.Source{Dirs: []string{"/r"}}, func(src journal.Source, m []string) (journalTail, error) {
		opened = append(opened, m...)
		return tail, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(opened, ",") != strings.Join(factEntries, ",") {
		t.Errorf("matches %v", opened)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var cores []journal.Coredump
	var exits []journal.UnitExit
	done := make(chan error)
	go func() {
		done <- f.Run(ctx, func(c journal.Coredump) { cores = append(cores, c) }, func(e journal.UnitExit) {
			exits = append(exits, e)
			if len(exits) == 2 {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end")
	}
	if len(cores) != 1 || cores[0].PID != 8062 || cores[0].Unit != "a.service" {
		t.Errorf("cores %+v, want the SIGSYS one", cores)
	}
	if len(exits) != 2 || exits[0].Unit != "b.service" || exits[0].Host.Hostname != "web1" || exits[1].ExitCode != "dumped" {
		t.Errorf("exits %+v, want the two SIGSYS deaths", exits)
	}
	if !tail.closed {
		t.Error("not closed")
	}
}
