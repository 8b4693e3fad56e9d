package testbed

import (
	"errors"
	"os"
	"testing"
	"testing/fstest"
)

// The guard: a host that systemd booted is refused, whichever sign shows it; a host whose PID 1 is
// something else (a container init, this project's CI VM) is not.
func TestCheckHost(t *testing.T) {
	for _, c := range []struct {
		name string
		fs   fstest.MapFS
		want error
	}{
		{"pid1 systemd", fstest.MapFS{"proc/1/comm": {Data: []byte("systemd\n")}}, ErrHostBooted},
		{"sd_booted", fstest.MapFS{"proc/1/comm": {Data: []byte("init\n")}, "run/systemd/system": {Mode: os.ModeDir | 0o755}}, ErrHostBooted},
		{"other init", fstest.MapFS{"proc/1/comm": {Data: []byte("process_api\n")}, "run/systemd/coredump": {Data: nil}}, nil},
		{"nothing readable", fstest.MapFS{}, nil},
	} {
		if err := CheckHost(c.fs); !errors.Is(err, c.want) {
			t.Errorf("%s: CheckHost = %v, want %v", c.name, err, c.want)
		}
	}
}

// Start on a systemd-booted host returns the refusal before it changes anything: the core pattern is
// the same afterwards. (On this machine Start would proceed, so the test runs only where it refuses.)
func TestStartRefusesBootedHost(t *testing.T) {
	if CheckHost(os.DirFS("/")) == nil {
		t.Logf("this host was not booted by systemd: the refusal is covered by TestCheckHost")
		return
	}
	before := CorePattern()
	if _, err := Start(t.TempDir()); !errors.Is(err, ErrHostBooted) && os.Geteuid() == 0 {
		t.Fatalf("Start on a booted host: %v", err)
	}
	if after := CorePattern(); after != before {
		t.Fatalf("core_pattern changed: %q -> %q", before, after)
	}
}
