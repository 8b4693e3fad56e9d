package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/cgroup"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/sources"
	"github.com/sysdiag/sysdiag/journal"
	"github.com/sysdiag/sysdiag/syscalls"
)

type watchOptions struct {
	unit, syscall  string
	action         string
	since          string
	roots          []string // "DIR" every host, or "HOST=DIR" (hostname or machine id)
	systemdVersion string
	source         string
	auditLog       string
	journalDirs    []string // a fleet's journals (systemd-journal-remote's directory), followed as they grow
	json           bool
}

func newWatchCmd() *cobra.Command {
	opts := &watchOptions{}
	c := &cobra.Command{
		Use:   "watch",
		Short: "Follow seccomp violations live, attribute them to units and diagnose each",
		Long: `Follow the kernel's SECCOMP records as they happen and print, per violation, the unit, the syscall
with its group, what blocked it and the drop-in that would fix it. Repeats of the same (unit, syscall)
are folded into a count; Ctrl-C (or SIGTERM) prints a summary per unit.

Sources, in order of preference (--source auto): the audit netlink multicast group (read-only, next to a
running auditd; needs CAP_AUDIT_READ), journald's audit transport, then /var/log/audit/audit.log (surviving
rotation). The one in use is named on stderr. A process is attributed to its unit from its cgroup the
moment its record arrives (it is still alive while its core is dumped); a kill whose process was already
gone waits up to 3 s for the journal entries that tie it the way why does: systemd-coredump's entry, the
manager's SIGSYS exit entry, the process's own lines.

With --journal-dir (repeatable), watch follows those journals instead — a systemd-journal-remote server's
/var/log/journal/remote, appended to as hosts send: each violation comes with its host (hostname and
machine id), its unit from that host's coredump entry, that host's systemd version (from its journal),
and, where --root HOST=DIR gives a copy of its unit files, its line and fix.`,
		Example: `  $ sysdiag watch
  $ sysdiag watch --unit 'nginx*' --json
  $ sysdiag watch --action all --since "5 min ago"
  $ sysdiag watch --journal-dir /var/log/journal/remote --root web1=/srv/trees/web1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runWatch(ctx, c.OutOrStdout(), c.ErrOrStderr(), opts)
		},
	}
	c.Flags().StringVarP(&opts.unit, "unit", "u", "", "only units matching this glob")
	c.Flags().StringVar(&opts.syscall, "syscall", "", "only this syscall (name)")
	c.Flags().StringVar(&opts.action, "action", "kill", "which records: kill, log (SystemCallLog=) or all")
	c.Flags().StringVarP(&opts.since, "since", "S", "", "first replay violations since this time from the journal, then follow")
	c.Flags().StringArrayVar(&opts.roots, "root", nil, "read unit files under this directory instead of asking the manager; HOST=DIR for one host's (hostname or machine id), repeatable")
	c.Flags().StringArrayVar(&opts.journalDirs, "journal-dir", nil, "follow the journals in this directory (a fleet's, from systemd-journal-remote; repeatable) instead of this host's sources")
	c.Flags().StringVar(&opts.systemdVersion, "systemd-version", "", "systemd version of the units (default: the local systemd)")
	c.Flags().StringVar(&opts.source, "source", "auto", "where to follow records: auto, netlink, journal or audit-log")
	c.Flags().StringVar(&opts.auditLog, "audit-log", defaultAuditLog, "the log --source audit-log follows")
	c.Flags().BoolVar(&opts.json, "json", false, "one JSON object per line, flushed")
	return c
}

// watchEvent is one line of watch --json: a violation (first of its kind, with the fix), a count update at
// the end, the kernel's lost counter moving, or the summary.
type watchEvent struct {
	Type string `json:"type"` // "violation", "lost", "summary", "source"
	*diagnose.Finding
	Count   int         `json:"count,omitempty"`
	DelayMS int64       `json:"delay_ms,omitempty"`
	Fix     *watchFix   `json:"fix,omitempty"`
	Lost    *lostJSON   `json:"lost,omitempty"`
	Summary []unitCount `json:"summary,omitempty"`
	Source  string      `json:"source,omitempty"`
}

type watchFix struct {
	Allow         []string `json:"allow"`
	Architectures []string `json:"architectures,omitempty"`
	DropinPath    string   `json:"dropin_path"`
	Dropin        string   `json:"dropin"`
	Verified      bool     `json:"verified"`
}

type lostJSON struct {
	Kernel    uint32 `json:"kernel"`    // the kernel's audit "lost" counter moved by this much
	Userspace int    `json:"userspace"` // netlink overflows (ENOBUFS) seen by sysdiag
}

type unitCount struct {
	Host      string         `json:"host,omitempty"`
	MachineID string         `json:"machine_id,omitempty"`
	Unit      string         `json:"unit"`
	UserUnit  bool           `json:"user_unit"`
	Syscalls  map[string]int `json:"syscalls"`
	Total     int            `json:"total"`
}

// foldKey is what repeats fold on: one unit's same call with the same action (a struct, not a joined
// string: a delegated cgroup may be named "a|b.service").
type foldKey struct {
	host, machine string
	unit          string
	user          bool
	syscall, arch string
	action        string
}

// watcher holds the state of one watch: filters, folding, caches.
type watcher struct {
	opts    *watchOptions
	table   syscalls.Table
	out     io.Writer
	errw    io.Writer
	mu      sync.Mutex
	seen    map[foldKey]int
	filters map[string]cachedFilter
	lostK   uint32
	lostU   int
	host    syscalls.Arch
	ended   <-chan error // why the followed source stopped (nil: ctx ended), once recs is closed
	// A fleet's journals (--journal-dir): the unit trees per host, the hosts' versions, this host.
	roots    map[string]string
	versions map[string]string
	local    journal.Host

	diag     chan diagJob // first violations of their kind, for the diagnosing worker
	diagDone chan struct{}
}

type cachedFilter struct {
	f    *fixes.Filter
	u    *diagnose.Unit
	when time.Time
}

func runWatch(ctx context.Context, stdout, stderr io.Writer, opts *watchOptions) error {
	switch opts.action {
	case "kill", "log", "all":
	default:
		return usageErr(fmt.Errorf("--action %q: want kill, log or all", opts.action), "")
	}
	if opts.syscall != "" && !syscalls.IsSyscall(opts.syscall) {
		return usageErr(fmt.Errorf("--syscall: unknown syscall %q", opts.syscall), "")
	}
	t, _, err := systemdTable(opts.systemdVersion)
	if err != nil {
		return err
	}
	roots, err := parseRoots(opts.roots)
	if err != nil {
		return err
	}
	switch opts.source {
	case "auto", sources.LiveNetlink, sources.LiveJournal, sources.LiveAuditLog:
	default:
		return usageErr(fmt.Errorf("--source %q: want auto, netlink, journal or audit-log", opts.source), "")
	}
	if len(opts.journalDirs) > 0 && opts.source != "auto" {
		return usageErr(fmt.Errorf("--journal-dir and --source %s: --journal-dir is the source", opts.source), "")
	}
	w := &watcher{opts: opts, table: t, out: stdout, errw: stderr, seen: map[foldKey]int{}, filters: map[string]cachedFilter{},
		host: syscalls.HostArch(), roots: roots, local: thisHost()}
	if len(opts.journalDirs) > 0 {
		w.versions = fleetVersions(journal.Source{Dirs: opts.journalDirs})
	}
	w.startDiagnosis()

	if opts.since != "" {
		win, err := parseWindow(opts.since, "", time.Now())
		if err != nil {
			return err
		}
		win.Until = time.Now()
		if _, err := collect(&sourceFlags{JournalDirs: opts.journalDirs}, win, nil, nil, func(v evidence.Violation) error {
			w.handle(v, false)
			return nil
		}); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(ctx) // cancelled before the end's decisions: nothing blocks on the loop then
	defer cancel()
	recs := make(chan sourced, 4096)
	name, err := w.startSource(ctx, recs)
	if err != nil {
		w.drain()
		return err
	}
	late, decided := w.startLate(ctx)
	w.emit(watchEvent{Type: "source", Source: name}, "sysdiag: watching "+name+" (Ctrl-C to stop)", true)
	go w.watchLost(ctx)
	end := func() {
		cancel()
		if late != nil {
			for _, v := range late.Flush() {
				w.handle(v, true)
			}
			for len(decided) > 0 {
				w.handle(<-decided, true)
			}
		}
		w.finish()
	}
	for {
		select {
		case s, ok := <-recs:
			if !ok {
				died := ctx.Err() == nil
				end()
				if died {
					err := <-w.ended
					if err == nil {
						err = errors.New("the source ended")
					}
					return failureErr(fmt.Errorf("stopped following %s: %w", name, err), "")
				}
				return nil
			}
			v := evidence.Merge([]audit.Record{s.rec}, nil, nil)[0]
			attribute.TieCgroup(&v, s.unit, s.why)
			if late != nil && late.Hold(&v) {
				continue // it comes back through decided
			}
			w.handle(v, true)
		case v := <-decided:
			w.handle(v, true)
		case <-ctx.Done():
			end()
			return nil
		}
	}
}

// startLate follows the journal's SIGSYS coredump and exit entries, and holds the kills whose process
// was gone before its cgroup could be read until they tie them (attribute.Late): decided kills come out
// of the channel. Without a readable journal nothing could tie them: nil, and kills are not held.
func (w *watcher) startLate(ctx context.Context) (*attribute.Late, <-chan evidence.Violation) {
	src := journal.Source{Dirs: w.opts.journalDirs}
	facts, err := sources.FollowFacts(src) // at the end now, before "watching" is said
	if err != nil {
		return nil, nil
	}
	decided := make(chan evidence.Violation, attribute.LateCap)
	units := &unitLoader{roots: w.roots, flag: w.opts.systemdVersion, local: w.local}
	late := attribute.NewLate(attribute.LateConfig{
		ForeignPIDs: src.Local() && !initialPIDNamespace(),
		Processes: func(h journal.Host, pid int, since, until time.Time) []journal.Process {
			p, _ := facts.Processes(h, pid, since, until)
			return p
		},
		Programs: units.programs,
		MainPID: func(h journal.Host, name string, user bool) (int, string) {
			if !src.Local() || user { // another host's manager, or a user manager that may not be ours
				return 0, ""
			}
			u, err := loadUnitLive(name, false)
			if err != nil || u == nil || !u.Live {
				return 0, ""
			}
			return int(u.MainPID), u.Invocation
		},
	}, func(v evidence.Violation) {
		select {
		case decided <- v:
		case <-ctx.Done(): // the end: Flush decides what is left
		}
	})
	go func() { _ = facts.Run(ctx, late.Coredump, late.Exit) }()
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		late.Run(ctx, tick.C)
	}()
	return late, decided
}

// sourced is a record with the unit its process belonged to when the record arrived, or why none.
type sourced struct {
	rec  audit.Record
	unit cgroup.Unit
	why  string
}

// startSource opens the live source the options name and feeds recs until ctx ends (followLive).
func (w *watcher) startSource(ctx context.Context, recs chan<- sourced) (string, error) {
	live, ended, err := followLive(ctx, sources.FollowPlan{Source: w.opts.source, AuditLog: w.opts.auditLog, JournalDirs: w.opts.journalDirs, OnLoss: w.lost}, recs)
	if err != nil {
		return "", err
	}
	w.ended = ended
	return live.String(), nil
}

// followLive opens the live source plan names (sources.OpenLive: an error comes with its hint) and
// feeds recs until ctx ends, each record with its process's cgroup read as it arrives (a fleet's records
// are other hosts': none is read). recs is closed at the end; ended then holds why the source stopped
// early (nil: ctx ended).
func followLive(ctx context.Context, plan sources.FollowPlan, recs chan<- sourced) (*sources.Live, <-chan error, error) {
	live, err := sources.OpenLive(plan)
	switch {
	case err != nil && len(plan.JournalDirs) > 0:
		return nil, nil, failureErr(err, "")
	case err != nil && plan.Source == sources.LiveNetlink:
		return nil, nil, failureErr(err, "needs CAP_AUDIT_READ (root); or use --source journal")
	case err != nil:
		return nil, nil, failureErr(err, "run as root")
	}
	cgroups := attribute.NewCgroups(os.DirFS("/proc"), nil, initialPIDNamespace())
	ended := make(chan error, 1)
	go func() {
		defer close(recs)
		ended <- live.Run(ctx, func(r audit.Record) {
			s := sourced{rec: r}
			if live.Local {
				s.unit, s.why = cgroups.Read(r.PID)
			}
			select {
			case recs <- s:
			case <-ctx.Done():
			}
		})
	}()
	return live, ended, nil
}

// lost counts and tells what the host dropped before sysdiag read it.
func (w *watcher) lost(l sources.Loss) {
	w.mu.Lock()
	w.lostK += l.Kernel
	w.lostU += l.Overflows
	if l.Overflows > 0 {
		fmt.Fprintln(w.errw, "sysdiag: the netlink receive buffer overflowed (ENOBUFS): records were lost; continuing")
	}
	w.mu.Unlock()
	if l.Kernel > 0 {
		w.emit(watchEvent{Type: "lost", Lost: &lostJSON{Kernel: l.Kernel}},
			fmt.Sprintf("sysdiag: the kernel dropped %d audit records (backlog full)", l.Kernel), true)
	}
}

// watchLost reports the kernel's lost-record counter when it moves (read-only AUDIT_GET; never SetPID).
func (w *watcher) watchLost(ctx context.Context) { sources.WatchLost(ctx, w.lost) }

// handle filters, folds, diagnoses and prints one violation, already attributed.
func (w *watcher) handle(v evidence.Violation, live bool) {
	o := w.opts
	switch {
	case o.action == "kill" && !v.Action.IsKill(), o.action == "log" && v.Action != audit.ActionLog:
		return
	case o.syscall != "" && v.Name != o.syscall:
		return
	case o.unit != "":
		if ok, _ := path.Match(o.unit, v.Unit); !ok {
			return
		}
	}
	unit := v.Unit
	if unit == "" {
		unit = "unknown"
	}
	key := foldKey{v.Node, v.Machine, unit, v.UserUnit, v.Name, v.Arch.String(), v.Action.String()}
	w.mu.Lock()
	w.seen[key]++
	n := w.seen[key]
	w.mu.Unlock()
	if n > 1 {
		return // folded: counted, shown in the summary
	}
	var delay int64
	if live {
		delay = time.Since(v.Time).Milliseconds()
	}
	// Diagnosing reads the unit (D-Bus, files) and builds BPF: one worker does it, off the record loop, so
	// a slow manager never stalls the reading of records (the kernel drops what is not read).
	j := diagJob{v, unit, delay}
	if !live {
		w.explain(j, true) // a replay: in order, before following starts
		return
	}
	select {
	case w.diag <- j:
	default:
		w.explain(j, false) // the worker is behind: the event without the diagnosis
	}
}

type diagJob struct {
	v     evidence.Violation
	unit  string
	delay int64
}

// startDiagnosis runs the worker that diagnoses and prints first violations; finish waits for it.
func (w *watcher) startDiagnosis() {
	w.diag = make(chan diagJob, 1024)
	w.diagDone = make(chan struct{})
	go func() {
		defer close(w.diagDone)
		for j := range w.diag {
			w.explain(j, true)
		}
	}()
}

// finish lets the worker print what it holds, then prints the summary.
func (w *watcher) finish() {
	w.drain()
	w.summary()
}

// drain lets the worker print what it holds and stop.
func (w *watcher) drain() {
	close(w.diag)
	<-w.diagDone
}

// explain prints one first violation of its kind: with the unit's line and the verified fix when diag.
func (w *watcher) explain(j diagJob, diag bool) {
	v, unit := j.v, j.unit
	wv := diagnose.Finding{Violation: diagnose.ViolationOf(v, w.tableFor(v))}
	ev := watchEvent{Type: "violation", Finding: &wv, Count: 1, DelayMS: j.delay}
	who := clean(unit)
	if v.Node != "" || v.Machine != "" {
		who = clean(hostText(diagnose.HostReport{Host: v.Node, MachineID: v.Machine})) + "  " + who
	}
	f, ui, why := (*fixes.Filter)(nil), (*diagnose.Unit)(nil), ""
	if diag {
		f, ui, why = w.filterFor(v)
		if f != nil {
			wv.Groups = diagnose.GroupNames(v, f.Table) // the groups of the host's own systemd
		}
	}
	line := fmt.Sprintf("%s  %s  %s (%s %d)  %s  %s", v.Time.Local().Format("15:04:05.000"), who, v.Name, v.Arch, v.Syscall,
		firstOr(wv.Groups, "-"), v.Action)
	if !diag {
		line += "  — not diagnosed: too many new violations at once"
	} else if f != nil && v.Known() {
		// The same answer why gives: the line, and the smallest fix verified against BPF.
		host := w.host
		if v.Node != "" || v.Machine != "" {
			host = 0 // another host's: "native" from its record (diagnose.HostArch)
		}
		res := diagnose.Diagnose(ui, f, f.Table, "", &diagnose.Evidence{Violations: []evidence.Violation{v}, Host: host})
		if len(res.Violations) == 1 {
			wv.BlockedBy = res.Violations[0].BlockedBy
		}
		if fx := res.Fix; fx != nil {
			ev.Fix = &watchFix{Allow: fx.Allow, Architectures: fx.Architectures, Dropin: fx.Dropin, DropinPath: fx.DropinPath, Verified: fx.Verified}
			fixText := strings.TrimSpace(fx.Dropin[strings.LastIndex(strings.TrimSpace(fx.Dropin), "\n")+1:])
			line += "  — " + clean(wv.BlockedBy.Explain) + "; fix: " + clean(fixText)
		}
	} else if v.Unit == "" && (v.Node != "" || v.Machine != "") {
		line += "  — unit unknown (no coredump entry of that host names it)"
	} else if v.Unit == "" {
		line += "  — unit unknown (the process was gone before its cgroup could be read)"
	} else if why != "" {
		line += "  — " + clean(why)
	}
	w.emit(ev, line, false)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// filterFor loads (and caches for a few seconds: the admin may be editing it) the unit's filter, for its
// host's systemd; why says, when there is none, what is missing.
func (w *watcher) filterFor(v evidence.Violation) (*fixes.Filter, *diagnose.Unit, string) {
	if v.Unit == "" {
		return nil, nil, ""
	}
	key := fmt.Sprintf("%s|%s|%s|%t", v.Node, v.Machine, v.Unit, v.UserUnit)
	w.mu.Lock()
	c, ok := w.filters[key]
	w.mu.Unlock()
	if ok && time.Since(c.when) < 3*time.Second {
		return c.f, c.u, ""
	}
	h := v.Host()
	root := rootFor(w.roots, v.Node, v.Machine)
	if root == "" && !h.Compatible(w.local) {
		return nil, nil, fmt.Sprintf("no copy of host %s's unit files (--root %s=DIR): no line, no fix", hostLabel(h), hostKey(h))
	}
	var u *diagnose.Unit
	var err error
	if root == "" && !v.UserUnit {
		u, err = loadUnitLive(v.Unit, false)
	}
	if u == nil {
		base := rootOrSlash(root)
		home := ""
		if uid, ok := managerUID(v.Manager); ok && v.UserUnit {
			home = homeOf(base, uid) // another user's unit: under that user's home, not ours
		}
		if home != "" {
			u, err = loadUnitOfflineHome(base, v.Unit, v.UserUnit, home)
		} else {
			u, err = loadUnitOffline(base, v.Unit, v.UserUnit)
		}
	}
	if err != nil || u == nil {
		return nil, nil, ""
	}
	t, _, err := unitTable(w.opts.systemdVersion, root, u, diagnose.HostVersion(w.versions, h))
	if err != nil {
		t = w.table
	}
	var known fixes.Known
	if root == "" {
		known = fixes.LibseccompKnows
	}
	f := fixes.Build(t, u.Assigns, known)
	w.mu.Lock()
	w.filters[key] = cachedFilter{f, u, time.Now()}
	w.mu.Unlock()
	return f, u, ""
}

// tableFor is the table of the violation's host: --systemd-version, else the version its journal names,
// else the local one (the manager's, for a unit it knows, is picked by filterFor).
func (w *watcher) tableFor(v evidence.Violation) syscalls.Table {
	if w.opts.systemdVersion == "" {
		if ver, err := syscalls.ParseVersion(diagnose.HostVersion(w.versions, v.Host())); err == nil && ver.Major > 0 {
			return syscalls.Select(ver)
		}
	}
	return w.table
}

// fleetVersions reads each host's systemd version from its manager's start-up lines in the journals.
func fleetVersions(src journal.Source) map[string]string {
	r, err := journal.Open(src)
	if err != nil {
		return nil
	}
	defer r.Close()
	starts, _ := journal.ManagerStarts(r, time.Time{})
	return diagnose.ManagerVersions(starts)
}

// emit prints an event: JSON, one object per line (flushed: stdout is unbuffered), or the human line.
func (w *watcher) emit(ev watchEvent, human string, diag bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.opts.json {
		_ = writeJSONLine(w.out, ev)
		return
	}
	if diag {
		fmt.Fprintln(w.errw, human)
		return
	}
	fmt.Fprintln(w.out, human)
}

// summary prints the counts per unit at the end.
func (w *watcher) summary() {
	w.mu.Lock()
	type unitKey struct {
		host, machine, unit string
		user                bool
	}
	per := map[unitKey]*unitCount{}
	for k, n := range w.seen {
		u := unitKey{k.host, k.machine, k.unit, k.user}
		if per[u] == nil {
			per[u] = &unitCount{Host: k.host, MachineID: k.machine, Unit: k.unit, UserUnit: k.user, Syscalls: map[string]int{}}
		}
		per[u].Syscalls[k.syscall] += n
		per[u].Total += n
	}
	lostK, lostU := w.lostK, w.lostU
	w.mu.Unlock()
	var list []unitCount
	for _, c := range per {
		list = append(list, *c)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Host != list[j].Host || list[i].MachineID != list[j].MachineID {
			return list[i].Host+"/"+list[i].MachineID < list[j].Host+"/"+list[j].MachineID
		}
		if list[i].Unit != list[j].Unit {
			return list[i].Unit < list[j].Unit
		}
		return !list[i].UserUnit && list[j].UserUnit
	})
	if w.opts.json {
		w.emit(watchEvent{Type: "summary", Summary: list, Lost: &lostJSON{Kernel: lostK, Userspace: lostU}}, "", false)
		return
	}
	var b strings.Builder
	b.WriteString("summary:")
	if len(list) == 0 {
		b.WriteString(" no violations")
	}
	for _, c := range list {
		var parts []string
		for s, n := range c.Syscalls {
			parts = append(parts, fmt.Sprintf("%s×%d", s, n))
		}
		sort.Strings(parts)
		u := clean(c.Unit)
		if c.UserUnit {
			u += " (user)"
		}
		if c.Host != "" || c.MachineID != "" {
			u = clean(hostText(diagnose.HostReport{Host: c.Host, MachineID: c.MachineID})) + " " + u
		}
		fmt.Fprintf(&b, "\n  %s: %s", u, strings.Join(parts, " "))
	}
	if lostK > 0 || lostU > 0 {
		fmt.Fprintf(&b, "\n  lost: %d records in the kernel, %d netlink overflows", lostK, lostU)
	}
	w.emit(watchEvent{}, b.String(), false)
}
