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

// A LogFile is an audit log to read, as FindLogFiles found it.
type LogFile struct {
	Path string
	// Named is true for a path the user named without a wildcard: it may be a pipe (read as a stream).
	// A rotation found beside it, or a wildcard's match, is read only if it is a regular file.
	Named bool
}

// A SkippedFile is a rotation or wildcard match that FindLogFiles left out, unopened.
type SkippedFile struct {
	Path string
	Why  string // "a named pipe", "a directory", …
}

// LogFiles expands audit.log paths and globs into the files to read, oldest first: the paths of
// FindLogFiles's files.
func LogFiles(patterns []string) ([]string, error) {
	files, _, err := FindLogFiles(patterns)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out, nil
}

// FindLogFiles expands audit.log paths and globs into the files to read, oldest first. A path that names
// a live log ("audit.log") also brings its rotations (audit.log.1 is older than audit.log, .2 older
// still). Rotations and wildcard matches are kept only if they are regular files (by stat, never opened:
// a named pipe called audit.log.1 would block the read forever); the others are returned in skipped, for
// the caller to report. A path named without a wildcard is kept whatever it is: OpenLog decides.
func FindLogFiles(patterns []string) (files []LogFile, skipped []SkippedFile, err error) {
	seen := map[string]bool{}
	add := func(p string, named bool) {
		if seen[p] {
			return
		}
		seen[p] = true
		if !named {
			fi, err := os.Stat(p)
			if err != nil {
				return // gone since the glob
			}
			if !fi.Mode().IsRegular() {
				skipped = append(skipped, SkippedFile{p, FileKind(fi.Mode())})
				return
			}
		}
		files = append(files, LogFile{Path: p, Named: named})
	}
	for _, pat := range patterns {
		wild := strings.ContainsAny(pat, "*?[")
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, nil, fmt.Errorf("bad pattern %q: %w", pat, err)
		}
		if matches == nil {
			if wild {
				return nil, nil, fmt.Errorf("%s: no file matches", pat)
			}
			matches = []string{pat} // let the open report the error
		}
		for _, m := range matches {
			if !wild {
				for _, r := range rotations(m) {
					add(r, false)
				}
			}
			add(m, !wild)
		}
	}
	// Oldest first: audit.log.3, audit.log.2, audit.log.1, audit.log.
	sort.SliceStable(files, func(i, j int) bool {
		bi, ni := rotationNumber(files[i].Path)
		bj, nj := rotationNumber(files[j].Path)
		if bi != bj {
			return false
		}
		return ni > nj
	})
	return files, skipped, nil
}

// ErrNotLog is what OpenLog's refusals wrap (errors.Is): a directory, a socket, a device.
var ErrNotLog = errors.New("not a log")

type notLogError struct{ what string }

func (e notLogError) Error() string {
	return e.what + " is not a log: name a file or a pipe"
}
func (e notLogError) Is(target error) bool { return target == ErrNotLog }

// FileKind names a file type for people ("a named pipe"): in errors about files that are not what a flag
// wants (a log, a tree).
func FileKind(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file"
}

// OpenLog opens a log the user named. A regular file is opened as a file (mapped, seekable); a named pipe
// (a FIFO, a shell's <(…) as /dev/fd/N, /dev/stdin on a pipe) is opened for reading as a stream, and the
// open waits for its writer. Anything else is refused before it is opened, with an error wrapping
// ErrNotLog: a directory, a socket, and character devices (/dev/zero would never end, a terminal would
// wait for typing; the live kernel log has its own reader, ReadDevKmsg) and block devices.
func OpenLog(path string) (*os.File, os.FileInfo, error) {
	return openLog(path, true)
}

// openLog opens path after a stat says what it is; streams allows named pipes. A regular file is opened
// with O_NONBLOCK, so that a file swapped for a pipe between the stat and the open cannot block it; the
// type is checked again on the open file.
func openLog(path string, streams bool) (*os.File, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	pipe := fi.Mode()&os.ModeNamedPipe != 0
	if !fi.Mode().IsRegular() && !(pipe && streams) {
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: notLogError{FileKind(fi.Mode())}}
	}
	flag := os.O_RDONLY | syscall.O_NOCTTY
	if !pipe {
		flag |= syscall.O_NONBLOCK
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, nil, err
	}
	ofi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if ofi.Mode().Type() != fi.Mode().Type() {
		f.Close()
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("it changed from %s to %s while it was opened", FileKind(fi.Mode()), FileKind(ofi.Mode()))}
	}
	return f, ofi, nil
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

// stopRun is how many SECCOMP records in a row, all past the window's end, prove that a log is past the
// window: see ReadLogFile.
const stopRun = 64

