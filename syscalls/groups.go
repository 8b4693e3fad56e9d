package syscalls

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

type member struct{ name, cond string }

type groupTable struct {
	name, help string
	members    []member // source order; "@x" entries are nested groups
	expanded   []string // plain names, nested groups expanded, sorted
}

type release struct {
	label        string // file label: "252", "252.39-debian", "261.2"
	major, point int
	vendor       string
	source       string
	groups       []groupTable
}

// Version is a systemd version as the manager reports it: major release and stable point release.
type Version struct {
	Major, Point int
	Raw          string // as given, e.g. "252.38-1~deb12u1"
}

func (v Version) String() string {
	if v.Raw != "" {
		return v.Raw
	}
	if v.Point > 0 {
		return fmt.Sprintf("%d.%d", v.Major, v.Point)
	}
	return strconv.Itoa(v.Major)
}

func (v Version) less(major, point int) bool {
	return v.Major < major || (v.Major == major && v.Point < point)
}

// ParseVersion accepts "252", "v252", "252.38", a Debian package version ("252.38-1~deb12u1") or the first
// line of `systemctl --version` ("systemd 252 (252.38-1~deb12u1)").
func ParseVersion(s string) (Version, error) {
	v := strings.TrimSpace(s)
	if i := strings.IndexByte(v, '('); i >= 0 {
		if j := strings.IndexByte(v[i:], ')'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	v = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(v), "systemd "), "v")
	raw := v
	// Cut a distribution suffix: "-1~deb12u1", "~rc1", "+git…", "-2.fc40".
	if i := strings.IndexAny(v, "-~+_ "); i >= 0 {
		v = v[:i]
	}
	majS, pointS, hasPoint := strings.Cut(v, ".")
	out := Version{Raw: raw}
	var err error
	if out.Major, err = strconv.Atoi(majS); err != nil || out.Major <= 0 || out.Major > 9999 {
		return Version{}, fmt.Errorf("not a systemd version: %q (want e.g. 252, 252.38 or 255.4-1)", s)
	}
	if hasPoint {
		if out.Point, err = strconv.Atoi(pointS); err != nil || out.Point < 0 || out.Point > 9999 {
			return Version{}, fmt.Errorf("not a systemd version: %q (want e.g. 252, 252.38 or 255.4-1)", s)
		}
	}
	return out, nil
}

// Table is the group table of one systemd release, picked for a requested version.
type Table struct {
	r         *release
	Requested Version
}

// Label names the table used: "252", "252.38-debian", "261.2".
func (t Table) Label() string { return t.r.label }

// Source says where the table's data came from.
func (t Table) Source() string { return t.r.source }

// Version is the release the table describes.
func (t Table) Version() Version { return Version{Major: t.r.major, Point: t.r.point} }

// Exact reports whether the table is of exactly the requested version (and point release).
func (t Table) Exact() bool {
	return t.Requested.Major == t.r.major && t.Requested.Point == t.r.point
}

// Note says, for a person, which table answered for the requested version.
func (t Table) Note() string {
	switch {
	case t.Exact():
		return fmt.Sprintf("systemd %s: table v%s", t.Requested, t.r.label)
	case t.Requested.less(t.r.major, t.r.point):
		return fmt.Sprintf("systemd %s is older than every table; using the oldest, v%s", t.Requested, t.r.label)
	default:
		return fmt.Sprintf("systemd %s has no table of its own; using the nearest lower one, v%s", t.Requested, t.r.label)
	}
}

// Select returns the table for v: the exact version or point release when there is one, else the
// nearest lower one (or the oldest, for a version older than every table).
func Select(v Version) Table {
	best := -1
	for i := range releases {
		r := &releases[i]
		if v.less(r.major, r.point) {
			break
		}
		best = i
	}
	if best < 0 {
		best = 0
	}
	return Table{r: &releases[best], Requested: v}
}

// Latest returns the newest table.
func Latest() Table {
	r := &releases[len(releases)-1]
	return Table{r: r, Requested: Version{Major: r.major, Point: r.point}}
}

// Tables returns every table, oldest first.
func Tables() []Table {
	out := make([]Table, len(releases))
	for i := range releases {
		r := &releases[i]
		out[i] = Table{r: r, Requested: Version{Major: r.major, Point: r.point}}
	}
	return out
}

