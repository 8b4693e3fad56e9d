// Command mkauditlog writes a realistic ENRICHED audit.log of a given size for benchmarks:
//
//	go run ./internal/auditgen/mkauditlog -size 1GiB -o /tmp/audit-1g.log
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sysdiag/sysdiag/internal/auditgen"
)

func main() {
	size := flag.String("size", "1GiB", "approximate size (B, KiB, MiB, GiB)")
	out := flag.String("o", "", "output file (required)")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	n, err := parseSize(*size)
	if err != nil || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: mkauditlog -size 1GiB -o FILE")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkauditlog:", err)
		os.Exit(1)
	}
	k, err := auditgen.Generate(f, auditgen.Options{Size: n, Seed: *seed})
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkauditlog:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d bytes, %d SECCOMP records\n", *out, n, k)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	v, err := strconv.ParseInt(strings.TrimSuffix(s, "B"), 10, 64)
	return v * mult, err
}
