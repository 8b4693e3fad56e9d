package unitfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

func TestParseLinesAndContinuations(t *testing.T) {
	src := "[Unit]\nDescription=x\nSystemCallFilter=@ignored-outside-service\n\n[Service]\n# comment\nExecStart=/bin/true\n" +
		"SystemCallFilter=@system-service\nSystemCallFilter=~@chown \\\n   @mount\nSystemCallErrorNumber=EPERM\n" +
		"[Install]\nWantedBy=multi-user.target\n"
	as, err := Parse("/etc/systemd/system/x.service", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 3 {
		t.Fatalf("%+v", as)
	}
	if as[0].Line != 8 || as[0].Value != "@system-service" || as[1].Line != 9 || strings.Join(strings.Fields(as[1].Value), " ") != "~@chown @mount" {
		t.Errorf("%+v", as)
	}
	if as[2].Directive != "SystemCallErrorNumber" || as[2].Line != 11 {
		t.Errorf("%+v", as[2])
	}
}

func TestFindOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"usr/lib/systemd/system/a.service":             {Data: []byte("[Service]\nSystemCallFilter=~@swap\n")},
		"etc/systemd/system/a.service":                 {Data: []byte("[Service]\nSystemCallFilter=~@mount\n")},
		"usr/lib/systemd/system/a.service.d/10-x.conf": {Data: []byte("[Service]\n")},
		"etc/systemd/system/a.service.d/10-x.conf":     {Data: []byte("[Service]\n")},
		"run/systemd/system/a.service.d/05-y.conf":     {Data: []byte("[Service]\n")},
		"etc/systemd/system/service.d/99-all.conf":     {Data: []byte("[Service]\n")},
	}
	frag, drops, err := Find(fsys, "a.service", false, "/root")
	if err != nil {
		t.Fatal(err)
	}
	want := "/run/systemd/system/a.service.d/05-y.conf /etc/systemd/system/a.service.d/10-x.conf /etc/systemd/system/service.d/99-all.conf"
	if frag != "/etc/systemd/system/a.service" || strings.Join(drops, " ") != want {
		t.Errorf("fragment %s, drop-ins %v", frag, drops)
	}
	if _, _, err := Find(fsys, "b.service", false, "/root"); err == nil {
		t.Error("missing unit found")
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{"nginx": "nginx.service", "getty@tty1.service": "getty@tty1.service",
		"foo.socket": "foo.socket", "a-b_c:d.service": "a-b_c:d.service", "x.y": "x.y.service"} {
		if got, err := Name(in); err != nil || got != want {
			t.Errorf("Name(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "a/b.service", "../x.service", "a b", "x\x1b.service", ".service", "a@b@c.service"} {
		if got, err := Name(bad); err == nil {
			t.Errorf("Name(%q) = %q", bad, got)
		}
	}
}

func TestWriteDropIn(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.service.d", DropInName)
	if err := WriteDropIn(p, Marker+"\n[Service]\nSystemCallFilter=a\n"); err != nil {
		t.Fatal(err)
	}
	if err := WriteDropIn(p, Marker+"\n[Service]\nSystemCallFilter=b\n"); err != nil {
		t.Fatalf("replacing sysdiag's own file: %v", err)
	}
	os.WriteFile(p, []byte("[Service]\nUser=me\n"), 0o644)
	if err := WriteDropIn(p, Marker+"\n"); err == nil {
		t.Error("replaced a file sysdiag did not write")
	}
	if raw, _ := os.ReadFile(p); string(raw) != "[Service]\nUser=me\n" {
		t.Errorf("foreign file changed: %q", raw)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "x.service.d", ".sysdiag-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("[Service]\nSystemCallFilter=~@chown \\\n @mount\n")
	f.Add("[Service]\nSystemCallFilter=\n[X]\n=\\")
	f.Fuzz(func(t *testing.T, s string) {
		as, err := Parse("/x.service", []byte(s))
		if err != nil && as != nil {
			t.Fatal("error with assignments")
		}
		for _, a := range as {
			if a.Line < 0 {
				t.Fatalf("%+v", a)
			}
		}
	})
}

func TestCommands(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/systemd/system/a.service":          {Data: []byte("[Service]\nExecStartPre=-/usr/bin/mkdir -p /run/a\nExecStart=/bin/sh -c 'echo \"hi there\"; chown root /x'\n")},
		"etc/systemd/system/a.service.d/x.conf": {Data: []byte("[Service]\nExecStart=\nExecStart=@/opt/my\\ app/probe probe fchown\nExecStop=:+/usr/bin/true\n")},
	}
	cs, err := Commands(fsys, []string{"/etc/systemd/system/a.service", "/etc/systemd/system/a.service.d/x.conf"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("%+v", cs)
	}
	if c := cs[0]; c.Directive != "ExecStartPre" || c.Prefixes != "-" || c.Path != "/usr/bin/mkdir" || c.Line != 2 {
		t.Errorf("%+v", c)
	}
	if c := cs[1]; c.Directive != "ExecStart" || c.Path != "/opt/my app/probe" || strings.Join(c.Args, "|") != "probe|fchown" || c.File != "/etc/systemd/system/a.service.d/x.conf" || c.Line != 3 {
		t.Errorf("the reset ExecStart= must drop the fragment's: %+v", c)
	}
	if c := cs[2]; c.Prefixes != ":+" || c.Path != "/usr/bin/true" {
		t.Errorf("%+v", c)
	}
	if c, ok := ParseCommand(`/bin/sh -c 'echo "hi there"; chown root /x'`); !ok || len(c.Args) != 3 || c.Args[2] != `echo "hi there"; chown root /x` {
		t.Errorf("%+v", c)
	}
	if _, ok := ParseCommand(`/bin/sh -c 'unterminated`); ok {
		t.Error("an unterminated quote must not split")
	}
}

func TestPrograms(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"usr/bin", "opt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "usr/bin/dash"), []byte("\x7fELF"), 0o755)
	os.WriteFile(filepath.Join(dir, "usr/bin/python3.11"), []byte("\x7fELF"), 0o755)
	os.Symlink("python3.11", filepath.Join(dir, "usr/bin/python3"))
	os.Symlink("usr/bin", filepath.Join(dir, "bin"))
	os.Symlink("dash", filepath.Join(dir, "usr/bin/sh"))
	os.WriteFile(filepath.Join(dir, "opt/job.py"), []byte("#!/usr/bin/env -S python3 -u\nprint(1)\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "opt/job.sh"), []byte("#! /bin/sh -e\n"), 0o755)
	cmds := []Command{{Path: "/bin/sh"}, {Path: "/opt/job.py"}, {Path: "/opt/job.sh"}, {Path: "python3"}, {Path: "/opt/missing"}}
	got := strings.Join(Programs(os.DirFS(dir), cmds), " ")
	if want := "/usr/bin/dash /opt/job.py /usr/bin/python3.11 /opt/job.sh /opt/missing"; got != want {
		t.Errorf("Programs = %q, want %q", got, want)
	}
}

func TestHomeOf(t *testing.T) {
	pw := []byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\nbad line\n")
	if h := HomeOf(pw, 1000); h != "/home/alice" {
		t.Errorf("HomeOf(1000) = %q", h)
	}
	if h := HomeOf(pw, 1001); h != "" {
		t.Errorf("HomeOf(1001) = %q", h)
	}
}

func TestFindTemplatesPrefixesMasked(t *testing.T) {
	dir := t.TempDir()
	w := func(p, c string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644)
	}
	w("lib/systemd/system/getty@.service", "[Service]\nExecStart=/sbin/agetty\n")
	w("etc/systemd/system/getty@tty1.service.d/a.conf", "[Service]\n")
	w("etc/systemd/system/getty@.service.d/b.conf", "[Service]\n")
	w("etc/systemd/system/getty-.service.d/c.conf", "[Service]\n")
	w("etc/systemd/system/service.d/d.conf", "[Service]\n")
	w("usr/lib/systemd/system/foo-bar-baz.service", "[Service]\n")
	w("etc/systemd/system/foo-.service.d/p.conf", "[Service]\n")
	w("etc/systemd/system/foo-bar-.service.d/q.conf", "[Service]\n")
	os.Symlink("/dev/null", filepath.Join(dir, "etc/systemd/system/masked.service"))
	w("lib/systemd/system/masked.service", "[Service]\n")
	fsys := os.DirFS(dir)
	frag, drops, err := Find(fsys, "getty@tty1.service", false, "/root")
	if err != nil || frag != "/lib/systemd/system/getty@.service" || len(drops) != 3 {
		t.Errorf("template: %q %v %v", frag, drops, err)
	}
	// getty-.service.d is a dash prefix of "getty-…", not of "getty@…".
	for _, d := range drops {
		if strings.Contains(d, "getty-.service.d") {
			t.Errorf("a dash prefix that is not one: %s", d)
		}
	}
	frag, drops, err = Find(fsys, "foo-bar-baz.service", false, "/root")
	if err != nil || frag != "/usr/lib/systemd/system/foo-bar-baz.service" || strings.Join(drops, " ") != "/etc/systemd/system/service.d/d.conf /etc/systemd/system/foo-.service.d/p.conf /etc/systemd/system/foo-bar-.service.d/q.conf" {
		t.Errorf("prefixes: %q %v %v", frag, drops, err)
	}
	if _, _, err := Find(fsys, "masked.service", false, "/root"); !errors.Is(err, ErrMasked) {
		t.Errorf("masked: %v", err)
	}
}

// systemd reads lines up to 1 MiB; go-systemd's parser stops at 2048 bytes. A generated allow list of
// every name is longer than that.
func TestParseLongLine(t *testing.T) {
	long := "SystemCallFilter=" + strings.Repeat("fchown ", 600)
	src := "[Unit]\nDescription=x\n[Service]\n# comment\nExecStart=/bin/true\n" + long + "\nSystemCallFilter=~@mount \\\n  @swap\n"
	as, err := Parse("/etc/systemd/system/long.service", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].Line != 6 || len(as[0].Value) < 4000 || as[1].Value != "~@mount @swap" || as[1].Line != 7 {
		t.Errorf("%d assignments: %+v", len(as), as[1])
	}
	cs, err := Commands(fstest.MapFS{"u.service": {Data: []byte(src)}}, []string{"/u.service"})
	if err != nil || len(cs) != 1 || cs[0].Path != "/bin/true" {
		t.Errorf("%+v %v", cs, err)
	}
}

// TestWriteDropInConfined: a --root tree's drop-in directory that is a link out of the systemd
// configuration directories (absolute, climbing, or through a parent) is refused and nothing is written
// anywhere; a link that lands in the tree's /etc/systemd or /run/systemd is followed inside the tree;
// a target that is a link or a FIFO is refused (and does not hang).
func TestWriteDropInConfined(t *testing.T) {
	content := Marker + "\n[Service]\nSystemCallFilter=chown\n"
	const rel = "/etc/systemd/system/u.service.d/" + DropInName
	cases := []struct {
		name   string
		link   string // u.service.d's target
		ok     bool
		landed string // where the file must be, relative to the tree, when ok
	}{
		{"absolute out", "/elsewhere", false, ""},
		{"climbing out", "../../../../../../elsewhere", false, ""},
		{"host path", "", false, ""}, // filled below: an absolute host directory outside the tree
		{"into run/systemd", "/run/systemd/system/u.service.d", true, "run/systemd/system/u.service.d/" + DropInName},
		{"relative inside etc/systemd", "../other.d", true, "etc/systemd/other.d/" + DropInName},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top := t.TempDir()
			tree := filepath.Join(top, "tree")
			outside := filepath.Join(top, "outside")
			os.MkdirAll(filepath.Join(tree, "etc/systemd/system"), 0o755)
			os.MkdirAll(filepath.Join(tree, "elsewhere"), 0o755)
			os.MkdirAll(outside, 0o755)
			link := c.link
			if link == "" {
				link = outside
			}
			if err := os.Symlink(link, filepath.Join(tree, "etc/systemd/system/u.service.d")); err != nil {
				t.Fatal(err)
			}
			err := WriteDropInUnder(tree, rel, content)
			if c.ok != (err == nil) {
				t.Fatalf("WriteDropInUnder: err = %v, want ok %v", err, c.ok)
			}
			var found []string
			filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					found = append(found, strings.TrimPrefix(p, tree+"/"))
				}
				return nil
			})
			var want []string
			if c.ok {
				want = []string{c.landed}
			}
			if !slices.Equal(found, want) {
				t.Errorf("files written: %q, want %q (err %v)", found, want, err)
			}
		})
	}

	t.Run("parent link to a host path", func(t *testing.T) {
		// etc/systemd → an absolute host directory: chroot-style, that names the tree's own copy of it.
		top := t.TempDir()
		tree := filepath.Join(top, "tree")
		os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
		os.MkdirAll(filepath.Join(top, "outside/system"), 0o755)
		os.Symlink(filepath.Join(top, "outside"), filepath.Join(tree, "etc/systemd"))
		if err := WriteDropInUnder(tree, rel, content); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(top, "outside/system/u.service.d", DropInName)); err == nil {
			t.Error("written outside the tree through a parent link")
		}
		if _, err := os.Stat(filepath.Join(tree, top, "outside/system/u.service.d", DropInName)); err != nil {
			t.Errorf("not written where the link leads inside the tree: %v", err)
		}
	})

	for _, kind := range []string{"symlink", "fifo"} {
		t.Run("target is a "+kind, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "etc/systemd/system/u.service.d")
			os.MkdirAll(dir, 0o755)
			victim := filepath.Join(top, "victim")
			os.WriteFile(victim, []byte(Marker+"\n"), 0o644)
			if kind == "symlink" {
				os.Symlink(victim, filepath.Join(dir, DropInName))
			} else if err := syscall.Mkfifo(filepath.Join(dir, DropInName), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := WriteDropInUnder(top, rel, content); err == nil {
				t.Error("replaced a " + kind)
			}
			if raw, _ := os.ReadFile(victim); string(raw) != Marker+"\n" {
				t.Errorf("the link's target changed: %q", raw)
			}
		})
	}
}

