package e2e

import (
	"encoding/json"
	"sort"
	"testing"
	"time"
)

// BenchmarkWatchLatency: the time from the kernel's SECCOMP record (its timestamp) to watch printing
// the diagnosed violation, over real kills on the test bed. Run as root:
//
//	go test -run '^$' -bench WatchLatency -benchtime 50x ./internal/e2e
func BenchmarkWatchLatency(b *testing.B) {
	if skipWhy != "" {
		b.Skip(skipWhy)
	}
	unit := "sysdiag-e2e-lat.service"
	if err := bed.WriteFile(unitDir+"/"+unit, "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n"); err != nil {
		b.Fatal(err)
	}
	bed.Systemctl("daemon-reload")
	w := startWatch(b, "--root", "/", "--systemd-version", "252.39")
	delays := make(chan int64, 1000)
	go func() {
		for raw := range w.lines {
			var l struct {
				Type    string `json:"type"`
				DelayMS int64  `json:"delay_ms"`
			}
			if json.Unmarshal(raw, &l) == nil && l.Type == "violation" {
				delays <- l.DelayMS
			}
		}
	}()
	var got []int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A new unit name each time: watch folds repeats of the same (unit, syscall).
		name := unit
		if i > 0 {
			name = "sysdiag-e2e-lat" + itoa(i) + ".service"
			bed.WriteFile(unitDir+"/"+name, "[Service]\nType=oneshot\nExecStart="+probe+" fchown\nSystemCallFilter=~@chown\n")
			bed.Systemctl("daemon-reload")
		}
		bed.Systemctl("start", name)
		select {
		case d := <-delays:
			got = append(got, d)
		case <-time.After(10 * time.Second):
			b.Fatalf("kill %d not seen", i)
		}
	}
	b.StopTimer()
	w.stop()
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	b.ReportMetric(float64(got[len(got)/2]), "p50-ms")
	b.ReportMetric(float64(got[(len(got)*99)/100]), "p99-ms")
	b.ReportMetric(float64(got[len(got)-1]), "max-ms")
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}
