package journal

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseNSpid(t *testing.T) {
	deep := "NSpid:" + strings.Repeat("\t7", maxNSDepth)
	for _, c := range []struct {
		status string
		want   []int
	}{
		{"Name:\tprobe\nPid:\t40177\nNSpid:\t40177\t212\nNSpgid:\t40177\t212\n", []int{40177, 212}},
		{"NSpid:\t212", []int{212}}, // read from the container's own procfs, last line without "\n"
		{"Name:\tprobe\nNSpid:\t1\t2\t3\n", []int{1, 2, 3}},
		{deep, slices.Repeat([]int{7}, maxNSDepth)},
		{deep + "\t7", nil},                      // deeper than the kernel nests
		{"NSpid:\t40177\t212\nNSpid:\t1\n", nil}, // two lines
		{"NSpid:\t40177\tx\n", nil},              // not a number
		{"NSpid:\t0\t212\n", nil},                // not a pid
		{"NSpid:\t-1\n", nil},
		{"NSpid:\t+5\t007\n", nil},                        //
		{"NSpid:\t99999999999999999999999\n", nil},        // overflows int
		{"Name:\tprobe\nPid:\t40177\n", nil},              // no line (a kernel before 4.1)
		{"NSpid:\n", nil},                                 // empty
		{" NSpid:\t5\n", nil},                             // not at a line's start
		{"NSpgid:\t5\t6\n", nil},                          // another line
		{"NSpid:\t5\t6\r\n", nil},                         // "\r" is no separator the kernel writes
		{"NSpid:\t" + strings.Repeat("1", maxField), nil}, // too long to read
	} {
		if got := parseNSpid(c.status); !slices.Equal(got, c.want) {
			t.Errorf("parseNSpid(%.40q) = %v, want %v", c.status, got, c.want)
		}
	}
}

func TestCoredumpHostPID(t *testing.T) {
	for _, c := range []struct {
		pid    int
		nspids []int
		want   int
	}{
		{212, []int{40177, 212}, 40177},       // forwarded into a container, status text from the host's procfs
		{212, []int{40177, 9000, 212}, 40177}, // nested: the outermost is the host's
		{40177, []int{40177, 212}, 0},         // the host's own entry: COREDUMP_PID is already the outer pid
		{212, []int{212}, 0},                  // status text from the container's procfs: no pair
		{212, []int{40177, 213}, 0},           // NSpid: of another process
		{212, nil, 0},
	} {
		got, ok := Coredump{PID: c.pid, NSPids: c.nspids}.HostPID()
		if got != c.want || ok != (c.want != 0) {
			t.Errorf("HostPID of pid %d NSpid %v = %d, %v; want %d", c.pid, c.nspids, got, ok, c.want)
		}
	}
}

// TestParseCoredumpNSpid: a real entry of systemd 252 whose systemd-coredump ran in the host's pid
// namespace while the unit's systemd ran in its own (the test bed): COREDUMP_PID is the outer pid and the
// stack trace names the inner one as the thread.
func TestParseCoredumpNSpid(t *testing.T) {
	es := readJSONFixture(t, "testdata/debian12-systemd252-x86_64-deny.coredump.json")
	cd, err := ParseCoredump(es[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cd.NSPids, []int{8062, 67}) || cd.Thread != 67 {
		t.Errorf("NSpid %v, thread %d; want [8062 67], 67", cd.NSPids, cd.Thread)
	}
	if p, ok := cd.HostPID(); ok {
		t.Errorf("HostPID = %d for an entry whose COREDUMP_PID is the host's", p)
	}
}

// FuzzParseNSpid: hostile status text never panics and gives either nil or 1..maxNSDepth positive pids,
// each written in the line.
func FuzzParseNSpid(f *testing.F) {
	f.Add("Name:\tprobe\nNSpid:\t40177\t212\n")
	f.Add("NSpid:\t1\nNSpid:\t2")
	f.Add("NSpid: 0x10\t+5\t-0\t007")
	f.Fuzz(func(t *testing.T, s string) {
		pids := parseNSpid(s)
		if pids == nil {
			return
		}
		if len(pids) > maxNSDepth {
			t.Fatalf("%d pids", len(pids))
		}
		for _, p := range pids {
			if p <= 0 || !strings.Contains(s, strconv.Itoa(p)) {
				t.Fatalf("pid %d from %q", p, s)
			}
		}
	})
}
