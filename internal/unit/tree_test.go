package unit

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sysdiag/sysdiag/fixes"
	"github.com/sysdiag/sysdiag/internal/unitfile"
)

// writeTree makes a copy of a machine's / in a temporary directory: files by path, "-> target" a link.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := cutLink(content); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func cutLink(s string) (string, bool) {
	if len(s) > 3 && s[:3] == "-> " {
		return s[3:], true
	}
	return "", false
}

var hostTree = map[string]string{
	"etc/passwd": "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
	"usr/lib/systemd/system/web.service": "[Service]\nExecStart=/usr/bin/web --serve\n" +
		"SystemCallFilter=@system-service\nSystemCallErrorNumber=EPERM\n",
	"etc/systemd/system/web.service.d/10-mount.conf": "[Service]\n# no mounts\nSystemCallFilter=~@mount\n",
	"etc/systemd/system/masked.service":              "-> /dev/null",
	"usr/lib/systemd/system/other.service":           "[Service]\nExecStart=/usr/bin/other\nExecStartPre=-/usr/bin/prep\n",
	"usr/bin/web":                                    "\x7fELF",
	"usr/bin/other":                                  "#!/usr/bin/env python3\n",
	"usr/bin/python3":                                "-> python3.11",
	"usr/bin/python3.11":                             "\x7fELF",
	"home/alice/.config/systemd/user/sync.service":   "[Service]\nExecStart=/usr/bin/sync-tool\nSystemCallFilter=@basic-io\n",
}

func TestTreeLoad(t *testing.T) {
	dir := writeTree(t, hostTree)
	u, err := Tree{Dir: dir}.Load("web.service", false)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"/usr/lib/systemd/system/web.service", "/etc/systemd/system/web.service.d/10-mount.conf"}
	if !reflect.DeepEqual(u.Files, wantFiles) {
		t.Errorf("files %q, want %q", u.Files, wantFiles)
	}
	want := []fixes.Assignment{
		{Directive: "SystemCallFilter", Value: "@system-service", File: wantFiles[0], Line: 3},
		{Directive: "SystemCallErrorNumber", Value: "EPERM", File: wantFiles[0], Line: 4},
		{Directive: "SystemCallFilter", Value: "~@mount", File: wantFiles[1], Line: 3},
	}
	var got []fixes.Assignment
	for _, a := range u.Assigns {
		if a.Directive == "SystemCallFilter" || a.Directive == "SystemCallErrorNumber" {
			got = append(got, a)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("assignments %+v, want %+v", got, want)
	}
	if u.Live || u.HaveVer || u.Home != "/root" {
		t.Errorf("a unit read from files: Live %v HaveVer %v Home %q, want false false /root", u.Live, u.HaveVer, u.Home)
	}
}

func TestTreeLoadErrors(t *testing.T) {
	dir := writeTree(t, hostTree)
	_, err := Tree{Dir: dir}.Load("nosuch.service", false)
	if KindOf(err) != NotFound {
		t.Errorf("a missing unit: %v (%v), want not found", err, KindOf(err))
	}
	_, err = Tree{Dir: dir}.Load("masked.service", false)
	if KindOf(err) != Failure || !errors.Is(err, unitfile.ErrMasked) {
		t.Errorf("a masked unit: %v (%v), want a failure wrapping ErrMasked", err, KindOf(err))
	}
	_, err = Tree{Dir: filepath.Join(dir, "nonexistent")}.Load("web.service", false)
	if KindOf(err) != Failure {
		t.Errorf("no tree: %v (%v), want a failure", err, KindOf(err))
	}
}

func TestTreeUserUnitOfAnotherUser(t *testing.T) {
	dir := writeTree(t, hostTree)
	if _, err := (Tree{Dir: dir}).Load("sync.service", true); KindOf(err) != NotFound {
		t.Errorf("under /root: %v, want not found", err)
	}
	tr := Tree{Dir: dir}.ForManager("user@1000.service")
	if tr.Home != "/home/alice" {
		t.Fatalf("home of user@1000.service: %q, want /home/alice", tr.Home)
	}
	u, err := tr.Load("sync.service", true)
	if err != nil {
		t.Fatal(err)
	}
	if u.Home != "/home/alice" || !u.User || len(u.Files) != 1 || u.Files[0] != "/home/alice/.config/systemd/user/sync.service" {
		t.Errorf("got home %q user %v files %q", u.Home, u.User, u.Files)
	}
	if got := (Tree{Dir: dir}).ForManager("user@1001.service").Home; got != "" {
		t.Errorf("a uid with no passwd line: home %q, want none", got)
	}
}

func TestManagerUID(t *testing.T) {
	for in, want := range map[string]int{"user@1000.service": 1000, "user@0.service": 0} {
		if got, ok := ManagerUID(in); !ok || got != want {
			t.Errorf("ManagerUID(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "init.scope", "user@.service", "user@x.service", "user@-1.service", "user@1000.slice", "user-1000.slice"} {
		if got, ok := ManagerUID(in); ok {
			t.Errorf("ManagerUID(%q) = %d, true; want not a user manager", in, got)
		}
	}
}

func TestTreePrograms(t *testing.T) {
	dir := writeTree(t, hostTree)
	own := &Unit{Name: "web.service", Files: []string{"/usr/lib/systemd/system/other.service"}}
	find := Tree{Dir: dir}.Programs(own)
	// The unit in hand from its own files (here another unit's, to tell them apart), others from the tree.
	if got, want := find("web.service", false), []string{"/usr/bin/other", "/usr/bin/python3.11", "/usr/bin/prep"}; !reflect.DeepEqual(got, want) {
		t.Errorf("own unit: %q, want %q", got, want)
	}
	if got, want := find("web.service", true), []string(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("a user unit of the same name: %q, want none", got)
	}
	if got, want := find("other.service", false), []string{"/usr/bin/other", "/usr/bin/python3.11", "/usr/bin/prep"}; !reflect.DeepEqual(got, want) {
		t.Errorf("other unit: %q, want %q", got, want)
	}
	if got := find("nosuch.service", false); got != nil {
		t.Errorf("a missing unit: %q, want none", got)
	}
	if got := (Tree{Dir: filepath.Join(dir, "none")}).Programs(nil)("web.service", false); got != nil {
		t.Errorf("no tree: %q, want none", got)
	}
}

func TestFake(t *testing.T) {
	f := Fake{{Name: "a.service", Assigns: []fixes.Assignment{{Directive: "SystemCallFilter", Value: "@basic-io"}}, State: State{Live: true, MainPID: 42}}}
	u, err := f.Load("a.service", false)
	if err != nil || u.MainPID != 42 || !u.Live {
		t.Fatalf("Load: %+v, %v", u, err)
	}
	u.Assigns[0].Value = "changed"
	if again, _ := f.Load("a.service", false); again.Assigns[0].Value != "@basic-io" {
		t.Error("Load handed out the fake's own slice")
	}
	if _, err := f.Load("a.service", true); KindOf(err) != NotFound {
		t.Errorf("the user unit of that name: %v, want not found", err)
	}
	var l Loader = f // a fake stands where a manager or a tree does
	_ = l
}
