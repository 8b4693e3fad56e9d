package syscalls

import (
	"fmt"
	"sort"
	"strings"
)

// Answer is what `sysdiag syscall` answers about one syscall (its --json): its number on every arch, the
// @groups that hold it in one table, whether @default has it, how its groups changed across releases and
// which `systemd-analyze security` rows allowing it flips. Lookup builds it.
type Answer struct {
	Query          string         `json:"query"`
	Syscall        string         `json:"syscall"`
	Arch           string         `json:"arch,omitempty"`
	AuditArch      string         `json:"audit_arch,omitempty"`
	Number         *int           `json:"number,omitempty"`
	ArchAssumed    bool           `json:"arch_assumed,omitempty"` // a number given without an arch: the host's
	Numbers        []AnswerNumber `json:"numbers"`
	Related        []AnswerNumber `json:"related,omitempty"` // e.g. fchown32 beside fchown on i386
	RelatedName    string         `json:"related_name,omitempty"`
	SystemdVersion string         `json:"systemd_version"`
	Table          string         `json:"table"`
	TableExact     bool           `json:"table_exact"`
	TableNote      string         `json:"table_note"`
	Groups         []AnswerGroup  `json:"groups"`
	InDefault      bool           `json:"in_default"`
	History        []AnswerChange `json:"history"`
	SecurityRows   []AnswerRow    `json:"security_rows"`
}

// AnswerNumber is a syscall's number on one arch, with the arch's name and audit hex.
type AnswerNumber struct {
	Arch      string `json:"arch"`
	AuditArch string `json:"audit_arch"`
	Number    int    `json:"number"`
}

// AnswerGroup is a [Membership] of the answer.
type AnswerGroup struct {
	Group     string   `json:"group"`
	Size      int      `json:"size"`
	Via       []string `json:"via"`
	Condition string   `json:"condition,omitempty"`
}

// AnswerChange is a [Change] of the answer.
type AnswerChange struct {
	From   string   `json:"from,omitempty"`
	To     string   `json:"to"`
	Joined []string `json:"joined,omitempty"`
	Left   []string `json:"left,omitempty"`
}

// AnswerRow is a [SecurityRow] that allowing the syscall flips.
type AnswerRow struct {
	ID     string `json:"id"`
	Group  string `json:"group"`
	Weight int    `json:"weight"`
}

// QueryError is why a query has no answer: it cannot be read (a usage mistake), or, NotFound, nothing
// answers it. Hint names the next step.
type QueryError struct {
	NotFound bool
	Err      error
	Hint     string
}

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

func badQuery(err error, hint string) error { return &QueryError{false, err, hint} }
func notFound(err error, hint string) error { return &QueryError{true, err, hint} }

