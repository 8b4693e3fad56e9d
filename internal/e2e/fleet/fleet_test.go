// Package fleet checks sysdiag postmortem on a fleet: the journals of two real systemd beds — this
// machine's systemd 252 and Debian 13's 257 — stored by systemd-journal-remote in one directory, as a
// journal-remote server holds them, with a copy of each host's unit files. The e2e suite leaves each
// bed's bundle (internal/e2e TestZZZFleetBundle); scripts/test.sh runs this test after both beds.
package fleet

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type report struct {
	Hosts []struct {
		Host           string `json:"host"`
		MachineID      string `json:"machine_id"`
		SystemdVersion string `json:"systemd_version"`
		Units          []struct {
			Unit  string   `json:"unit"`
			User  bool     `json:"user"`
			Table string   `json:"table"`
			Notes []string `json:"notes"`
			Calls []struct {
				Syscall string `json:"syscall"`
				Count   int    `json:"count"`
			} `json:"calls"`
			Fix *struct {
				Dropin   string `json:"dropin"`
				Verified bool   `json:"verified"`
			} `json:"fix"`
		} `json:"units"`
	} `json:"hosts"`
	Unattributed []json.RawMessage `json:"unattributed"`
}

type bed struct {
	label, machine, version string
	since                   int64
}

func readBed(t *testing.T, dir, label string) bed {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, label, "host"))
	if err != nil {
		t.Fatalf("no bundle of %s: %v (the e2e suite of that bed writes it)", label, err)
	}
	b := bed{label: label}
	for _, l := range strings.Split(string(raw), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "machine_id":
			b.machine = v
		case "version":
			b.version = v
		case "since":
			b.since, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return b
}

func TestFleetPostmortem(t *testing.T) {
	dir := os.Getenv("SYSDIAG_E2E_FLEET")
	if dir == "" {
		t.Skip("not run: SYSDIAG_E2E_FLEET names no bundle directory (scripts/test.sh runs this after the 252 and 257 beds)")
	}
	old, cur := readBed(t, dir, "systemd252"), readBed(t, dir, "systemd257")
	if old.machine == cur.machine {
		t.Fatalf("the two beds have one machine id %s: nothing tells their journals apart", old.machine)
	}
	bin := filepath.Join(t.TempDir(), "sysdiag")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sysdiag/sysdiag/cmd/sysdiag").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	since := min(old.since, cur.since)
	pm := func(dir string, args ...string) (report, int) {
		t.Helper()
		a := append([]string{"postmortem", "--journal-dir", filepath.Join(dir, "journal"), "--since", "@" + strconv.FormatInt(since, 10), "--json",
			"--root", old.machine + "=" + filepath.Join(dir, old.label, "root"), "--root", cur.machine + "=" + filepath.Join(dir, cur.label, "root")}, args...)
		out, err := exec.Command(bin, a...).Output()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var r report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("postmortem %v: exit %d: %v\n%s", a, code, err, out)
		}
		return r, code
	}
	r, code := pm(dir)
	if code != 4 {
		t.Errorf("kills in the window: exit %d, want 4", code)
	}
	hosts := map[string]int{}
	for i, h := range r.Hosts {
		hosts[h.MachineID] = i
		var names []string
		for _, u := range h.Units {
			names = append(names, u.Unit)
		}
		t.Logf("host %s/%s systemd %s: %d units: %s", h.Host, h.MachineID, h.SystemdVersion, len(h.Units), strings.Join(names, " "))
	}
	if len(r.Hosts) != 2 {
		t.Fatalf("want the two beds as two hosts, got %d", len(r.Hosts))
	}
	for _, b := range []bed{old, cur} {
		i, ok := hosts[b.machine]
		if !ok {
			t.Fatalf("no host %s (%s)", b.machine, b.label)
		}
		h := r.Hosts[i]
		// A bed's manager logs its start-up line to the console (as in a container), so its journal names
		// no version and the tree's package database does; on a booted host the journal names it (the
		// guest test checks that path).
		if h.SystemdVersion != "" && h.SystemdVersion != b.version {
			t.Errorf("%s: the journal's systemd is %q, the manager said %q", b.label, h.SystemdVersion, b.version)
		}
		major := strings.TrimPrefix(b.label, "systemd")
		for _, u := range h.Units {
			if !strings.HasPrefix(u.Table, major) {
				t.Errorf("%s: %s read with table %q", b.label, u.Unit, u.Table)
			}
		}
	}
	// The same unit file on both: @sandbox is in @default (so in @system-service) from 257 on.
	unitOn := func(b bed, unit string) (calls []string, found bool) {
		for _, u := range r.Hosts[hosts[b.machine]].Units {
			if u.Unit == unit {
				for _, c := range u.Calls {
					calls = append(calls, c.Syscall)
				}
				return calls, true
			}
		}
		return nil, false
	}
	if calls, ok := unitOn(old, "sysdiag-e2e-v-sandbox.service"); !ok || strings.Join(calls, " ") != "seccomp" {
		t.Errorf("systemd 252: the sandbox unit must be killed on seccomp: %v %v", calls, ok)
	}
	if calls, ok := unitOn(cur, "sysdiag-e2e-v-sandbox.service"); ok {
		t.Errorf("systemd 257: the sandbox unit passed there, yet listed with %v", calls)
	}
	if len(r.Hosts[hosts[cur.machine]].Units) == 0 {
		t.Errorf("systemd 257: its bed's kills are missing")
	}

	// Offline: the same bundles copied elsewhere give the same report.
	cp := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", dir, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	r2, code2 := pm(cp, "--fail-on", "never")
	if code2 != 0 {
		t.Errorf("--fail-on never: exit %d", code2)
	}
	if a, b := summary(r), summary(r2); a != b {
		t.Errorf("the copied bundles answer differently:\n%s\n---\n%s", a, b)
	}
}