// Hostile trees: a FIFO among the drop-ins is skipped (systemd skips it) and does not hang or fail the
// unit; a drop-in linked to /dev/null masks the lower-priority one of its name; a fragment that is a
// loop of links says so instead of "does not exist".
func TestFindHostileDropins(t *testing.T) {
	top := t.TempDir()
	etc := filepath.Join(top, "etc/systemd/system")
	lib := filepath.Join(top, "usr/lib/systemd/system")
	for _, d := range []string{etc + "/u.service.d", lib + "/u.service.d"} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(lib+"/u.service", []byte("[Service]\nExecStart=/bin/true\n"), 0o644)
	os.WriteFile(lib+"/u.service.d/10-a.conf", []byte("[Service]\nSystemCallFilter=@a\n"), 0o644)
	os.WriteFile(lib+"/u.service.d/20-b.conf", []byte("[Service]\nSystemCallFilter=@b\n"), 0o644)
	os.Symlink("/dev/null", etc+"/u.service.d/10-a.conf")
	if err := syscall.Mkfifo(etc+"/u.service.d/30-fifo.conf", 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("loop2.service", etc+"/loop1.service")
	os.Symlink("loop1.service", etc+"/loop2.service")
	r, err := OpenRoot(top)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frag, dropins, err := Find(r, "u.service", false, "/root")
	if err != nil {
		t.Fatal(err)
	}
	if frag != "/usr/lib/systemd/system/u.service" || !slices.Equal(dropins, []string{"/usr/lib/systemd/system/u.service.d/20-b.conf"}) {
		t.Errorf("Find: %s %q", frag, dropins)
	}
	if _, err := ReadAll(r, append([]string{frag}, dropins...)); err != nil {
		t.Errorf("ReadAll: %v", err)
	}
	if _, _, err := Find(r, "loop1.service", false, "/root"); err == nil || !strings.Contains(err.Error(), "loop of symbolic links") {
		t.Errorf("a link loop: %v", err)
	}
}

func TestCommandsCheckedUnterminatedQuote(t *testing.T) {
	fsys := fstest.MapFS{"u.service": {Data: []byte("[Service]\nExecStart=/bin/sh -c 'echo\n")}}
	cmds, skipped, err := CommandsChecked(fsys, []string{"/u.service"})
	if err != nil || len(cmds) != 0 || len(skipped) != 1 || !strings.Contains(skipped[0], "/u.service:2: ExecStart=") || !strings.Contains(skipped[0], "unterminated quote") {
		t.Errorf("CommandsChecked: %v %q %v", cmds, skipped, err)
	}
}
