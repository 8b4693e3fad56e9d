package syscalls

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The generated tables are what `go generate ./syscalls` makes from the checked-in inputs today: a
// forgotten regeneration fails `go test`, not only scripts/test.sh (cilium/ebpf's habit).
func TestGeneratedTablesUpToDate(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to regenerate with")
	}
	out := t.TempDir()
	if b, err := exec.Command(goBin, "run", "./internal/gen", "-dir", ".", "-out", out).CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/gen: %v\n%s", err, b)
	}
	for _, f := range []string{"zsyscalls.go", "zgroups.go"} {
		fresh, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, have) {
			t.Errorf("%s is stale: run go generate ./syscalls", f)
		}
	}
}