// TestFleetWatch follows a journal-remote directory live while the hosts "send": watch starts on an empty
// directory, then each bed's journal arrives through systemd-journal-remote, as from a remote host. Every
// violation must come with its host's machine id; kills whose coredump entry names the unit (the 252
// bed has systemd-coredump) with their unit, and with the line or fix from that host's tree.
func TestFleetWatch(t *testing.T) {
	dir := os.Getenv("SYSDIAG_E2E_FLEET")
	if dir == "" {
		t.Skip("not run: SYSDIAG_E2E_FLEET names no bundle directory (scripts/test.sh runs this after the 252 and 257 beds)")
	}
	old, cur := readBed(t, dir, "systemd252"), readBed(t, dir, "systemd257")
	bin := filepath.Join(t.TempDir(), "sysdiag")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sysdiag/sysdiag/cmd/sysdiag").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wdir := t.TempDir()
	w := exec.Command(bin, "watch", "--journal-dir", wdir, "--json",
		"--root", old.machine+"="+filepath.Join(dir, old.label, "root"), "--root", cur.machine+"="+filepath.Join(dir, cur.label, "root"))
	out, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	w.Stderr = &stderr
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Process.Kill()
	type event struct {
		Type      string `json:"type"`
		Unit      string `json:"unit"`
		MachineID string `json:"machine_id"`
		Syscall   string `json:"syscall"`
		BlockedBy *struct {
			File string `json:"file"`
		} `json:"blocked_by"`
		Fix *struct {
			Dropin string `json:"dropin"`
		} `json:"fix"`
	}
	events := make(chan event, 1024)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
	}()
	if e := <-events; e.Type != "source" {
		t.Fatalf("first event %+v; stderr: %s", e, stderr.String())
	}
	cores := map[string]int{}
	for _, b := range []bed{old, cur} { // the hosts send
		// journal-remote rotates a big host's file (remote-LABEL@….journal): every file of the host.
		src := filepath.Join(dir, "journal", "remote-"+b.label+"*.journal")
		n, _ := exec.Command("journalctl", "-q", "--file", src, "MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1", "COREDUMP_SIGNAL=31", "-o", "cat").Output()
		cores[b.machine] = strings.Count(string(n), "\n")
		sh := "journalctl -q --file '" + src + "' -o export | /lib/systemd/systemd-journal-remote --output=" + filepath.Join(wdir, "remote-"+b.label+".journal") + " -"
		if o, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", sh, err, o)
		}
	}
	seen := map[string]int{}
	named := map[string]int{}
	deadline := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("watch ended: %s", stderr.String())
			}
			if e.Type != "violation" {
				continue
			}
			if e.MachineID != old.machine && e.MachineID != cur.machine {
				t.Errorf("a violation without its host: %+v", e)
			}
			seen[e.MachineID]++
			if e.Unit != "" {
				named[e.MachineID]++
				if e.BlockedBy == nil && e.Fix == nil {
					t.Errorf("%s on %s: no line and no fix from the host's tree", e.Unit, e.MachineID)
				}
			}
		case <-time.After(3 * time.Second):
			done = seen[old.machine] > 0 && seen[cur.machine] > 0
		case <-deadline:
			done = true
		}
	}
	w.Process.Signal(syscall.SIGINT)
	t.Logf("violations by host: %v (named by a coredump entry: %v; SIGSYS coredump entries sent: %v)", seen, named, cores)
	if seen[old.machine] == 0 || seen[cur.machine] == 0 {
		t.Errorf("want violations of both hosts: %v; stderr: %s", seen, stderr.String())
	}
	if cores[old.machine] > 0 && named[old.machine] == 0 {
		t.Errorf("the 252 host sent %d SIGSYS coredumps, yet no violation was tied to its unit", cores[old.machine])
	}
}

// summary is a report without its paths: host, unit, calls, table and drop-in text.
func summary(r report) string {
	var lines []string
	for _, h := range r.Hosts {
		for _, u := range h.Units {
			var calls []string
			for _, c := range u.Calls {
				calls = append(calls, c.Syscall+"×"+strconv.Itoa(c.Count))
			}
			fix := "-"
			if u.Fix != nil {
				fix = strings.ReplaceAll(u.Fix.Dropin, "\n", "|") + " verified=" + strconv.FormatBool(u.Fix.Verified)
			}
			lines = append(lines, strings.Join([]string{h.MachineID, h.SystemdVersion, u.Unit, strconv.FormatBool(u.User), u.Table, strings.Join(calls, ","), fix}, " "))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\nunattributed " + strconv.Itoa(len(r.Unattributed))
}
