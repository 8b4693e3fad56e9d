package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/internal/attribute"
	"github.com/sysdiag/sysdiag/internal/diagnose"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/unit"
	"github.com/sysdiag/sysdiag/internal/unitfile"
	"github.com/sysdiag/sysdiag/journal"
)

type postmortemOptions struct {
	since, until string
	unit         string
	roots        []string // "DIR" (every host) or "HOST=DIR"
	versions     []string // "V" (every host) or "HOST=V"
	json         bool
	write        bool
	failOn       string
	sources      sourceFlags
}

func newPostmortemCmd() *cobra.Command {
	opts := &postmortemOptions{}
	c := &cobra.Command{
		Use:   "postmortem",
		Short: "After a deploy: every unit its seccomp filter killed in a window, diagnosed, with one fix each",
		Long: `List every unit (system and user) that its seccomp filter killed in the window — default: since the
last boot — with each blocked call once and how often (a restart loop is one line), the line that
blocked it, and the smallest fix for all of that unit's calls, verified like why's. Kills that no
evidence ties to a unit are counted apart by host, program and call (the earliest listed one by one),
never dropped and never guessed; units that failed with no record but whose filter answers denials
with an errno are listed as "possibly denied silently".

Exit status (for deploy pipelines): 4 when the window holds a seccomp kill — of a unit (matching --unit),
or one tied to no unit, which may be any unit's — or a unit possibly denied silently; 0 when it holds
none (--fail-on never: always 0, after printing). Nothing is written unless --write is given.`,
		Example: `  $ sysdiag postmortem --since "10 min ago"
  $ sysdiag postmortem --since "2026-12-02 14:00" --json
  $ sysdiag postmortem --since -1h --write && systemctl daemon-reload`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runPostmortem(c.OutOrStdout(), c.ErrOrStderr(), opts, time.Now())
		},
	}
	c.Flags().StringVarP(&opts.since, "since", "S", "", "the window's start (journalctl's syntax; default: the last boot)")
	c.Flags().StringVarP(&opts.until, "until", "U", "", "the window's end (default: now)")
	c.Flags().StringVarP(&opts.unit, "unit", "u", "", "only units matching this glob")
	c.Flags().StringArrayVar(&opts.roots, "root", nil, "read the units' files under this directory instead of asking the running manager; HOST=DIR for the kills of one host (audit node=), repeatable")
	c.Flags().StringArrayVar(&opts.versions, "systemd-version", nil, "the units' systemd version (default: the manager's, the host's journal's, or the local systemd); HOST=V for one host's, repeatable")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	c.Flags().BoolVar(&opts.write, "write", false, "write each unit's drop-in (as why --write does)")
	c.Flags().StringVar(&opts.failOn, "fail-on", "killed", "exit 4 when the window holds a kill, of a unit or tied to none, or a unit failed silently (killed); or always 0 (never)")
	registerSources(c, &opts.sources)
	_ = c.RegisterFlagCompletionFunc("unit", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		return completeUnits(false, prefix), cobra.ShellCompDirectiveNoFileComp
	})
	_ = c.RegisterFlagCompletionFunc("fail-on", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"killed", "never"}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

// exitKilled is postmortem's status when the window had kills (tied to a unit or not) or silent failures.
const exitKilled = 4