// ReadLogFile reads SECCOMP records of one audit log in window w, in file order; path is taken as named
// by the user (see OpenLog: a pipe is read as a stream). When the window has a start, it seeks to it by
// binary search over the file's record timestamps instead of reading from the beginning.
//
// A record outside the window is skipped and counted (Stats.OutOfWindow; records before the seek point,
// Since less a minute, are not read at all). One record dated after the window is no reason to stop: the
// clock may have been stepped (a bad RTC at boot, then NTP), and the records after it may be in the
// window again. The read stops early only when the log looks time-ordered so far (no record has gone back
// by more than the disorder auditd's queues allow, a minute) and the last stopRun (64) records were all
// later than Until plus that minute and span more than a minute among themselves: a clock that stays
// ahead across that many kills and that much of its own time has moved on, not jumped. A log with one
// step back in it is read to its end. The rule costs at most a full read (at the scan's speed), against
// a wrong "no record" when it stops too soon.
func ReadLogFile(path string, w Window, fn func(Record) error) (Stats, error) {
	return LogFile{Path: path, Named: true}.Read(w, fn)
}

// Read reads the log as ReadLogFile does; a file that is not Named is read only if it is a regular file.
func (lf LogFile) Read(w Window, fn func(Record) error) (Stats, error) {
	f, fi, err := openLog(lf.Path, lf.Named)
	if err != nil {
		return Stats{}, err
	}
	defer f.Close()
	var start int64
	if !w.Since.IsZero() && fi.Mode().IsRegular() {
		if start, err = FindOffset(f, fi.Size(), w.Since.Add(-disorder)); err != nil {
			return Stats{}, err
		}
	}
	ww := windowFilter{w: w, fn: fn}
	var st Stats
	if fi.Mode().IsRegular() {
		var ok bool
		if st, err, ok = scanFileMapped(f, start, fi.Size(), ww.filter); !ok {
			st, err = Scan(io.NewSectionReader(f, start, fi.Size()-start), ww.filter)
		}
	} else {
		st, err = Scan(f, ww.filter)
	}
	st.OutOfWindow = ww.out
	return st, err
}

// windowFilter passes on the records in a window and decides when a log is past it (see ReadLogFile).
type windowFilter struct {
	w              Window
	fn             func(Record) error
	out            int       // records outside the window
	latest         time.Time // the latest record time seen
	disordered     bool      // a record went back by more than disorder
	run            int       // records in a row past Until+disorder
	runMin, runMax time.Time // their time span
}

func (f *windowFilter) filter(rec Record) error {
	t := rec.Time
	if !f.latest.IsZero() && t.Before(f.latest.Add(-disorder)) {
		f.disordered = true
	}
	if t.After(f.latest) {
		f.latest = t
	}
	if !f.w.Until.IsZero() && t.After(f.w.Until.Add(disorder)) {
		if f.run == 0 || t.Before(f.runMin) {
			f.runMin = t
		}
		if f.run == 0 || t.After(f.runMax) {
			f.runMax = t
		}
		f.run++
		if !f.disordered && f.run >= stopRun && f.runMax.Sub(f.runMin) > disorder {
			f.out++
			return ErrStop
		}
	} else {
		f.run = 0
	}
	if !f.w.Contains(t) {
		f.out++
		return nil
	}
	return f.fn(rec)
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

// ReadKmsgFile reads SECCOMP records from kernel-log text (dmesg output, or a copy of /dev/kmsg) in a
// file or pipe the user named (see OpenLog).
func ReadKmsgFile(path string, w Window, fn func(Record) error) (Stats, error) {
	f, _, err := OpenLog(path)
	if err != nil {
		return Stats{}, err
	}
	defer f.Close()
	return ScanKmsg(f, w, fn)
}

// ScanKmsg reads SECCOMP records from kernel-log text. A line longer than MaxLine is skipped in bounded
// memory and counted (Stats.TooLong); a line with the SECCOMP marker that does not decode is counted
// (Malformed), a record outside w too (OutOfWindow). None of them stops the read.
func ScanKmsg(r io.Reader, w Window, fn func(Record) error) (Stats, error) {
	return scanKmsg(r, w, MaxLine, fn)
}

func scanKmsg(r io.Reader, w Window, maxLine int, fn func(Record) error) (Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(r, maxLine+1) // a line of maxLine bytes and its newline
	skipping := false                       // inside a line longer than maxLine, already counted
	for {
		line, err := br.ReadSlice('\n')
		st.Bytes += int64(len(line))
		if err == bufio.ErrBufferFull {
			if !skipping {
				st.TooLong++
				skipping = true
			}
			continue
		}
		if skipping {
			skipping = false // line is the too-long line's end
		} else if body := bytes.TrimSuffix(line, []byte{'\n'}); len(body) > maxLine {
			st.TooLong++ // at the end of the input, without a newline
		} else if len(line) > 0 {
			if stop, err := kmsgLine(body, w, &st, fn); stop {
				return st, err
			}
		}
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
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
		st.OutOfWindow++
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
