package evidence

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sysdiag/sysdiag/audit"
	"github.com/sysdiag/sysdiag/syscalls"
)

// sameSecond returns n records of n/2 logged calls, each seen by two sources, all within one second,
// shuffled: the arrival order that made Merger.Add quadratic.
func sameSecond(n int, seed uint64) []audit.Record {
	base := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(seed, 1))
	recs := make([]audit.Record, 0, n)
	for i := 0; len(recs) < n; i++ {
		r := audit.Record{Source: "audit.log", Time: base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond),
			Serial: uint64(1000 + i), PID: 100 + i%7, Arch: syscalls.ArchX86_64, Syscall: 167, Name: "swapon",
			Action: audit.ActionLog, Code: uint32(audit.ActionLog)}
		recs = append(recs, r)
		r.Source = "journal-audit"
		recs = append(recs, r)
	}
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	return recs[:n]
}

func BenchmarkMergerShuffled(b *testing.B) {
	recs := sameSecond(200000, 1)
	benchMerge(b, recs)
}

// BenchmarkMergerWithoutSerials: 50 000 records without serials (25 000 calls, two sources each)
// within one second, shuffled.
func BenchmarkMergerWithoutSerials(b *testing.B) {
	recs := sameSecond(50000, 3)
	for i := range recs {
		recs[i].PID = 1000 + int(recs[i].Serial)
		recs[i].Serial = 0
	}
	benchMerge(b, recs)
}

// benchMerge merges recs (each call seen by two sources) once per iteration: half as many violations.
func benchMerge(b *testing.B, recs []audit.Record) {
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		m := NewMerger(nil, nil, func(Violation) error { n++; return nil })
		for _, r := range recs {
			m.Add(r)
		}
		m.Flush()
		if n != len(recs)/2 {
			b.Fatalf("%d violations, want %d", n, len(recs)/2)
		}
	}
}
