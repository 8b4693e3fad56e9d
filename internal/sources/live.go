package sources

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/journal"
)

// Source is one stream of SECCOMP records, run the same way whatever it reads: a file read to its end, or
// a live source (the audit multicast group, the journal's audit transport, a followed audit.log, and
// later denials traced in the kernel) followed until ctx ends. Run hands each record to emit, in the
// source's own order, and returns nil when it reached its end or ctx ended, else why it stopped early. A
// live source releases what it holds when Run returns; Run is called once.
type Source interface {
	Run(ctx context.Context, emit func(audit.Record)) error
}

// SourceFunc makes a function a Source.
type SourceFunc func(ctx context.Context, emit func(audit.Record)) error

// Run calls f.
func (f SourceFunc) Run(ctx context.Context, emit func(audit.Record)) error { return f(ctx, emit) }

// The live sources, in the order FollowPlan's "auto" tries them.
const (
	LiveNetlink  = "netlink"   // the kernel's audit multicast group (read-only, beside a running auditd; CAP_AUDIT_READ)
	LiveJournal  = "journal"   // journald's audit transport
	LiveAuditLog = "audit-log" // auditd's log, followed across rotations
	LiveFleet    = "journal-dir"
)

// FollowPlan says which live source to follow.
type FollowPlan struct {
	// Source is "auto" (or empty: the first of netlink, journal and audit-log that opens), or one of
	// LiveNetlink, LiveJournal, LiveAuditLog.
	Source   string
	AuditLog string // the log LiveAuditLog follows; DefaultAuditLog when empty
	// JournalDirs are a fleet's journals (systemd-journal-remote's directory): then they are the one
	// source, and each record is stamped with the host whose journal holds it.
	JournalDirs []string
	RcvBuf      int // the netlink socket's receive buffer; 32 MiB when 0
	// OnLoss is told when records are lost before sysdiag reads them (the netlink socket's buffer
	// overflowed); nil: not told. It is called from the goroutine that runs the source.
	OnLoss func(Loss)

	open *openers // the host's openers, replaced in tests
}

// Loss is records the host dropped before sysdiag could read them.
type Loss struct {
	Kernel    uint32 // the kernel's audit lost counter moved by this much (its backlog was full)
	Overflows int    // the netlink socket's buffer overflowed (ENOBUFS) this many times
}

// Live is a live source opened at its end: Run gives only the records written after OpenLive returned.
type Live struct {
	Source
	Kind string // LiveNetlink, LiveJournal, LiveAuditLog or LiveFleet
	Name string // the source for a person: "the audit netlink multicast group", a path, …
	// Local: the records are this host's, as they happen, so a record's process may still be read in
	// /proc. A fleet's journals are other hosts'.
	Local bool
	// Tried are the sources tried before this one, each with why it could not be followed
	// ("netlink: …").
	Tried []string
}

// String names the source as watch announces it: a fallback to the journal says what it fell back from.
func (l *Live) String() string {
	switch {
	case l.Kind == LiveJournal && len(l.Tried) > 0:
		return l.Name + " (" + strings.Join(l.Tried, "; ") + ")"
	case l.Kind == LiveFleet:
		return l.Name + " (a fleet's: each record is its host's)"
	}
	return l.Name
}

// receiver is the audit multicast socket as the netlink source reads it.
type receiver interface {
	Receive(fn func(typ uint16, data []byte)) error
	Close() error
}

// journalTail is a journal positioned at its end, followed from there.
type journalTail interface {
	FollowNext(ctx context.Context, fn func(journal.Fields) error) error
	Close() error
}

// openers open the host's sources (tests replace them).
type openers struct {
	netlink  func(rcvbuf int) (receiver, error)
	journal  func(src journal.Source, matches []string) (journalTail, error)
	auditLog func(path string) (Source, error)
}

var hostOpeners = openers{
	netlink: func(rcvbuf int) (receiver, error) { return audit.JoinMulticast(rcvbuf) },
	journal: openTail,
	auditLog: func(path string) (Source, error) {
		lf, err := audit.FollowLog(path) // opened at its end
		if err != nil {
			return nil, err
		}
		return SourceFunc(func(ctx context.Context, emit func(audit.Record)) error {
			return lf.Run(ctx, func(r audit.Record) error { emit(r); return nil })
		}), nil
	},
}

