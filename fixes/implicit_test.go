package fixes

import (
	"strings"
	"testing"

	"github.com/sysdiag/sysdiag/syscalls"
)

func TestImplicits(t *testing.T) {
	v252, _ := syscalls.ParseVersion("252.39")
	v258, _ := syscalls.ParseVersion("258")
	t252, t258 := syscalls.Select(v252), syscalls.Select(v258)
	as := []Assignment{
		{Directive: "ProtectClock", Value: "yes", File: "/etc/systemd/system/a.service", Line: 7},
		{Directive: "ProtectKernelLogs", Value: "yes"},
		{Directive: "ProtectKernelLogs", Value: ""}, // reset: off again
		{Directive: "RestrictAddressFamilies", Value: "AF_UNIX AF_INET"},
		{Directive: "RestrictNamespaces", Value: "cgroup ipc net mnt pid user uts time"}, // every type retained: no filter
		{Directive: "DynamicUser", Value: "yes"},
		{Directive: "ProtectHostname", Value: "private"},
		{Directive: "MemoryDenyWriteExecute", Value: "true"},
	}
	got := map[string]Implicit{}
	for _, im := range Implicits(t252, as) {
		got[im.Directive] = im
	}
	for _, d := range []string{"ProtectClock", "RestrictAddressFamilies", "RestrictSUIDSGID", "MemoryDenyWriteExecute", "ProtectHostname"} {
		if _, ok := got[d]; !ok {
			t.Errorf("252: %s missing: %v", d, got)
		}
	}
	for _, d := range []string{"ProtectKernelLogs", "RestrictNamespaces"} {
		if _, ok := got[d]; ok {
			t.Errorf("252: %s must be off: %+v", d, got[d])
		}
	}
	c := got["ProtectClock"]
	if !c.Whole || c.Errno != "EPERM" || c.Where != "/etc/systemd/system/a.service:7" || !c.Blocks("clock_settime") || !c.Blocks("adjtimex") {
		t.Errorf("ProtectClock: %+v", c)
	}
	if s := got["RestrictSUIDSGID"]; !strings.Contains(s.Where, "implied by DynamicUser=yes") {
		t.Errorf("RestrictSUIDSGID from DynamicUser: %+v", s)
	}
	if a := got["RestrictAddressFamilies"]; a.Whole || a.Errno != "EAFNOSUPPORT" || !strings.Contains(a.Condition, "AF_UNIX AF_INET") {
		t.Errorf("RestrictAddressFamilies: %+v", a)
	}
	if m := got["MemoryDenyWriteExecute"]; m.Note != "" {
		t.Errorf("v252 has no prctl(PR_SET_MDWE) path: %+v", m)
	}
	// v258: ProtectHostname=private installs no filter; MDWE goes through prctl on new kernels.
	for _, im := range Implicits(t258, as) {
		if im.Directive == "ProtectHostname" {
			t.Errorf("258: ProtectHostname=private must install no filter: %+v", im)
		}
		if im.Directive == "MemoryDenyWriteExecute" && !strings.Contains(im.Note, "PR_SET_MDWE") {
			t.Errorf("258: %+v", im)
		}
	}
	if s := c.Summary(); !strings.HasPrefix(s, "ProtectClock= (/etc/systemd/system/a.service:7): ") || !strings.HasSuffix(s, " answer EPERM") {
		t.Errorf("summary %q", s)
	}
}
