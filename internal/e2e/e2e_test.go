// Package e2e drives a real systemd (internal/testbed) whose units the kernel kills with SIGSYS, and
// checks sysdiag's answers against what systemd and the kernel did. It needs root; as any other user
// every test is skipped with the reason. Set SYSDIAG_UPDATE_FIXTURES=1 to refresh the captured fixtures
// under audit/testdata and journal/testdata from these runs.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/internal/testbed"
	"github.com/sysdiag/sysdiag/journal"
)

var (
	bed     *testbed.Bed
	sysdiag string // the sysdiag binary under test
	probe   string // /opt/sysdiag-e2e/bin/probe
	probeSp string // the same binary at a path with a space: audit hex-encodes its exe
	probe32 string // the probe, static i386
	// runs32 says whether this kernel executes i386 code; kernelKind says it in words (printed).
	runs32     bool
	kernelKind string
	skipWhy    string
	unitDir    = "/etc/systemd/system"
	userDir    = "/etc/systemd/user"
	e2eRoot    = "/opt/sysdiag-e2e"
	timings    = map[string]time.Duration{}
	// suiteStart bounds what the suite looks at in the (persistent, shared) journal.
	suiteStart = time.Now()
	updating   = os.Getenv("SYSDIAG_UPDATE_FIXTURES") == "1"
	// bedRoot, from $SYSDIAG_E2E_ROOT, is a root whose systemd the bed boots instead of the host's (a
	// Debian 13 root for systemd 257: scripts/test.sh makes one); bedVersion is the bed's systemd.
	bedRoot    = os.Getenv("SYSDIAG_E2E_ROOT")
	bedVersion string
)

// bedJournal is the bed's journal as the host sees it.
func bedJournal() journal.Source {
	if bedRoot == "" {
		return journal.Source{}
	}
	return journal.Source{Dir: filepath.Join(bedRoot, "var/log/journal")}
}

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		skipWhy = "the real-systemd tests need root (they boot systemd in a PID+mount namespace)"
		os.Exit(m.Run())
	}
	if _, err := journal.Open(bedJournal()); err != nil && !journalWorks() {
		skipWhy = "the real-systemd tests read the journal, which needs cgo: " + err.Error()
		fmt.Println("e2e: SKIPPED, every real-systemd test:", skipWhy)
		os.Exit(m.Run())
	}
	if err := testbed.CheckHost(os.DirFS("/")); err != nil {
		// Loud, not silent: the suite did not run here, and says why.
		skipWhy = err.Error()
		fmt.Println("e2e: SKIPPED, every real-systemd test:", skipWhy)
		os.Exit(m.Run())
	}
	// What the bed changes on the host must be as it was afterwards: checked here, after every test.
	corePattern := testbed.CorePattern()
	pipeLimit, _ := os.ReadFile("/proc/sys/kernel/core_pipe_limit")
	auditWas, _ := testbed.AuditEnabled()
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		if bed != nil {
			bed.Stop()
		}
		os.Exit(1)
	}
	rc := m.Run()
	if err := bed.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e teardown:", err)
		rc = 1
	}
	os.RemoveAll(e2eRoot)
	if now := testbed.CorePattern(); now != corePattern {
		fmt.Fprintf(os.Stderr, "e2e teardown: kernel.core_pattern is %q, was %q before the suite\n", now, corePattern)
		rc = 1
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/core_pipe_limit"); string(now) != string(pipeLimit) {
		fmt.Fprintf(os.Stderr, "e2e teardown: kernel.core_pipe_limit is %q, was %q before the suite\n", now, pipeLimit)
		rc = 1
	}
	if now, _ := testbed.AuditEnabled(); now != auditWas {
		fmt.Fprintf(os.Stderr, "e2e teardown: audit enabled is %q, was %q before the suite\n", now, auditWas)
		rc = 1
	}
	fmt.Println("e2e: this kernel", kernelKind)
	fmt.Println("e2e scenario times:")
	for k, v := range timings {
		fmt.Printf("  %-40s %6.2fs\n", k, v.Seconds())
	}
	os.Exit(rc)
}

func setup() error {
	bin := filepath.Join(e2eRoot, "bin")
	if err := os.MkdirAll(filepath.Join(e2eRoot, "my app"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	sysdiag = filepath.Join(bin, "sysdiag")
	if out, err := exec.Command("go", "build", "-o", sysdiag, "../../cmd/sysdiag").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, out)
	}
	probe = filepath.Join(bin, "probe")
	if out, err := exec.Command("gcc", "-O2", "-o", probe, "testdata/probe.c").CombinedOutput(); err != nil {
		return fmt.Errorf("gcc probe: %w: %s", err, out)
	}
	probeSp = filepath.Join(e2eRoot, "my app", "probe")
	raw, _ := os.ReadFile(probe)
	if err := os.WriteFile(probeSp, raw, 0o755); err != nil {
		return err
	}
	if err := buildProbe32(); err != nil {
		return err
	}
	fmt.Println("e2e: this kernel", kernelKind)
	state := filepath.Join(os.TempDir(), "sysdiag-e2e-bed")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	t0 := time.Now()
	// Another bed (the other systemd's run of this suite) may hold the host: wait for it.
	b, err := testbed.StartWith(state, testbed.Options{Root: bedRoot, Binds: []string{e2eRoot}, LockWait: 8 * time.Minute})
	if err != nil {
		return err
	}
	bed = b
	v, err := b.Systemctl("show", "--value", "-p", "Version")
	if err != nil {
		return err
	}
	bedVersion = v
	timings["boot systemd "+v+" in a namespace"] = time.Since(t0)
	fmt.Println("e2e: the bed runs systemd", v, "from", map[bool]string{true: "the host", false: bedRoot}[bedRoot == ""])
	return nil
}

