package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Window bounds a read by record time; a zero bound is open.
type Window struct{ Since, Until time.Time }

// Contains reports whether t lies in the window.
func (w Window) Contains(t time.Time) bool {
	return (w.Since.IsZero() || !t.Before(w.Since)) && (w.Until.IsZero() || !t.After(w.Until))
}

// disorder is how far out of time order records of one log may be (several CPUs queue records).
const disorder = time.Minute

// LogFiles expands audit.log paths and globs into the files to read, oldest first. A path that names a
// live log ("audit.log") also brings its rotations (audit.log.1 is older than audit.log, .2 older still).
func LogFiles(patterns []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, pat := range patterns {
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", pat, err)
		}
		if matches == nil {
			if strings.ContainsAny(pat, "*?[") {
				return nil, fmt.Errorf("%s: no file matches", pat)
			}
			matches = []string{pat} // let the open report the error
		}
		for _, m := range matches {
			if rot := rotations(m); len(rot) > 0 && !strings.ContainsAny(pat, "*?[") {
				for _, r := range rot {
					add(r)
				}
			}
			add(m)
		}
	}
	// Oldest first: audit.log.3, audit.log.2, audit.log.1, audit.log.
	sort.SliceStable(out, func(i, j int) bool {
		bi, ni := rotationNumber(out[i])
		bj, nj := rotationNumber(out[j])
		if bi != bj {
			return false
		}
		return ni > nj
	})
	return out, nil
}

// rotations lists path.N files beside path, highest N (oldest) first.
func rotations(path string) []string {
	ms, _ := filepath.Glob(path + ".[0-9]*")
	var out []string
	for _, m := range ms {
		if _, err := strconv.Atoi(strings.TrimPrefix(m, path+".")); err == nil {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		_, a := rotationNumber(out[i])
		_, b := rotationNumber(out[j])
		return a > b
	})
	return out
}

// rotationNumber splits "audit.log.3" into ("audit.log", 3); a live log is number 0.
func rotationNumber(p string) (string, int) {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		if n, err := strconv.Atoi(p[i+1:]); err == nil {
			return p[:i], n
		}
	}
	return p, 0
}

// ReadLogFile reads SECCOMP records of one audit log in window w, in file order. When the window has a
// start, it seeks to it by binary search over the file's record timestamps instead of reading from the
// beginning; it stops reading once records are past the window's end.
func ReadLogFile(path string, w Window, fn func(Record) error) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Stats{}, err
	}
	var start int64
	if !w.Since.IsZero() && fi.Mode().IsRegular() {
		if start, err = FindOffset(f, fi.Size(), w.Since.Add(-disorder)); err != nil {
			return Stats{}, err
		}
	}
	filter := func(rec Record) error {
		if !w.Until.IsZero() && rec.Time.After(w.Until.Add(disorder)) {
			return ErrStop
		}
		if !w.Contains(rec.Time) {
			return nil
		}
		return fn(rec)
	}
	if fi.Mode().IsRegular() {
		if st, err, ok := scanFileMapped(f, start, fi.Size(), filter); ok {
			return st, err
		}
		return Scan(io.NewSectionReader(f, start, fi.Size()-start), filter)
	}
	return Scan(f, filter)
}

// FindOffset returns the offset of the first line whose audit timestamp is not before t, in a log whose
// records are in time order (as auditd writes them), by binary search: it reads a few KiB per probe,
// whatever the file size. Lines without a timestamp are stepped over.
func FindOffset(r io.ReaderAt, size int64, t time.Time) (int64, error) {
	lo, hi := int64(0), size // invariant: the answer is in [lo, hi]
	for hi-lo > 64<<10 {
		mid := lo + (hi-lo)/2
		off, ts, err := lineTimeAt(r, size, mid)
		if err != nil {
			return 0, err
		}
		if off < 0 || off >= hi { // no timestamped line between mid and hi: search the lower half
			hi = mid
			continue
		}
		if ts.Before(t) {
			lo = off
		} else {
			hi = off
		}
	}
	return lo, nil
}

