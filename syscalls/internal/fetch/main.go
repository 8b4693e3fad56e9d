// Command fetch refreshes the syscall-number inputs of package syscalls from golang.org/x/sys/unix.
//
// It is the one step that needs the network, and a person runs it on purpose:
//
//	go run ./syscalls/internal/fetch -xsys v0.49.0
//	go generate ./syscalls
//
// It asks the Go toolchain for the named golang.org/x/sys version (go mod download, through the module
// proxy), reads its zsysnum_linux_<goarch>.go files, and writes syscalls/data/syscalls/<audit-arch>.tsv:
// one "number<TAB>name" line per syscall, with a header naming the source. go generate then reads
// only those checked-in files.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// goarchToAudit maps x/sys file suffixes to the audit arch names used by package syscalls.
var goarchToAudit = map[string]string{
	"amd64":   "x86_64",
	"386":     "i386",
	"arm64":   "aarch64",
	"arm":     "arm",
	"riscv64": "riscv64",
	"ppc64le": "ppc64le",
	"ppc64":   "ppc64",
	"s390x":   "s390x",
	"loong64": "loongarch64",
}

var constRE = regexp.MustCompile(`^\s*SYS_([A-Z0-9_]+)\s*=\s*(\d+)\s*$`)

func main() {
	version := flag.String("xsys", "", "golang.org/x/sys version to read, e.g. v0.49.0 (required)")
	out := flag.String("out", "syscalls/data/syscalls", "directory to write the .tsv files to")
	flag.Parse()
	if *version == "" {
		fmt.Fprintln(os.Stderr, "fetch: -xsys VERSION is required")
		os.Exit(2)
	}
	if err := run(*version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		os.Exit(1)
	}
}

func run(version, out string) error {
	cmd := exec.Command("go", "mod", "download", "-json", "golang.org/x/sys@"+version)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go mod download golang.org/x/sys@%s: %w", version, err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(raw, &mod); err != nil {
		return fmt.Errorf("reading go mod download output: %w", err)
	}
	for goarch, arch := range goarchToAudit {
		src := filepath.Join(mod.Dir, "unix", "zsysnum_linux_"+goarch+".go")
		body, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		type entry struct {
			nr   int
			name string
		}
		var entries []entry
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			m := constRE.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			nr, _ := strconv.Atoi(m[2])
			entries = append(entries, entry{nr, strings.ToLower(m[1])})
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if goarch == "arm" {
			// x/sys leaves out the ARM-private calls at __ARM_NR_BASE (0x0f0000) from the kernel's
			// arch/arm/include/uapi/asm/unistd.h; libseccomp and audit know them (cacheflush is in @default).
			for i, name := range []string{"breakpoint", "cacheflush", "usr26", "usr32", "set_tls", "get_tls"} {
				entries = append(entries, entry{0x0f0000 + i + 1, name})
			}
		}
		sort.Slice(entries, func(i, j int) bool {
			if entries[i].nr != entries[j].nr {
				return entries[i].nr < entries[j].nr
			}
			return entries[i].name < entries[j].name
		})
		var b strings.Builder
		fmt.Fprintf(&b, "# audit arch %s: syscall numbers from golang.org/x/sys@%s unix/zsysnum_linux_%s.go\n", arch, mod.Version, goarch)
		if goarch == "arm" {
			b.WriteString("# plus the ARM-private calls at __ARM_NR_BASE 0x0f0000 (kernel arch/arm/include/uapi/asm/unistd.h)\n")
		}
		fmt.Fprintf(&b, "# written by: go run ./syscalls/internal/fetch -xsys %s\n", version)
		for _, e := range entries {
			fmt.Fprintf(&b, "%d\t%s\n", e.nr, e.name)
		}
		if err := os.WriteFile(filepath.Join(out, arch+".tsv"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
