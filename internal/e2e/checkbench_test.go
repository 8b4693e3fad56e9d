package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCheckBench (scripts/bench-check.sh; SYSDIAG_BENCH_CHECK=1): the predictor measured on real Debian
// programs, each run once as a oneshot unit under SystemCallFilter=@system-service (which well-behaved
// tools rarely trip) and under a strict allow list, $SYSDIAG_BENCH_FILTER (default "@default @basic-io
// @file-system": most programs then make calls it blocks). The truth is a trial
// of the unit (every call the filter blocks that the run really made); check's prediction comes from the
// programs' code alone. Recall = the real blocked calls predicted, precision = the predicted calls that
// happened in that run (a run exercises one path: precision is a lower bound). Time per program, cold
// and with the build-id cache warm. A measurement: nothing here fails on a number.
func TestCheckBench(t *testing.T) {
	if os.Getenv("SYSDIAG_BENCH_CHECK") != "1" {
		t.Skip("a benchmark: scripts/bench-check.sh runs it (SYSDIAG_BENCH_CHECK=1)")
	}
	need(t)
	progs := [][]string{
		{"/usr/bin/ls", "-la", "/etc"}, {"/usr/bin/cat", "/etc/os-release"}, {"/usr/bin/cp", "/etc/hostname", "/run/sysdiag-bench-cp"},
		{"/usr/bin/tar", "-cf", "/run/sysdiag-bench.tar", "/etc/systemd"}, {"/usr/bin/gzip", "-c", "/etc/services"},
		{"/usr/bin/find", "/etc/systemd", "-name", "*.conf"}, {"/usr/bin/grep", "-r", "root", "/etc/passwd"},
		{"/usr/bin/sed", "-n", "1p", "/etc/passwd"}, {"/usr/bin/date"}, {"/usr/bin/id"}, {"/usr/bin/ps", "aux"},
		{"/usr/sbin/ip", "addr"}, {"/usr/bin/systemctl", "--version"}, {"/usr/bin/dpkg", "-l", "systemd"},
		{"/usr/bin/openssl", "version", "-a"}, {"/usr/bin/ncat", "--version"}, {"/usr/sbin/auditctl", "-s"},
		{"/usr/bin/sort", "/etc/passwd"}, {"/usr/bin/stat", "/etc"}, {"/usr/sbin/sysctl", "kernel.hostname"},
		{"/usr/sbin/ldconfig", "-p"}, {"/usr/bin/touch", "/run/sysdiag-bench-touch"}, {"/usr/bin/journalctl", "--list-boots", "-q"},
		{"/usr/bin/perl", "-e", "print 1"}, {"/usr/bin/gpg", "--version"}, {"/usr/bin/curl", "--version"},
	}
	strict := os.Getenv("SYSDIAG_BENCH_FILTER")
	if strict == "" {
		strict = "@default @basic-io @file-system"
	}
	for _, filter := range []string{"@system-service", strict} {
		benchFilter(t, progs, filter)
	}
}

func benchFilter(t *testing.T, progs [][]string, filter string) {
	env := []string{"XDG_CACHE_HOME=" + e2eRoot + "/cache"}
	var totReal, totHit, totPred, totHappened, ran int
	var cold, warm float64
	for i, p := range progs {
		if _, err := os.Stat(p[0]); err != nil {
			t.Logf("%s: not on this machine, not run", p[0])
			continue
		}
		unit := fmt.Sprintf("sysdiag-e2e-bench-%02d.service", i)
		writeUnit(t, unit, "[Service]\nType=oneshot\nExecStart="+strings.Join(p, " ")+"\nSystemCallFilter="+filter+"\n", false)
		tj := <-trialAsync(t, unit, "--for", "20s", "--tighten=false")
		real := trialCalls(tj)
		t0 := time.Now()
		out, _ := bed.Exec(env, sysdiag, "check", "--json", unit)
		c := time.Since(t0).Seconds()
		t0 = time.Now()
		out, _ = bed.Exec(env, sysdiag, "check", "--json", "--cache", unit)
		t0 = time.Now()
		out, _ = bed.Exec(env, sysdiag, "check", "--json", "--cache", unit)
		w := time.Since(t0).Seconds()
		cj, _ := checkUnitOut(out)
		predicted := predictedSet(cj)
		hit, missed := 0, []string{}
		for call := range real {
			if predicted[call] != "" {
				hit++
			} else {
				missed = append(missed, call)
			}
		}
		happened := 0
		for call := range predicted {
			if real[call] > 0 {
				happened++
			}
		}
		ran++
		totReal += len(real)
		totHit += hit
		totPred += len(predicted)
		totHappened += happened
		cold += c
		warm += w
		t.Logf("bench: [%s] %-20s real %2d blocked, recall %2d/%-2d, predicted %2d (%2d happened), %.2fs cold %.2fs warm; missed %v",
			filter, p[0], len(real), hit, len(real), len(predicted), happened, c, w, missed)
	}
	t.Logf("bench: [%s] %d programs: recall %d/%d (%.0f%%) of the blocked calls their runs made; %d calls predicted blocked, of which the runs made %d (precision %.0f%%); check %.2fs per program cold, %.2fs with the cache warm",
		filter, ran, totHit, totReal, 100*float64(totHit)/float64(max(1, totReal)), totPred, totHappened, 100*float64(totHappened)/float64(max(1, totPred)), cold/float64(max(1, ran)), warm/float64(max(1, ran)))
}