func openTail(src journal.Source, matches []string) (journalTail, error) {
	r, err := journal.Open(src)
	if err != nil {
		return nil, err
	}
	if err := r.Tail(matches); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// auditTransport matches the SECCOMP records of journald's audit transport.
var auditTransport = []string{"_TRANSPORT=audit", "_AUDIT_TYPE=1326"}

// OpenLive opens the live source p names — or, for "auto", the first that opens: the audit multicast
// group, journald's audit transport, then the audit log — at its end.
func OpenLive(p FollowPlan) (*Live, error) {
	o := hostOpeners
	if p.open != nil {
		o = *p.open
	}
	if len(p.JournalDirs) > 0 { // a fleet's journals: no record is this host's
		src := journal.Source{Dirs: p.JournalDirs}
		j, err := o.journal(src, auditTransport)
		if err != nil {
			return nil, fmt.Errorf("cannot follow %s: %w", src, err)
		}
		return &Live{Source: journalSource(j), Kind: LiveFleet, Name: src.String()}, nil
	}
	want := p.Source
	if want == "" {
		want = "auto"
	}
	switch want {
	case "auto", LiveNetlink, LiveJournal, LiveAuditLog:
	default:
		return nil, fmt.Errorf("unknown source %q: want auto, netlink, journal or audit-log", want)
	}
	var tried []string
	if want == "auto" || want == LiveNetlink {
		rcvbuf := p.RcvBuf
		if rcvbuf == 0 {
			rcvbuf = 32 << 20
		}
		c, err := o.netlink(rcvbuf)
		if err == nil {
			return &Live{Source: netlinkSource(c, p.OnLoss), Kind: LiveNetlink, Name: "the audit netlink multicast group", Local: true}, nil
		}
		if want == LiveNetlink {
			return nil, fmt.Errorf("cannot join the audit multicast group: %w", err)
		}
		tried = append(tried, "netlink: "+err.Error())
	}
	if want == "auto" || want == LiveJournal {
		j, err := o.journal(journal.Source{}, auditTransport)
		if err == nil {
			return &Live{Source: journalSource(j), Kind: LiveJournal, Name: "journald's audit transport", Local: true, Tried: tried}, nil
		}
		tried = append(tried, "journal: "+err.Error())
	}
	if want == "auto" || want == LiveAuditLog {
		path := p.AuditLog
		if path == "" {
			path = DefaultAuditLog
		}
		s, err := o.auditLog(path)
		if err == nil {
			return &Live{Source: s, Kind: LiveAuditLog, Name: path, Local: true, Tried: tried}, nil
		}
		tried = append(tried, path+": "+Describe(err))
	}
	return nil, fmt.Errorf("no source to follow: %s", strings.Join(tried, "; "))
}

// netlinkSource reads the multicast group until ctx ends: an overflow is a loss, told and survived.
func netlinkSource(c receiver, onLoss func(Loss)) Source {
	return SourceFunc(func(ctx context.Context, emit func(audit.Record)) error {
		stop := context.AfterFunc(ctx, func() { c.Close() }) // unblocks Receive
		defer func() {
			if stop() {
				c.Close()
			}
		}()
		for {
			err := c.Receive(func(typ uint16, data []byte) {
				if typ != audit.TypeSeccomp {
					return
				}
				if r, err := audit.ParseNetlink(typ, data); err == nil {
					emit(r)
				}
			})
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, audit.ErrOverflow):
				if onLoss != nil {
					onLoss(Loss{Overflows: 1})
				}
			case err != nil:
				return fmt.Errorf("netlink: %w", err)
			}
		}
	})
}

// journalSource follows the audit transport of a journal positioned at its end.
func journalSource(j journalTail) Source {
	return SourceFunc(func(ctx context.Context, emit func(audit.Record)) error {
		defer j.Close()
		return j.FollowNext(ctx, func(f journal.Fields) error {
			if r, ok := journalRecord(f); ok {
				emit(r)
			}
			return nil
		})
	})
}

// journalRecord decodes one audit-transport entry, stamped with its host.
func journalRecord(f journal.Fields) (audit.Record, bool) {
	r, err := audit.FromJournal(f)
	if err != nil {
		return audit.Record{}, false
	}
	StampHost(&r, f)
	return r, true
}

// StampHost gives a record read from a journal entry the entry's host: in a journal of other hosts
// (systemd-journal-remote's, a copy) the record is the host's whose journald wrote it. The local
// journal's entries name no host (journal.Reader drops this host's fields): the record keeps its own.
func StampHost(r *audit.Record, f journal.Fields) {
	if h := journal.HostOf(f); h != (journal.Host{}) {
		r.Node, r.Machine = h.Hostname, h.MachineID
	}
}

