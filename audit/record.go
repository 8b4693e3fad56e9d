package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sysdiag/sysdiag/syscalls"
)

// Action is the seccomp action of a record: the SECCOMP_RET_ACTION_FULL bits of its code= field.
type Action uint32

// The seccomp actions, as the kernel writes them in code=.
const (
	ActionKillThread  Action = 0x00000000
	ActionKillProcess Action = 0x80000000
	ActionTrap        Action = 0x00030000
	ActionErrno       Action = 0x00050000
	ActionUserNotif   Action = 0x7fc00000
	ActionTrace       Action = 0x7ff00000
	ActionLog         Action = 0x7ffc0000
	ActionAllow       Action = 0x7fff0000
)

var actionNames = map[Action]string{
	ActionKillThread: "kill-thread", ActionKillProcess: "kill-process", ActionTrap: "trap",
	ActionErrno: "errno", ActionUserNotif: "user-notif", ActionTrace: "trace", ActionLog: "log",
	ActionAllow: "allow",
}

func (a Action) String() string {
	if n, ok := actionNames[a]; ok {
		return n
	}
	return fmt.Sprintf("0x%08x", uint32(a))
}

// IsKill reports whether the action killed the thread or process.
func (a Action) IsKill() bool { return a == ActionKillThread || a == ActionKillProcess }

// Unset is the value audit writes for an unset auid or session (4294967295).
const Unset = ^uint32(0)

// Record is one SECCOMP audit record, every field decoded, raw values kept beside names.
type Record struct {
	Source string // where it was read: "audit.log", "kmsg", "journal-audit", "journal-kernel", "netlink"
	Node   string // node= prefix of remote logging, or the _HOSTNAME of another host's journal; "" if none
	// Machine is the _MACHINE_ID of the journal entry that carried the record, when the journal holds
	// other hosts' entries (systemd-journal-remote's, copies); "" otherwise.
	Machine string
	Time    time.Time // the record's own timestamp (millisecond resolution), UTC
	Serial  uint64    // audit serial (the number after ':' in audit(…)); 0 when the source has none

	AUID, UID, GID, Ses uint32 // Unset (4294967295) when unset
	Subj                string // LSM context, "" if none
	PID                 int    // thread-group id (on a host: the same as COREDUMP_PID)
	Comm, Exe           string // decoded: hex-encoded values are turned back into bytes

	Sig     int           // 31 for kills, 0 for log
	Arch    syscalls.Arch // AUDIT_ARCH of the calling ABI
	Syscall int           // number on Arch
	Name    string        // Syscall's name on Arch, "" if unknown
	Compat  int           // 1 for a compat (e.g. i386 on x86_64) call
	IP      uint64
	Code    uint32 // the raw code= value
	Action  Action // Code's action bits
}

// Errors returned for input that is not a SECCOMP record.
var (
	ErrNotSeccomp = errors.New("not a SECCOMP record")
	errMalformed  = errors.New("malformed SECCOMP record")
)

// maxRecord bounds the length of one record: the kernel's own limit for an audit message is 8970 bytes.
const maxRecord = 16 << 10

// ParseFields decodes the key=value part of a SECCOMP record ("auid=… uid=… … code=0x80000000"). It
// fills every field but Source, Node, Time and Serial. On error the returned Record is zero.
func ParseFields(s string) (Record, error) {
	if len(s) > maxRecord {
		return Record{}, fmt.Errorf("%w: %d bytes", errMalformed, len(s))
	}
	var r Record
	var have uint
	const (
		hPID = 1 << iota
		hArch
		hSyscall
		hCode
		hSig
	)
	lastKey := ""
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		word, rest := cutWord(s)
		eq := strings.IndexByte(word, '=')
		if eq <= 0 {
			// A word without "=" continues the previous value (AppArmor: subj=snap.x.y (enforce)).
			if lastKey == "subj" {
				r.Subj += " " + word
			}
			s = rest
			continue
		}
		key, val, quoted := word[:eq], word[eq+1:], false
		if strings.HasPrefix(val, `"`) {
			// The kernel quotes only values without spaces or quotes; find the closing quote anyway.
			body := s[eq+2:]
			end := strings.IndexByte(body, '"')
			if end < 0 {
				return Record{}, fmt.Errorf("%w: unterminated quote in %s=", errMalformed, key)
			}
			val, rest, quoted = body[:end], body[end+1:], true
			if rest != "" && rest[0] != ' ' {
				return Record{}, fmt.Errorf("%w: text after the closing quote of %s=", errMalformed, key)
			}
		}
		s, lastKey = rest, key
		var err error
		switch key {
		case "auid":
			r.AUID, err = parseU32(val)
		case "uid":
			r.UID, err = parseU32(val)
		case "gid":
			r.GID, err = parseU32(val)
		case "ses":
			r.Ses, err = parseU32(val)
		case "subj":
			r.Subj = intern(val)
		case "pid":
			r.PID, err = parseInt(val, 10)
			have |= hPID
		case "comm":
			r.Comm = intern(decodeUntrusted(val, quoted))
		case "exe":
			r.Exe = intern(decodeUntrusted(val, quoted))
		case "sig":
			r.Sig, err = parseInt(val, 10)
			have |= hSig
		case "arch":
			var a uint64
			a, err = strconv.ParseUint(val, 16, 32)
			r.Arch = syscalls.Arch(a)
			have |= hArch
		case "syscall":
			r.Syscall, err = parseInt(val, 10)
			have |= hSyscall
		case "compat":
			r.Compat, err = parseInt(val, 10)
		case "ip":
			r.IP, err = strconv.ParseUint(strings.TrimPrefix(val, "0x"), 16, 64)
		case "code":
			var c uint64
			c, err = strconv.ParseUint(strings.TrimPrefix(val, "0x"), 16, 32)
			r.Code = uint32(c)
			r.Action = Action(r.Code & 0xffff0000)
			have |= hCode
		}
		if err != nil {
			return Record{}, fmt.Errorf("%w: %s=%q", errMalformed, key, val)
		}
	}
	if have&(hPID|hArch|hSyscall|hCode) != hPID|hArch|hSyscall|hCode {
		return Record{}, fmt.Errorf("%w: missing pid, arch, syscall or code", errMalformed)
	}
	r.Name, _ = syscalls.Name(r.Arch, r.Syscall)
	return r, nil
}

func cutWord(s string) (word, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func parseU32(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err
}

func parseInt(s string, base int) (int, error) {
	v, err := strconv.ParseInt(s, base, 32)
	return int(v), err
}

// decodeUntrusted undoes audit_log_untrustedstring: a value with a quote, space, control or non-ASCII
// byte is written unquoted as uppercase hex. A quoted value is literal.
func decodeUntrusted(v string, quoted bool) string {
	if quoted || v == "" || len(v)%2 != 0 {
		return v
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return v
		}
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		return v
	}
	return string(b)
}

// intern returns a shared copy of s: a flood repeats the same comm and exe millions of times, and a
// substring would keep its whole source line alive. The table is bounded; past it, s is copied.
func intern(s string) string {
	internMu.Lock()
	defer internMu.Unlock()
	if v, ok := internTab[s]; ok {
		return v
	}
	c := strings.Clone(s)
	if len(internTab) < 1<<14 {
		internTab[c] = c
	}
	return c
}

var (
	internMu  sync.Mutex
	internTab = map[string]string{}
)