// Member is one entry of a group as systemd's source lists it: a syscall or a nested "@group", with
// the compile-time condition under which it is included ("" = always).
type Member struct {
	Name string
	Cond string
}

// Group is one @group of a systemd release.
type Group struct {
	Name, Help string
	Members    []Member // source order, nested groups not expanded
	Expanded   []string // every plain syscall name, nested groups expanded, sorted
}

func (t Table) group(name string) *groupTable {
	for i := range t.r.groups {
		if t.r.groups[i].name == name {
			return &t.r.groups[i]
		}
	}
	return nil
}

func export(g *groupTable) Group {
	out := Group{Name: g.name, Help: g.help, Expanded: g.expanded}
	for _, m := range g.members {
		out.Members = append(out.Members, Member{m.name, m.cond})
	}
	return out
}

// Groups returns every group of the table in systemd's order.
func (t Table) Groups() []Group {
	out := make([]Group, len(t.r.groups))
	for i := range t.r.groups {
		out[i] = export(&t.r.groups[i])
	}
	return out
}

// Group returns the named group ("@chown" or "chown").
func (t Table) Group(name string) (Group, bool) {
	if !strings.HasPrefix(name, "@") {
		name = "@" + name
	}
	g := t.group(name)
	if g == nil {
		return Group{}, false
	}
	return export(g), true
}

// Contains reports whether syscall is in group, nested groups included.
func (t Table) Contains(group, syscall string) bool {
	g := t.group(group)
	if g == nil {
		return false
	}
	i := sort.SearchStrings(g.expanded, syscall)
	return i < len(g.expanded) && g.expanded[i] == syscall
}

// InDefault reports whether syscall is in @default, which systemd puts at the start of every allow list.
func (t Table) InDefault(syscall string) bool { return t.Contains("@default", syscall) }

// Membership says that a group contains a syscall, and how.
type Membership struct {
	Group string
	Size  int      // how many plain names the group holds, nested groups expanded
	Via   []string // nested groups the name is reached through, outermost first; empty = a direct member
	Cond  string   // compile-time condition of the entry, "" = always
}

// GroupsOf returns every group containing syscall, smallest first (ties in systemd's order).
func (t Table) GroupsOf(syscall string) []Membership {
	var out []Membership
	for i := range t.r.groups {
		g := &t.r.groups[i]
		if !t.Contains(g.name, syscall) {
			continue
		}
		via, cond := t.path(g, syscall)
		out = append(out, Membership{Group: g.name, Size: len(g.expanded), Via: via, Cond: cond})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Size < out[j].Size })
	return out
}

// path finds how g reaches syscall: the first direct entry, else the first nested group that has it.
func (t Table) path(g *groupTable, syscall string) ([]string, string) {
	for _, m := range g.members {
		if m.name == syscall {
			return nil, m.cond
		}
	}
	for _, m := range g.members {
		if strings.HasPrefix(m.name, "@") && t.Contains(m.name, syscall) {
			via, cond := t.path(t.group(m.name), syscall)
			return append([]string{m.name}, via...), cond
		}
	}
	return nil, ""
}

// Change is how a syscall's group membership changed from one table to the next.
type Change struct {
	From, To     string   // table labels
	Joined, Left []string // groups
}

// History lists, oldest first, every change of the groups containing syscall between consecutive upstream
// release tags (distribution point releases are left out: their backports would show as a change back
// and forth). The first entry has From == "" and lists the groups of the oldest table in Joined.
func History(syscall string) []Change {
	var out []Change
	prev := map[string]bool{}
	prevLabel := ""
	for _, t := range Tables() {
		if t.r.vendor != "" {
			continue
		}
		cur := map[string]bool{}
		for _, m := range t.GroupsOf(syscall) {
			cur[m.Group] = true
		}
		c := Change{From: prevLabel, To: t.Label()}
		for _, g := range t.r.groups {
			if cur[g.name] && !prev[g.name] {
				c.Joined = append(c.Joined, g.name)
			}
		}
		for g := range prev {
			if !cur[g] {
				c.Left = append(c.Left, g)
			}
		}
		sort.Strings(c.Left)
		if len(c.Joined) > 0 || len(c.Left) > 0 {
			out = append(out, c)
		}
		prev, prevLabel = cur, t.Label()
	}
	return out
}