func runPostmortem(stdout, stderr io.Writer, opts *postmortemOptions, now time.Time) error {
	if opts.failOn != "killed" && opts.failOn != "never" {
		return usageErr(fmt.Errorf("--fail-on %q: want killed or never", opts.failOn), "")
	}
	since := opts.since
	if since == "" {
		since = "@" + strconv.FormatInt(bootTime(now).Unix(), 10)
	}
	w, err := parseWindow(since, opts.until, now)
	if err != nil {
		return err
	}
	sf := &opts.sources
	units, err := newFleet(opts.roots, opts.versions)
	if err != nil {
		return err
	}

	// 1. The evidence of the window, and what ties kills to units without a coredump (host: journal).
	var jr journal.Querier
	facts := attribute.Facts{ForeignPIDs: sf.LocalJournal() && !initialPIDNamespace()}
	var failed []journal.UnitResult
	if sf.WantsJournal() {
		r, _, err := sf.OpenJournal()
		if err != nil {
			return failureErr(err, journalHint(err))
		}
		jr = r
		if facts, failed, err = attribute.WindowFacts(r, w, units.Programs, facts.ForeignPIDs); err != nil {
			r.Close()
			return failureErr(err, "")
		}
		if !sf.LocalJournal() { // a journal of other hosts: each one's systemd, from its manager's start-up line
			starts, _ := journal.ManagerStarts(r, w.Until) // none read: each host's tree or the flag decides
			units.Journals = diagnose.ManagerVersions(starts)
		}
		// The handle is closed while the sources are read (they open their own): each handle maps the
		// journal's files anew, and its pages count in the process's memory as long as it is open.
		r.Close()
	}
	// The kills, in memory bounded by what the evidence finds (attribute.Store); logged calls
	// (SystemCallLog= floods) are left out.
	lim := attribute.DefaultLimits
	if jr == nil || facts.ForeignPIDs {
		lim.JournalPIDs = 0 // no journal to ask about a pid
	}
	store := attribute.NewStore(facts, lim)
	reports, err := collect(sf, w, nil, nil, func(v evidence.Violation) error {
		store.Add(v)
		return nil
	})
	if err != nil {
		return err
	}
	if jr != nil && !facts.ForeignPIDs {
		if r, _, err := sf.OpenJournal(); err == nil {
			facts.Processes, facts.Runs = attribute.ProcessesOf(r, store.Pending(), w.Since, facts.Runs)
			r.Close()
		}
	}
	store.Attribute(facts)

	// 2. Per host and unit: its files, its filter for its host's version, the diagnosis, folded.
	local, err := units.Choose(journal.Host{}, nil)
	if err != nil {
		return cliErr(err)
	}
	pm, err := diagnose.BuildPostmortem(diagnose.PostmortemInput{Window: w, Unit: opts.unit, Store: store, Failed: failed,
		Sources: reports, Versions: units.Journals, Table: local.Table}, fleetUnits{units})
	if err != nil {
		return err
	}

	// 3. --write: each fix into its host's tree.
	if opts.write {
		for _, h := range pm.Hosts {
			for _, u := range h.Units {
				if u.Fix == nil {
					continue
				}
				p, root := u.Fix.DropinPath, units.Roots.For(journal.Host{Hostname: h.Host, MachineID: h.MachineID})
				if err := unitfile.WriteDropInUnder(root, p, u.Fix.Dropin); err != nil {
					return failureErr(fmt.Errorf("writing the drop-in of %s: %w", u.Unit, err), "write it by hand, or remove the file if it is yours")
				}
				if root != "" {
					p = filepath.Join(root, p)
				}
				u.Fix.DropinPath, u.Fix.Written = p, true
			}
		}
	}

	// 4. Render.
	if opts.json {
		if err := writeJSON(stdout, pm); err != nil {
			return err
		}
	} else if err := printPostmortem(stdout, pm, w); err != nil {
		return err
	}
	n := 0
	for _, h := range pm.Hosts {
		n += len(h.Units)
	}
	if (n > 0 || len(pm.Silent) > 0 || pm.UnattributedTotal > 0) && opts.failOn == "killed" {
		hint := ""
		if pm.UnattributedTotal > 0 {
			hint = "a kill tied to no unit may be any unit's: the report names its program and call; --fail-on never exits 0"
		}
		return &cliError{exitKilled, fmt.Errorf("%d unit(s) killed, %d possibly denied silently, %d kill(s) not tied to a unit in the window", n, len(pm.Silent), pm.UnattributedTotal), hint}
	}
	return nil
}

// fleetUnits reads the post-mortem's units (diagnose.UnitSource) through unit.Fleet: a host's --root
// tree, else — for this host's kills — the running manager or the user's files; another host's unit
// without a tree comes back as a stub with the reason.
type fleetUnits struct{ *unit.Fleet }

func (f fleetUnits) Load(k diagnose.UnitKey, vs []evidence.Violation) (diagnose.Loaded, error) {
	h, m := k.HostOf(), firstManager(vs)
	u, err := f.Fleet.Load(h, k.Unit, k.User, m)
	if err != nil {
		u = f.Stub(h, k.Unit, k.User, m)
	}
	c, cerr := f.Choose(h, u)
	return diagnose.Loaded{Unit: u, Table: c.Table, Note: c.Note, Known: c.Known, LoadErr: err}, cliErr(cerr)
}

func firstManager(vs []evidence.Violation) string {
	for _, v := range vs {
		if v.Manager != "" {
			return v.Manager
		}
	}
	return ""
}

// bootTime is when this machine booted (/proc/stat btime), for the default window; now when unknown.
func bootTime(now time.Time) time.Time {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return now
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return now
}

