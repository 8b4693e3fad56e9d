package auditgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
)

// JournalOptions shape a generated journal export.
type JournalOptions struct {
	Entries int    // how many entries
	Start   int64  // first timestamp, Unix seconds
	Unit    string // the unit killed at the end: its invocation, SECCOMP record, coredump and exit
	Seed    int64
}

// GenerateExport writes `journalctl -o export` text of a busy host: service output, unit lifecycle
// messages of many units, a share of SECCOMP audit records of other processes, and at the end one real-
// shaped seccomp kill of o.Unit (socket() on x86_64). Feed it to systemd-journal-remote to get a journal file.
func GenerateExport(w io.Writer, o JournalOptions) error {
	rng := rand.New(rand.NewSource(o.Seed))
	bw := bufio.NewWriterSize(w, 1<<20)
	boot := "126a43b352ac4cfeb2685dd1866c4cb1"
	us := o.Start * 1e6
	mono := int64(1e9)
	entry := func(fields ...string) {
		us += int64(rng.Intn(2000))
		mono += int64(rng.Intn(2000))
		fmt.Fprintf(bw, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n", us, mono, boot)
		for _, f := range fields {
			bw.WriteString(f)
			bw.WriteByte('\n')
		}
		bw.WriteByte('\n')
	}
	for i := 0; i < o.Entries-6; i++ {
		svc := fmt.Sprintf("svc%03d.service", rng.Intn(300))
		pid := 1000 + rng.Intn(60000)
		switch r := rng.Intn(1000); {
		case r == 0:
			entry("_TRANSPORT=audit", "_AUDIT_TYPE=1326", "_AUDIT_TYPE_NAME=SECCOMP", fmt.Sprintf("_AUDIT_ID=%d", i),
				fmt.Sprintf("_SOURCE_REALTIME_TIMESTAMP=%d", us/1000*1000), fmt.Sprintf("_PID=%d", pid), "SYSLOG_IDENTIFIER=audit",
				fmt.Sprintf("MESSAGE=SECCOMP auid=4294967295 uid=0 gid=0 ses=4294967295 pid=%d comm=\"other\" exe=\"/usr/bin/other\" sig=0 arch=c000003e syscall=167 compat=0 ip=0x7f0000001000 code=0x7ffc0000", pid))
		case r < 20:
			entry("_TRANSPORT=journal", "SYSLOG_IDENTIFIER=systemd", "_PID=1", "UNIT="+svc,
				"MESSAGE_ID=39f53479d3a045ac8e11786248231fbf", fmt.Sprintf("INVOCATION_ID=%032x", rng.Uint64()), "MESSAGE=Started "+svc+".")
		default:
			entry("_TRANSPORT=stdout", "PRIORITY=6", "SYSLOG_IDENTIFIER="+svc[:6], fmt.Sprintf("_PID=%d", pid), "_SYSTEMD_UNIT="+svc,
				fmt.Sprintf("MESSAGE=request %d served in %d ms from 192.0.2.%d", rng.Intn(1e6), rng.Intn(500), rng.Intn(255)))
		}
	}
	inv := "0123456789abcdef0123456789abcdef"
	pid := 424242
	entry("_TRANSPORT=journal", "SYSLOG_IDENTIFIER=systemd", "_PID=1", "UNIT="+o.Unit, "MESSAGE_ID=39f53479d3a045ac8e11786248231fbf",
		"INVOCATION_ID="+inv, "MESSAGE=Started "+o.Unit+".")
	entry("_TRANSPORT=audit", "_AUDIT_TYPE=1326", "_AUDIT_TYPE_NAME=SECCOMP", "_AUDIT_ID=99999999",
		fmt.Sprintf("_SOURCE_REALTIME_TIMESTAMP=%d", us/1000*1000+1000), fmt.Sprintf("_PID=%d", pid), "SYSLOG_IDENTIFIER=audit",
		fmt.Sprintf("MESSAGE=SECCOMP auid=4294967295 uid=0 gid=0 ses=4294967295 pid=%d comm=\"ncat\" exe=\"/usr/bin/ncat\" sig=31 arch=c000003e syscall=41 compat=0 ip=0x7f1ad3b1a9cb code=0x80000000", pid))
	us += 300000
	entry("_TRANSPORT=journal", "SYSLOG_IDENTIFIER=systemd-coredump", "MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1",
		"COREDUMP_UNIT="+o.Unit, fmt.Sprintf("COREDUMP_PID=%d", pid), "COREDUMP_SIGNAL=31", "COREDUMP_UID=0", "COREDUMP_GID=0",
		fmt.Sprintf("COREDUMP_TIMESTAMP=%d", (us-300000)/1000000*1000000), "COREDUMP_EXE=/usr/bin/ncat", "COREDUMP_COMM=ncat",
		"COREDUMP_ENVIRON=INVOCATION_ID="+inv,
		"MESSAGE=Process 424242 (ncat) of user 0 dumped core.")
	entry("_TRANSPORT=journal", "SYSLOG_IDENTIFIER=systemd", "_PID=1", "UNIT="+o.Unit, "MESSAGE_ID=98e322203f7a4ed290d09fe03c09fe15",
		"INVOCATION_ID="+inv, "EXIT_CODE=dumped", "EXIT_STATUS=31", "COMMAND=ExecStart",
		"MESSAGE="+o.Unit+": Main process exited, code=dumped, status=31/SYS")
	entry("_TRANSPORT=journal", "SYSLOG_IDENTIFIER=systemd", "_PID=1", "UNIT="+o.Unit, "MESSAGE_ID=d9b373ed55a64feb8242e02dbe79a49c",
		"INVOCATION_ID="+inv, "UNIT_RESULT=core-dump", "MESSAGE="+o.Unit+": Failed with result 'core-dump'.")
	return bw.Flush()
}