// Lookup answers query — a name, or a number for arch (an audit arch name or hex; "" means the host's
// arch, and the answer says it assumed it) — against table t, whose choice note explains. A query or an
// arch that cannot be read, an unknown name (with the nearest names as the hint), or a number or name
// the arch has not, is a *QueryError.
func Lookup(query, arch string, t Table, note string) (*Answer, error) {
	q := strings.TrimSpace(query)
	res := &Answer{Query: query, SystemdVersion: t.Requested.String(), Table: t.Label(),
		TableExact: t.Exact(), TableNote: note}
	var a Arch
	if arch != "" {
		pa, err := ParseArch(arch)
		if err != nil {
			return nil, badQuery(err, "")
		}
		if !pa.Known() {
			return nil, notFound(fmt.Errorf("no syscall table for audit arch %s", pa.Hex()), "known: "+strings.Join(archList(), ", "))
		}
		a = pa
	}
	pq, err := ParseQuery(q)
	if err != nil {
		return nil, badQuery(err, "give a name (fchown) or the number from a record's syscall= field")
	}
	if pq.IsNumber {
		if a == 0 {
			a = HostArch()
			res.ArchAssumed = true
		}
		name, ok := Name(a, pq.Number)
		if !ok {
			return nil, notFound(fmt.Errorf("no syscall %d on %s", pq.Number, a),
				"a record's number belongs to its arch= field: pass --arch with that value")
		}
		res.Syscall = name
	} else {
		name := pq.Name
		if !IsSyscall(name) {
			hint := "see 'sysdiag groups @known' for every name systemd knows"
			if close := closestNames(name, AllNames(), 3); len(close) > 0 {
				hint = "did you mean " + strings.Join(close, ", ") + "?"
			}
			return nil, notFound(fmt.Errorf("unknown syscall %q", q), hint)
		}
		res.Syscall = name
		if a != 0 {
			if _, ok := Number(a, name); !ok {
				return nil, notFound(fmt.Errorf("%s is not a syscall on %s", name, a), "it exists on: "+archesOf(name))
			}
		}
	}
	if a != 0 {
		nr, _ := Number(a, res.Syscall)
		res.Arch, res.AuditArch, res.Number = a.String(), a.Hex(), &nr
		// Several 32-bit ABIs keep a 16-bit-uid call beside its 32 variant (fchown / fchown32 on i386).
		alt := res.Syscall + "32"
		if n, ok := Number(a, alt); ok {
			res.RelatedName = alt
			res.Related = []AnswerNumber{{a.String(), a.Hex(), n}}
		}
	}
	for _, an := range Numbers(res.Syscall) {
		res.Numbers = append(res.Numbers, AnswerNumber{an.Arch.String(), an.Arch.Hex(), an.Number})
	}
	res.Groups = []AnswerGroup{}
	for _, m := range t.GroupsOf(res.Syscall) {
		via := m.Via
		if via == nil {
			via = []string{}
		}
		res.Groups = append(res.Groups, AnswerGroup{m.Group, m.Size, via, m.Cond})
	}
	res.InDefault = t.InDefault(res.Syscall)
	res.History = []AnswerChange{}
	for _, c := range History(res.Syscall) {
		res.History = append(res.History, AnswerChange{c.From, c.To, c.Joined, c.Left})
	}
	res.SecurityRows = []AnswerRow{}
	for _, r := range SecurityRows() {
		if t.Contains(r.Group, res.Syscall) {
			res.SecurityRows = append(res.SecurityRows, AnswerRow{r.ID, r.Group, r.Weight})
		}
	}
	return res, nil
}

// LookupGroups is the groups `sysdiag groups [@GROUP]` prints: every group of t, or the one named (with
// or without its "@"). A group t has not is a NotFound *QueryError whose hint lists t's groups.
func LookupGroups(t Table, name string) ([]Group, error) {
	if name == "" {
		return t.Groups(), nil
	}
	g, ok := t.Group(name)
	if !ok {
		return nil, notFound(fmt.Errorf("systemd v%s has no group %s", t.Label(), name), "groups: "+strings.Join(t.GroupNames(), " "))
	}
	return []Group{g}, nil
}

// GroupNames lists the names of t's groups in systemd's order.
func (t Table) GroupNames() []string {
	var names []string
	for _, g := range t.Groups() {
		names = append(names, g.Name)
	}
	return names
}

// archesOf names the arches that have the syscall name.
func archesOf(name string) string {
	var s []string
	for _, an := range Numbers(name) {
		s = append(s, an.Arch.String())
	}
	return strings.Join(s, ", ")
}

// closestNames returns up to n of names within edit distance 3 of q, nearest first (a name that q starts,
// q three bytes or more, counts as distance 1).
func closestNames(q string, names []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, name := range names {
		d := editDistance(q, name)
		if strings.HasPrefix(name, q) && len(q) >= 3 {
			d = min(d, 1)
		}
		if d <= 3 {
			cs = append(cs, cand{name, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// editDistance is the optimal-string-alignment distance (Levenshtein plus transpositions) of a and b (bytes; syscall names are ASCII).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1) // a transposition counts once
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