func printPostmortem(w io.Writer, pm *diagnose.Postmortem, win audit.Window) error {
	bw := &errWriter{w: w}
	n := 0
	for _, h := range pm.Hosts {
		n += len(h.Units)
	}
	fmt.Fprintf(bw, "%d unit(s) killed by their seccomp filter%s; %d possibly denied silently; %d kill(s) not tied to a unit\n\n",
		n, windowText(win), len(pm.Silent), pm.UnattributedTotal)
	if n > 0 {
		tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tUNIT\tKILLS\tCALLS\tSMALLEST GROUP\tFIX")
		for _, h := range pm.Hosts {
			host := hostText(h)
			for _, u := range h.Units {
				var calls, groups []string
				for _, c := range u.Calls {
					s := c.Syscall
					if c.Number < 0 { // known only from a coredump: no record names the call
						s = diagnose.UnknownCall
					}
					if c.Count > 1 {
						s += fmt.Sprintf("×%d", c.Count)
					}
					calls = append(calls, s)
				}
				for _, f := range u.Violations {
					if len(f.Groups) > 0 {
						groups = append(groups, f.Groups[0])
					}
				}
				fix := "-"
				if u.Fix != nil {
					fix = strings.TrimPrefix(strings.TrimSpace(lastLine(u.Fix.Dropin)), "# ")
				}
				name := u.Unit
				if u.User {
					name += " (user)"
				}
				kills := strconv.Itoa(u.Kills)
				if u.NRestarts != nil && *u.NRestarts > 0 {
					kills += fmt.Sprintf(" (%d restarts)", *u.NRestarts)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", clean(host), clean(name), kills, strings.Join(calls, " "), firstOr(groups, "-"), clean(fix))
			}
		}
		tw.Flush()
		if len(pm.Hosts) > 1 || pm.Hosts[0].Host != "" || pm.Hosts[0].MachineID != "" {
			fmt.Fprintln(bw)
			for _, h := range pm.Hosts { // each host's groups are its own systemd's: say whose
				fmt.Fprintf(bw, "%s: groups of %s\n", clean(hostText(h)), clean(h.Units[0].TableNote))
			}
		}
		for _, h := range pm.Hosts {
			for _, u := range h.Units {
				if u.Fix == nil {
					continue
				}
				name := clean(u.Unit)
				if h.Host != "" || h.MachineID != "" {
					name = clean(hostText(h)) + " " + name
				}
				renderFix(bw, fixOf(name, u.Fix))
				for _, n := range u.Notes {
					fmt.Fprintf(bw, "  note: %s\n", clean(n))
				}
			}
		}
	}
	if len(pm.Silent) > 0 {
		fmt.Fprintf(bw, "\nPossibly denied silently:\n")
		for _, s := range pm.Silent {
			fmt.Fprintf(bw, "  %s\n", clean(s.Explain))
		}
	}
	if pm.UnattributedTotal > 0 {
		printUntied(bw, pm)
	}
	return bw.err
}

// untiedGroupsShown is how many groups of untied kills the text lists (--json lists them all).
const untiedGroupsShown = 20

// printUntied prints the kills tied to no unit: counted by host, program and call, then the earliest one by one.
func printUntied(bw io.Writer, pm *diagnose.Postmortem) {
	fmt.Fprintf(bw, "\nNot tied to a unit, by program and call:\n")
	tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KILLS\tHOST\tPROGRAM\tCALL\tFIRST\tLAST")
	gs, rest, more := pm.UnattributedGroups, 0, 0
	var other *diagnose.UntiedGroup
	if n := len(gs); n > 0 && gs[n-1].Other {
		gs, other = gs[:n-1], &gs[n-1]
	}
	if len(gs) > untiedGroupsShown+1 {
		for _, g := range gs[untiedGroupsShown:] {
			rest += g.Count
		}
		gs, more = gs[:untiedGroupsShown], len(gs)-untiedGroupsShown
	}
	for _, g := range gs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", g.Count, clean(hostText(diagnose.HostReport{Host: g.Host, MachineID: g.MachineID})),
			clean(exeOr(g.Exe)), callText(g.Syscall, g.Arch, g.Number), g.First, g.Last)
	}
	tw.Flush()
	if more > 0 {
		fmt.Fprintf(bw, "  and %d kill(s) in %d more groups (--json lists them)\n", rest, more)
	}
	if other != nil {
		fmt.Fprintf(bw, "  and %d kill(s) of other programs and calls, past %d groups, from %s to %s\n", other.Count, len(pm.UnattributedGroups)-1, other.First, other.Last)
	}
	if len(pm.Unattributed) < pm.UnattributedTotal {
		fmt.Fprintf(bw, "\n%d kill(s) not tied to a unit (showing %d):\n", pm.UnattributedTotal, len(pm.Unattributed))
	} else {
		fmt.Fprintf(bw, "\n%d kill(s) not tied to a unit:\n", pm.UnattributedTotal)
	}
	for _, v := range pm.Unattributed {
		fmt.Fprintf(bw, "  %s  pid %d  %s  %s  %s\n", v.Time, v.PID, clean(v.Exe), callText(v.Syscall, v.Arch, v.Number), v.Action)
	}
}

// callText names a call for a table: "ptrace (x86_64 101)", or diagnose.UnknownCall when no record
// named it.
func callText(name, arch string, nr int) string {
	if nr < 0 {
		return diagnose.UnknownCall
	}
	return fmt.Sprintf("%s (%s %d)", name, arch, nr)
}

func exeOr(exe string) string {
	if exe == "" {
		return "-"
	}
	return exe
}

// hostText names a host in one word: hostname, and the start of its machine id where the journal names
// one (hostnames repeat in fleets; machine ids do not); "-" for this host.
func hostText(h diagnose.HostReport) string {
	host := h.Host
	if host == "" {
		host = "-"
	}
	if id := h.MachineID; id != "" {
		host += "/" + id[:min(8, len(id))]
	}
	return host
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return ls[len(ls)-1]
}