// lineTimeAt finds the first line starting after offset (or at 0) that carries an audit timestamp and
// returns its offset and time; off is -1 when none is found within a bounded read.
func lineTimeAt(r io.ReaderAt, size, offset int64) (int64, time.Time, error) {
	const probe = 64 << 10
	buf := make([]byte, probe)
	n, err := r.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, time.Time{}, err
	}
	buf = buf[:n]
	pos := 0
	if offset > 0 {
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 {
			return -1, time.Time{}, nil
		}
		pos = nl + 1
	}
	for pos < len(buf) {
		end := bytes.IndexByte(buf[pos:], '\n')
		if end < 0 {
			break
		}
		if ts, ok := HeaderTime(buf[pos : pos+end]); ok {
			return offset + int64(pos), ts, nil
		}
		pos += end + 1
	}
	return -1, time.Time{}, nil
}

// HeaderTime reads the "msg=audit(SECS.MSEC:SERIAL)" timestamp of any audit log line.
func HeaderTime(line []byte) (time.Time, bool) {
	i := bytes.Index(line, []byte("msg=audit("))
	if i < 0 || i > 256 {
		return time.Time{}, false
	}
	rest := line[i+len("msg=audit("):]
	colon := bytes.IndexByte(rest, ':')
	if colon < 0 || colon > 32 {
		return time.Time{}, false
	}
	secS, msS, ok := strings.Cut(string(rest[:colon]), ".")
	if !ok {
		return time.Time{}, false
	}
	sec, err1 := strconv.ParseInt(secS, 10, 64)
	ms, err2 := strconv.ParseInt(msS, 10, 64)
	if err1 != nil || err2 != nil || ms < 0 || ms > 999 {
		return time.Time{}, false
	}
	return time.Unix(sec, ms*int64(time.Millisecond)).UTC(), true
}

// ReadKmsgFile reads SECCOMP records from kernel-log text (dmesg output, or a copy of /dev/kmsg).
func ReadKmsgFile(path string, w Window, fn func(Record) error) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, err
	}
	defer f.Close()
	return ScanKmsg(f, w, fn)
}

// ScanKmsg reads SECCOMP records from kernel-log text. Lines are capped at MaxLine.
func ScanKmsg(r io.Reader, w Window, fn func(Record) error) (Stats, error) {
	var st Stats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		line := sc.Bytes()
		st.Bytes += int64(len(line) + 1)
		if stop, err := kmsgLine(line, w, &st, fn); stop {
			return st, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			st.TooLong++
			return st, fmt.Errorf("a line longer than %d bytes: %w", MaxLine, err)
		}
		return st, err
	}
	return st, nil
}

// ReadDevKmsg reads the SECCOMP records still in the kernel's log buffer through /dev/kmsg, without
// blocking: it returns when the buffer is drained. Needs root (or CAP_SYSLOG).
func ReadDevKmsg(w Window, fn func(Record) error) (Stats, error) {
	// Raw syscalls, not os.File: the runtime poller would turn EAGAIN (buffer drained) into a wait.
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, &os.PathError{Op: "open", Path: "/dev/kmsg", Err: err}
	}
	defer syscall.Close(fd)
	var st Stats
	buf := make([]byte, 16<<10) // one read returns one record; the kernel caps them at 8 KiB
	for {
		n, err := syscall.Read(fd, buf)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				return st, nil
			}
			if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EINTR) { // overwritten while reading
				continue
			}
			return st, &os.PathError{Op: "read", Path: "/dev/kmsg", Err: err}
		}
		if n <= 0 {
			return st, nil
		}
		st.Bytes += int64(n)
		if stop, err := kmsgLine(buf[:n], w, &st, fn); stop {
			return st, err
		}
	}
}

// kmsgLine handles one kernel-log line: stop is true when fn asked to stop (err nil for ErrStop).
func kmsgLine(line []byte, w Window, st *Stats, fn func(Record) error) (stop bool, err error) {
	if !bytes.Contains(line, kmsgMarker) {
		return false, nil
	}
	rec, err := ParseKmsgLine(line)
	if err != nil {
		st.Malformed++
		return false, nil
	}
	st.Records++
	if !w.Contains(rec.Time) {
		return false, nil
	}
	if err := fn(rec); err != nil {
		if err == ErrStop {
			return true, nil
		}
		return true, err
	}
	return false, nil
}
