package audit

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// enrichedSep starts the interpreted tail auditd appends with log_format=ENRICHED.
const enrichedSep = 0x1d

var (
	seccompType = []byte("type=SECCOMP msg=audit(")
	kmsgMarker  = []byte("type=1326 audit(")
)

// ParseLogLine decodes one auditd log line: "[node=N ]type=SECCOMP msg=audit(SECS.MSEC:SERIAL): fields",
// with or without the ENRICHED tail (everything from the first 0x1D byte is ignored: its SYSCALL= can be
// wrong, the raw syscall= and arch= are what count). Other record types give ErrNotSeccomp.
func ParseLogLine(line []byte) (Record, error) {
	if i := bytes.IndexByte(line, enrichedSep); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, "\r\n")
	var node string
	if bytes.HasPrefix(line, []byte("node=")) {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return Record{}, ErrNotSeccomp
		}
		node, line = string(line[len("node="):sp]), line[sp+1:]
	}
	if !bytes.HasPrefix(line, seccompType) {
		return Record{}, ErrNotSeccomp
	}
	if len(line) > maxRecord {
		return Record{}, fmt.Errorf("%w: %d bytes", errMalformed, len(line))
	}
	msg, err := auparse.ParseLogLine(string(line))
	if err != nil || msg.RecordType != auparse.AUDIT_SECCOMP {
		return Record{}, fmt.Errorf("%w: bad header: %v", errMalformed, err)
	}
	r, err := fieldsAfterHeader(msg.RawData)
	if err != nil {
		return Record{}, err
	}
	r.Source, r.Node, r.Time, r.Serial = "audit.log", node, msg.Timestamp, uint64(msg.Sequence)
	return r, nil
}

// ParseKmsgLine decodes one kernel-log line carrying a SECCOMP record, in any of the forms it is read in:
// dmesg ("[ 2810.565081] audit: type=1326 audit(…): …"), /dev/kmsg ("5,1234,5678,-;audit: type=1326 …"),
// or the MESSAGE of a _TRANSPORT=kernel journal entry.
func ParseKmsgLine(line []byte) (Record, error) {
	i := bytes.Index(line, kmsgMarker)
	if i < 0 {
		return Record{}, ErrNotSeccomp
	}
	line = line[i+len("type=1326 "):]
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl] // /dev/kmsg continuation lines (" KEY=value") follow the message
	}
	line = bytes.TrimRight(line, "\r")
	if len(line) > maxRecord {
		return Record{}, fmt.Errorf("%w: %d bytes", errMalformed, len(line))
	}
	return parseKernelMessage(string(line), "kmsg")
}

// parseKernelMessage decodes "audit(SECS.MSEC:SERIAL): fields", the form the kernel sends a record in.
func parseKernelMessage(text, source string) (Record, error) {
	msg, err := auparse.Parse(auparse.AUDIT_SECCOMP, text)
	if err != nil {
		return Record{}, fmt.Errorf("%w: bad header: %v", errMalformed, err)
	}
	r, err := fieldsAfterHeader(msg.RawData)
	if err != nil {
		return Record{}, err
	}
	r.Source, r.Time, r.Serial = source, msg.Timestamp, uint64(msg.Sequence)
	return r, nil
}

// fieldsAfterHeader parses what follows "audit(…): ".
func fieldsAfterHeader(raw string) (Record, error) {
	i := strings.Index(raw, "): ")
	if i < 0 {
		return Record{}, fmt.Errorf("%w: no fields after the header", errMalformed)
	}
	return ParseFields(raw[i+3:])
}

// FromJournal decodes a journal entry that carries a SECCOMP record: journald's audit transport
// (_TRANSPORT=audit, _AUDIT_TYPE=1326, MESSAGE "SECCOMP auid=…", time in _SOURCE_REALTIME_TIMESTAMP,
// serial in _AUDIT_ID) or the kernel transport (_TRANSPORT=kernel, MESSAGE "audit: type=1326 audit(…): …").
func FromJournal(fields map[string]string) (Record, error) {
	switch fields["_TRANSPORT"] {
	case "audit":
		if fields["_AUDIT_TYPE"] != "1326" {
			return Record{}, ErrNotSeccomp
		}
		m := fields["MESSAGE"]
		if len(m) > maxRecord {
			return Record{}, fmt.Errorf("%w: %d bytes", errMalformed, len(m))
		}
		body, ok := strings.CutPrefix(m, "SECCOMP ")
		if !ok {
			return Record{}, fmt.Errorf("%w: MESSAGE does not start with SECCOMP", errMalformed)
		}
		r, err := ParseFields(body)
		if err != nil {
			return Record{}, err
		}
		r.Source = "journal-audit"
		r.Time = journalTime(fields, "_SOURCE_REALTIME_TIMESTAMP")
		if id, err := strconv.ParseUint(fields["_AUDIT_ID"], 10, 64); err == nil {
			r.Serial = id
		}
		return r, nil
	case "kernel":
		r, err := ParseKmsgLine([]byte(fields["MESSAGE"]))
		if err != nil {
			return Record{}, err
		}
		r.Source = "journal-kernel"
		return r, nil
	}
	return Record{}, ErrNotSeccomp
}

// journalTime reads a microsecond timestamp field, falling back to __REALTIME_TIMESTAMP.
func journalTime(fields map[string]string, key string) time.Time {
	for _, k := range []string{key, "__REALTIME_TIMESTAMP"} {
		if us, err := strconv.ParseInt(fields[k], 10, 64); err == nil && us > 0 {
			return time.UnixMicro(us).UTC()
		}
	}
	return time.Time{}
}
