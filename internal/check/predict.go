package check

import (
	"sort"
	"strings"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/evidence"
	"github.com/sysdiag/sysdiag/internal/scan"
	"github.com/sysdiag/sysdiag/syscalls"
)

// Blocked is one predicted denial: a call some program can make that a filter of the unit blocks.
type Blocked struct {
	Syscall    string     `json:"syscall"`
	Number     int        `json:"number"`
	Arch       string     `json:"arch"`
	Confidence string     `json:"confidence"` // the best over the programs: "likely" or "possible"
	Programs   []string   `json:"programs"`
	Via        []scan.Via `json:"via"` // how the first program reaches it
	// Implicit names the directive whose own filter denies it (ProtectClock= …), "" for SystemCallFilter=.
	Implicit  string `json:"implicit,omitempty"`
	Condition string `json:"condition,omitempty"` // an argument-level implicit filter: only for these arguments
	Errno     string `json:"errno,omitempty"`
}

// Predict lists what the filter f and the implicit filters ims block of the programs' reachable calls
// (native ABI, host), likely ones first.
func Predict(f *fixes.Filter, ims []fixes.Implicit, progs []*Program, host syscalls.Arch) []Blocked {
	by := map[string]*Blocked{}
	var order []string
	for _, p := range progs {
		for _, r := range p.Reached {
			if r.Name == "" {
				continue
			}
			arch := host
			add := func(implicit, cond, errno string) {
				key := r.Name + "/" + implicit
				b := by[key]
				if b == nil {
					b = &Blocked{Syscall: r.Name, Number: r.Nr, Arch: arch.String(), Confidence: r.Confidence, Via: r.Via,
						Implicit: implicit, Condition: cond, Errno: errno}
					by[key] = b
					order = append(order, key)
				}
				if r.Confidence == "likely" && b.Confidence != "likely" {
					b.Confidence, b.Via = "likely", r.Via
				}
				b.Programs = appendNew(b.Programs, p.Path)
			}
			if f.Mode != fixes.ModeNone && f.Decide(r.Name, arch, host).Blocked {
				add("", "", "")
			}
			for _, im := range ims {
				if im.Blocks(r.Name) {
					add(im.Directive, im.Condition, im.Errno)
				}
			}
		}
	}
	out := make([]Blocked, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Confidence == "likely") != (out[j].Confidence == "likely") {
			return out[i].Confidence == "likely"
		}
		if (out[i].Implicit == "") != (out[j].Implicit == "") {
			return out[i].Implicit == ""
		}
		return out[i].Syscall < out[j].Syscall
	})
	return out
}

// Violations are the predicted SystemCallFilter= denials as violations, for the diagnosis and its fix
// (the same verified relaxation why proposes for a real kill). With likelyOnly, the possible ones are
// left out.
func Violations(bs []Blocked, likelyOnly bool) []evidence.Violation {
	var out []evidence.Violation
	for _, b := range bs {
		if b.Implicit != "" || likelyOnly && b.Confidence != "likely" {
			continue
		}
		a, err := syscalls.ParseArch(b.Arch)
		if err != nil {
			continue
		}
		out = append(out, evidence.Violation{Name: b.Syscall, Syscall: b.Number, Arch: a, Exe: strings.Join(b.Programs, " ")})
	}
	return out
}