// onRootBed are the scenarios that also run on a bed booted from a root (scripts/test.sh's 257 run).
var onRootBed = map[string]bool{"TestWhyWithoutSystemdCoredump": true, "TestZZZFleetBundle": true, "TestTrialProtectClock": true,
	"TestTrialFlood": true, "TestTrialErrnoDenyList": true, "TestTrialAlreadyRight": true, "TestCheckBenchServices": true, "TestPackage": true}

func need(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	if bedRoot != "" && !strings.HasPrefix(t.Name(), "TestVersion") && !onRootBed[t.Name()] {
		t.Skip("this scenario needs systemd-coredump, which a bed booted from a root cannot have (the host's core helper cannot reach it): it runs on the host's systemd")
	}
}

func timed(t *testing.T) func() {
	t0 := time.Now()
	return func() { timings[t.Name()] = time.Since(t0) }
}

// epoch is a --since value just before now.
func epoch(t time.Time) string { return fmt.Sprintf("@%d.%06d", t.Unix(), t.Nanosecond()/1000) }

// writeUnit writes a system (or user) unit and reloads the manager.
func writeUnit(t *testing.T, name, body string, user bool) {
	t.Helper()
	dir := unitDir
	if user {
		dir = userDir
	}
	if err := bed.WriteFile(filepath.Join(dir, name), body); err != nil {
		t.Fatal(err)
	}
	reload(t, user)
}

func reload(t *testing.T, user bool) {
	t.Helper()
	var err error
	if user {
		_, err = bed.UserSystemctl("daemon-reload")
	} else {
		_, err = bed.Systemctl("daemon-reload")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// run starts a unit and waits until it is done; it returns the unit's Result.
func run(t *testing.T, unit string, user bool) string {
	t.Helper()
	sc := bed.Systemctl
	if user {
		sc = bed.UserSystemctl
	}
	_, _ = sc("reset-failed", unit) // fails for a unit that never ran
	_, _ = sc("start", unit)        // fails when a oneshot dies: expected, the Result says how

	if _, err := bed.WaitDone(unit, user, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	res, _ := sc("show", "--value", "-p", "Result", unit)
	return res
}

// waitJournal polls the journal until an entry with every match appears after since.
func waitJournal(t *testing.T, since time.Time, matches ...string) journal.Fields {
	t.Helper()
	var got journal.Fields
	ok := testbed.Poll(15*time.Second, func() bool {
		r, err := journal.Open(bedJournal())
		if err != nil {
			return false
		}
		defer r.Close()
		_ = r.Query(matches, since, time.Time{}, func(f journal.Fields) error { got = f; return journal.ErrStop })
		return got != nil
	})
	if !ok {
		t.Fatalf("no journal entry %v since %s", matches, since.Format(time.RFC3339Nano))
	}
	return got
}

// sysdiagOut runs sysdiag on the host with args and returns stdout; exit status 0 or 1 is fine.
func sysdiagOut(t *testing.T, args ...string) ([]byte, int) {
	t.Helper()
	cmd := exec.Command(sysdiag, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code > 1 {
		t.Fatalf("sysdiag %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return out, code
}

// sysdiagIn runs sysdiag inside the namespace (where systemd's D-Bus lives).
func sysdiagIn(t *testing.T, env []string, args ...string) ([]byte, int) {
	t.Helper()
	out, err := bed.Exec(env, append([]string{sysdiag}, args...)...)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if errorsAs(err, &ee) {
			code = ee.ExitCode()
		} else {
			t.Fatal(err)
		}
		if code > 1 {
			t.Fatalf("sysdiag %s: %v", strings.Join(args, " "), err)
		}
	}
	return out, code
}

type eventsJSON struct {
	Violations []struct {
		Unit     string   `json:"unit"`
		UserUnit bool     `json:"user_unit"`
		PID      int      `json:"pid"`
		Exe      string   `json:"exe"`
		Syscall  string   `json:"syscall"`
		Number   int      `json:"number"`
		Arch     string   `json:"arch"`
		Groups   []string `json:"groups"`
		Action   string   `json:"action"`
		Sources  []string `json:"sources"`
		Function string   `json:"function"`
	} `json:"violations"`
}

func events(t *testing.T, args ...string) eventsJSON {
	t.Helper()
	out, _ := sysdiagOut(t, append([]string{"events", "--json"}, args...)...)
	var ev eventsJSON
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("events --json: %v\n%s", err, out)
	}
	return ev
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func pidOf(f journal.Fields, key string) int {
	n, _ := strconv.Atoi(f[key])
	return n
}
