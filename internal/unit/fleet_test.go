package unit

import (
	"errors"
	"reflect"
	"testing"

	"github.com/sysdiag/sysdiag/journal"
)

// failingManager is a manager that cannot be reached.
type failingManager struct{}

func (failingManager) Load(string, bool) (*Unit, error) {
	return nil, failure(errors.New("cannot reach systemd over D-Bus: no bus"), "is systemd running here?")
}

func newFleet(t *testing.T, manager Loader) (*Fleet, string, string) {
	here := writeTree(t, hostTree)
	web1 := writeTree(t, map[string]string{
		"usr/lib/systemd/system/web.service": "[Service]\nExecStart=/usr/bin/web1d\nSystemCallFilter=@basic-io\n",
		"var/lib/dpkg/status":                "Package: systemd\nVersion: 252.39-1~deb12u1\n",
	})
	roots, err := ParseRoots([]string{"web1=" + web1})
	if err != nil {
		t.Fatal(err)
	}
	return &Fleet{
		Roots:    roots,
		Versions: Versions{"db1": "255.4"},
		Journals: map[string]string{"m-web2": "257.1"},
		Here:     journal.Host{Hostname: "here", MachineID: "m-here"},
		Manager:  manager,
		Slash:    here,
		Tables:   NewChooser(&fakeMachine{version: "252.39", disk: true}),
	}, here, web1
}

func TestFleetLoad(t *testing.T) {
	live := Fake{{Name: "web.service", Files: []string{"/etc/systemd/system/web.service"},
		State: State{Live: true, Version: mustVersion(t, "257.9"), HaveVer: true}}}
	f, _, web1 := newFleet(t, live)
	here := journal.Host{Hostname: "here", MachineID: "m-here"}

	// This machine's system unit: its running manager.
	u, err := f.Load(here, "web.service", false, "")
	if err != nil || !u.Live {
		t.Fatalf("this machine's system unit: %+v, %v; want the manager's", u, err)
	}
	ch, err := f.Choose(here, u)
	if err != nil || ch.From != FromManager || ch.Known == nil {
		t.Errorf("its table: %s %q known=%v %v; want the manager's, with this machine's names", ch.From, ch.Note, ch.Known != nil, err)
	}
	// A kill that names no host is this machine's.
	if u, err := f.Load(journal.Host{}, "web.service", false, ""); err != nil || !u.Live {
		t.Errorf("no host named: %+v, %v; want the manager's", u, err)
	}

	// This machine's user unit of another user: that user's files.
	u, err = f.Load(here, "sync.service", true, "user@1000.service")
	if err != nil || u.Live || u.Home != "/home/alice" {
		t.Fatalf("another user's unit: %+v, %v", u, err)
	}
	if ch, _ := f.Choose(here, u); ch.From != FromLocal || ch.Known == nil {
		t.Errorf("its table: %s %q known=%v; want the local one, with this machine's names", ch.From, ch.Note, ch.Known != nil)
	}

	// A fleet host with a tree: the tree's files and version, sysdiag's names.
	web1Host := journal.Host{Hostname: "web1", MachineID: "m-web1"}
	u, err = f.Load(web1Host, "web.service", false, "")
	if err != nil || u.Live || len(u.Assigns) == 0 || u.Assigns[0].Value != "@basic-io" {
		t.Fatalf("web1's unit: %+v, %v", u, err)
	}
	ch, err = f.Choose(web1Host, u)
	if err != nil || ch.From != FromTree || ch.Known != nil {
		t.Errorf("web1's table: %s %q known=%v %v; want the tree's, no libseccomp", ch.From, ch.Note, ch.Known != nil, err)
	}
	if got, want := f.Programs(web1Host, "web.service", false), []string{"/usr/bin/web1d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("web1's programs: %q, want %q (from %s)", got, want, web1)
	}

	// A fleet host without a tree: no unit, the reason named; its journal's or its flag's version.
	web2 := journal.Host{Hostname: "web2", MachineID: "m-web2"}
	_, err = f.Load(web2, "web.service", false, "")
	var nt *NoTreeError
	if KindOf(err) != NotFound || !errors.As(err, &nt) || !IsNoTree(err) ||
		err.Error() != "no copy of host web2 (machine m-web2)'s unit files: pass --root m-web2=DIR" {
		t.Errorf("web2's unit: %v (%v)", err, KindOf(err))
	}
	if s := f.Stub(web2, "x.service", true, "user@1000.service"); s.Home != "/root" || s.Name != "x.service" || !s.User {
		t.Errorf("web2's stub: %+v, want /root (no tree of it: no passwd to read)", s)
	}
	if got := f.Programs(web2, "web.service", false); got != nil {
		t.Errorf("web2's programs: %q, want none", got)
	}
	if ch, _ := f.Choose(web2, nil); ch.From != FromJournal || ch.Known != nil {
		t.Errorf("web2's table: %s %q", ch.From, ch.Note)
	}
	if ch, _ := f.Choose(journal.Host{Hostname: "db1"}, nil); ch.From != FromFlag || ch.Table.Requested.String() != "255.4" {
		t.Errorf("db1's table (--systemd-version db1=255.4): %s %q", ch.From, ch.Note)
	}
	if s := f.Stub(here, "x.service", true, "user@1000.service"); s.Home != "/home/alice" {
		t.Errorf("this machine's stub: home %q, want /home/alice", s.Home)
	}
}

func TestFleetManagerUnreachable(t *testing.T) {
	f, _, _ := newFleet(t, failingManager{})
	here := journal.Host{Hostname: "here"}
	// The files under this machine's / answer when the manager cannot.
	u, err := f.Load(here, "web.service", false, "")
	if err != nil || u.Live || len(u.Files) != 2 {
		t.Fatalf("from the files: %+v, %v", u, err)
	}
	// Neither: the manager's error, which names what to do.
	_, err = f.Load(here, "nosuch.service", false, "")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Failure || e.Hint != "is systemd running here?" {
		t.Errorf("no unit anywhere: %v, want the manager's failure", err)
	}
}