func checkUnitOut(out []byte) (checkJSON, error) {
	var cj checkJSON
	s := string(out)
	i, j := strings.Index(s, "{"), strings.LastIndex(s, "}")
	if i < 0 || j < i {
		return cj, fmt.Errorf("no JSON")
	}
	return cj, jsonUnmarshal([]byte(s[i:j+1]), &cj)
}

// TestCheckBenchServices (scripts/bench-check.sh, on a bed booted from a Debian 12 root with the services
// installed: SYSDIAG_BENCH_SERVICES=1): real Debian services under their own units, their
// SystemCallFilter= replaced by the filter measured; a trial of 8 s of each is the truth (the calls the
// filter blocks that the service made starting up and running), check predicts from the code.
func TestCheckBenchServices(t *testing.T) {
	if os.Getenv("SYSDIAG_BENCH_SERVICES") != "1" {
		t.Skip("a benchmark: scripts/bench-check.sh runs it on a root with the services (SYSDIAG_BENCH_SERVICES=1)")
	}
	need(t)
	units := []string{"nginx", "ssh", "cron", "rsyslog", "dnsmasq", "chrony", "haveged", "memcached", "redis-server", "lighttpd",
		"atd", "lldpd", "unbound", "vsftpd", "tinyproxy", "privoxy", "mosquitto", "prometheus-node-exporter", "avahi-daemon", "rpcbind"}
	strict := os.Getenv("SYSDIAG_BENCH_FILTER")
	if strict == "" {
		strict = "@default @basic-io @file-system"
	}
	env := []string{"XDG_CACHE_HOME=/var/cache/sysdiag-bench"}
	for _, filter := range []string{"@system-service", strict} {
		var totReal, totHit, totPred, totHappened, ran int
		var cold, warm float64
		for _, u := range units {
			unit := u + ".service"
			if _, err := os.Stat(bed.Path("/lib/systemd/system/" + unit)); err != nil {
				t.Logf("bench: %s: not in this root, not run", unit)
				continue
			}
			bed.WriteFile("/etc/systemd/system/"+unit+".d/zz-bench.conf", "[Service]\nSystemCallFilter=\nSystemCallFilter="+filter+"\n")
			bed.Systemctl("daemon-reload")
			bed.Systemctl("stop", unit)
			tj := <-trialAsync(t, unit, "--for", "8s", "--tighten=false")
			real := map[string]bool{}
			for _, f := range tj.Findings {
				real[f.Syscall] = true
			}
			t0 := time.Now()
			out, _ := bed.Exec(env, sysdiag, "check", "--json", unit)
			c := time.Since(t0).Seconds()
			bed.Exec(env, sysdiag, "check", "--json", "--cache", unit)
			t0 = time.Now()
			out, _ = bed.Exec(env, sysdiag, "check", "--json", "--cache", unit)
			w := time.Since(t0).Seconds()
			cj, err := checkUnitOut(out)
			if err != nil {
				t.Logf("bench: %s: check: %s", unit, out)
				continue
			}
			predicted := predictedSet(cj)
			hit, happened, missed := 0, 0, []string{}
			for call := range real {
				if predicted[call] != "" {
					hit++
				} else {
					missed = append(missed, call)
				}
			}
			for call := range predicted {
				if real[call] {
					happened++
				}
			}
			ran++
			totReal, totHit, totPred, totHappened = totReal+len(real), totHit+hit, totPred+len(predicted), totHappened+happened
			cold, warm = cold+c, warm+w
			var progs []string
			for _, p := range cj.Programs {
				progs = append(progs, p.Path)
			}
			t.Logf("bench: [%s] %-26s real %2d blocked, recall %2d/%-2d, predicted %3d (%2d happened), %.2fs cold %.2fs warm; missed %v; programs %v",
				filter, unit, len(real), hit, len(real), len(predicted), happened, c, w, missed, progs)
			bed.Systemctl("stop", unit)
		}
		t.Logf("bench: [%s] %d services: recall %d/%d (%.0f%%); %d predicted blocked, %d of them made by the runs (precision %.0f%%); check %.2fs per unit cold, %.2fs warm",
			filter, ran, totHit, totReal, 100*float64(totHit)/float64(max(1, totReal)), totPred, totHappened, 100*float64(totHappened)/float64(max(1, totPred)), cold/float64(max(1, ran)), warm/float64(max(1, ran)))
	}
}