// WatchLost tells onLoss each time the kernel's audit lost counter moves (a read-only AUDIT_GET each
// second; never AUDIT_SET), until ctx ends. Without an audit client (no root) it returns at once.
func WatchLost(ctx context.Context, onLoss func(Loss)) {
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return
	}
	defer c.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	watchLost(ctx, func() (uint32, error) {
		st, err := c.GetStatus()
		if err != nil {
			return 0, err
		}
		return st.Lost, nil
	}, tick.C, onLoss)
}

// watchLost reads the counter at once and at each tick, and tells how far it moved since the last read.
func watchLost(ctx context.Context, lost func() (uint32, error), tick <-chan time.Time, onLoss func(Loss)) {
	var last uint32
	first := true
	for {
		if n, err := lost(); err == nil {
			if !first && n > last {
				onLoss(Loss{Kernel: n - last})
			}
			last, first = n, false
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// Facts follows the journal's entries that tie a kill to its unit when its process's cgroup could not
// be read: systemd-coredump's SIGSYS entries and the manager's SIGSYS exit entries ("Main process
// exited, code=killed, status=31/SYS"), from the moment it is opened; and, on demand, what one process
// wrote to the journal itself.
type Facts struct {
	src  journal.Source
	tail journalTail

	mu     sync.Mutex
	q      journal.Querier // for Processes: a handle of its own (the follower's is busy)
	closed bool
}

// factEntries matches both kinds of entry (one field's values are alternatives to sd-journal).
var factEntries = []string{"MESSAGE_ID=" + journal.MessageCoredump, "MESSAGE_ID=" + journal.MessageProcessExit}

// FollowFacts opens src (the local journal, or a fleet's directories) at its end.
func FollowFacts(src journal.Source) (*Facts, error) {
	return followFacts(src, openTail)
}

func followFacts(src journal.Source, open func(journal.Source, []string) (journalTail, error)) (*Facts, error) {
	t, err := open(src, factEntries)
	if err != nil {
		return nil, err
	}
	return &Facts{src: src, tail: t}, nil
}

// Run hands on each new SIGSYS coredump and SIGSYS exit entry until ctx ends; it closes the follower.
func (f *Facts) Run(ctx context.Context, core func(journal.Coredump), exit func(journal.UnitExit)) error {
	defer f.Close()
	return f.tail.FollowNext(ctx, func(e journal.Fields) error {
		c, x := factOf(e)
		if c != nil && core != nil {
			core(*c)
		}
		if x != nil && exit != nil {
			exit(*x)
		}
		return nil
	})
}

// factOf decodes a SIGSYS coredump entry or a SIGSYS exit entry; anything else is neither.
func factOf(f journal.Fields) (*journal.Coredump, *journal.UnitExit) {
	switch f["MESSAGE_ID"] {
	case journal.MessageCoredump:
		if c, err := journal.ParseCoredump(f); err == nil && c.Signal == journal.SIGSYS {
			return &c, nil
		}
	case journal.MessageProcessExit:
		if e, err := journal.ParseUnitExit(f); err == nil && e.Killed() {
			return nil, &e
		}
	}
	return nil, nil
}

// maxProcessEntries bounds what one lookup of a process reads (a chatty daemon's lines).
const maxProcessEntries = 100000

// Processes reads what process pid of host wrote to the journal in [since, until] (journald's trusted
// _PID, _EXE, unit and invocation fields), folded per invocation. Safe for use beside Run.
func (f *Facts) Processes(host journal.Host, pid int, since, until time.Time) ([]journal.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errors.New("the journal follower is closed")
	}
	if f.q == nil {
		r, err := journal.Open(f.src)
		if err != nil {
			return nil, err
		}
		f.q = r
	}
	return processesOf(f.q, f.src.Local(), host, pid, since, until)
}

func processesOf(q journal.Querier, local bool, host journal.Host, pid int, since, until time.Time) ([]journal.Process, error) {
	matches := []string{"_PID=" + strconv.Itoa(pid)}
	if !local && host.MachineID != "" {
		matches = append(matches, "_MACHINE_ID="+host.MachineID)
	}
	var entries []journal.Fields
	err := q.Only(journal.ProcessFields...).Query(matches, since, until, func(e journal.Fields) error {
		entries = append(entries, e)
		if len(entries) >= maxProcessEntries {
			return journal.ErrStop
		}
		return nil
	})
	return journal.Processes(entries), err
}

// Close releases the journal handles.
func (f *Facts) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.q != nil {
		f.q.Close()
		f.q = nil
	}
	if f.tail != nil {
		err := f.tail.Close()
		f.tail = nil
		return err
	}
	return nil
}
