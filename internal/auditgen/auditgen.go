// Package auditgen writes realistic auditd logs for benchmarks: mostly SYSCALL/EXECVE/PATH/PROCTITLE/
// CWD/USER_* events in log_format=ENRICHED, with a small share of SECCOMP records of every kind sysdiag
// must decode (kill and log codes, errno, hex-encoded exe, i386 compat). Timestamps increase, so a
// time-windowed reader can seek.
package auditgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"path"
)

// Options shape a generated log.
type Options struct {
	Size         int64   // stop after about this many bytes
	SeccompShare float64 // share of events that are SECCOMP records (default 0.001)
	Start        int64   // first timestamp, Unix seconds (default 1795300000)
	Seed         int64
	MeanGapMS    int // mean time between events in milliseconds (default 20)
}

// Generate writes the log to w and returns how many SECCOMP records it wrote.
func Generate(w io.Writer, o Options) (int, error) {
	if o.SeccompShare == 0 {
		o.SeccompShare = 0.001
	}
	if o.MeanGapMS <= 0 {
		o.MeanGapMS = 20
	}
	if o.Start == 0 {
		o.Start = 1795300000
	}
	rng := rand.New(rand.NewSource(o.Seed))
	bw := bufio.NewWriterSize(w, 1<<20)
	var written int64
	serial := 1000
	ms := int64(0)
	seccomps := 0
	cw := &countWriter{w: bw}
	for written < o.Size {
		serial++
		ms += int64(rng.Intn(2 * o.MeanGapMS))
		ts := fmt.Sprintf("%d.%03d:%d", o.Start+ms/1000, ms%1000, serial)
		pid := 1000 + rng.Intn(60000)
		if rng.Float64() < o.SeccompShare {
			seccompRecord(cw, rng, ts, pid)
			seccomps++
		} else {
			switch rng.Intn(10) {
			case 0, 1, 2, 3, 4, 5:
				syscallEvent(cw, rng, ts, pid)
			case 6, 7:
				userEvent(cw, rng, ts, pid)
			default:
				fmt.Fprintf(cw, "type=SERVICE_START msg=audit(%s): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='unit=systemd-tmpfiles-clean comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\" hostname=? addr=? terminal=? res=success'\x1dUID=\"root\" AUID=\"unset\"\n", ts)
			}
		}
		written = cw.n
	}
	return seccomps, bw.Flush()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var exes = []string{"/usr/bin/bash", "/usr/sbin/sshd", "/usr/bin/python3.11", "/usr/lib/postgresql/15/bin/postgres", "/usr/sbin/nginx", "/usr/bin/curl"}

func syscallEvent(w io.Writer, rng *rand.Rand, ts string, pid int) {
	exe := exes[rng.Intn(len(exes))]
	fmt.Fprintf(w, "type=SYSCALL msg=audit(%s): arch=c000003e syscall=59 success=yes exit=0 a0=55d0c8a0e2a0 a1=55d0c8a0e2f0 a2=55d0c8a0e330 a3=0 items=2 ppid=%d pid=%d auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"%s\" exe=\"%s\" subj=unconfined key=\"exec\"\x1dARCH=x86_64 SYSCALL=execve AUID=\"admin\" UID=\"admin\" GID=\"admin\" EUID=\"admin\" SUID=\"admin\" FSUID=\"admin\" EGID=\"admin\" SGID=\"admin\" FSGID=\"admin\"\n",
		ts, pid-1, pid, path.Base(exe), exe)
	fmt.Fprintf(w, "type=EXECVE msg=audit(%s): argc=3 a0=\"%s\" a1=\"-c\" a2=\"echo hello world from a realistic command line\"\n", ts, exe)
	fmt.Fprintf(w, "type=CWD msg=audit(%s): cwd=\"/home/admin\"\n", ts)
	fmt.Fprintf(w, "type=PATH msg=audit(%s): item=0 name=\"%s\" inode=%d dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID=\"root\" OGID=\"root\"\n", ts, exe, rng.Intn(1<<20))
	fmt.Fprintf(w, "type=PATH msg=audit(%s): item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=%d dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID=\"root\" OGID=\"root\"\n", ts, rng.Intn(1<<20))
	fmt.Fprintf(w, "type=PROCTITLE msg=audit(%s): proctitle=2F7573722F62696E2F62617368002D63006563686F2068656C6C6F\n", ts)
}

func userEvent(w io.Writer, rng *rand.Rand, ts string, pid int) {
	typ := []string{"USER_ACCT", "USER_START", "USER_END", "CRED_ACQ", "CRED_DISP", "USER_LOGIN"}[rng.Intn(6)]
	fmt.Fprintf(w, "type=%s msg=audit(%s): pid=%d uid=0 auid=1000 ses=%d subj=unconfined msg='op=PAM:session_open grantors=pam_limits,pam_unix acct=\"admin\" exe=\"/usr/sbin/sshd\" hostname=192.0.2.%d addr=192.0.2.%d terminal=ssh res=success'\x1dUID=\"root\" AUID=\"admin\"\n",
		typ, ts, pid, rng.Intn(100), rng.Intn(255), rng.Intn(255))
}

func seccompRecord(w io.Writer, rng *rand.Rand, ts string, pid int) {
	exe, comm := `"/usr/sbin/remote-agent"`, `"remote-agent"`
	arch, syscall, compat, code, sig := "c000003e", 41, 0, "0x80000000", 31
	switch rng.Intn(5) {
	case 0: // hex-encoded exe (a space in the path)
		exe, comm = "2F6F70742F6D79206170702F70726F6265", "70726F6265"
		syscall = 93
	case 1: // i386 compat
		arch, syscall, compat = "40000003", 207, 1
	case 2: // SystemCallLog=
		code, sig, syscall = "0x7ffc0000", 0, 167
	case 3: // errno filter loaded with the log flag
		code, sig, syscall = "0x50000", 0, 101
	}
	fmt.Fprintf(w, "type=SECCOMP msg=audit(%s): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=%d comm=%s exe=%s sig=%d arch=%s syscall=%d compat=%d ip=0x7f43f7116547 code=%s\x1dAUID=\"unset\" UID=\"root\" GID=\"root\" ARCH=x86_64 SYSCALL=unknown-syscall(-1)\n",
		ts, pid, comm, exe, sig, arch, syscall, compat, code)
	if sig == 31 {
		fmt.Fprintf(w, "type=ANOM_ABEND msg=audit(%s): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=%d comm=%s exe=%s sig=31 res=1\x1dAUID=\"unset\" UID=\"root\" GID=\"root\"\n", ts, pid, comm, exe)
	}
}
