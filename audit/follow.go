package audit

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"time"
)

// LogFollower tails an auditd log (tail -F): new SECCOMP records as auditd appends them, across rotations.
type LogFollower struct {
	path    string
	f       *os.File
	ino     uint64
	off     int64
	partial []byte
	// skipping: inside a line longer than MaxLine, its start already dropped: the rest of it up to its
	// newline is dropped too (it is not a line of its own, and must not be decoded as one).
	skipping bool
	st       Stats
}

// Stats says what the follower read and skipped so far (lines over MaxLine, malformed records).
func (l *LogFollower) Stats() Stats { return l.st }

// FollowLog opens path at its current end: Run reports what is written from now on.
func FollowLog(path string) (*LogFollower, error) {
	l := &LogFollower{path: path}
	if err := l.open(true); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *LogFollower) open(atEnd bool) error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.ino, l.off, l.partial, l.skipping = f, inode(fi), 0, nil, false
	if atEnd {
		l.off = fi.Size()
	}
	return nil
}

// Run calls fn for each new record until ctx is done. When the log is rotated (a new file at the path,
// or the file shrinks) it finishes the old file and goes on with the new one from its start.
func (l *LogFollower) Run(ctx context.Context, fn func(Record) error) error {
	defer func() {
		if l.f != nil {
			l.f.Close()
		}
	}()
	buf := make([]byte, 1<<20)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if l.f == nil {
			_ = l.open(false)
		} else if fi, err := os.Stat(l.path); err == nil && (inode(fi) != l.ino || fi.Size() < l.off) {
			if err := l.drain(buf, fn); err != nil {
				return err
			}
			_ = l.open(false)
		}
		if l.f != nil {
			if err := l.drain(buf, fn); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (l *LogFollower) drain(buf []byte, fn func(Record) error) error {
	for {
		n, err := l.f.ReadAt(buf, l.off)
		if n > 0 {
			l.off += int64(n)
			l.st.Bytes += int64(n)
			data := buf[:n]
			if l.skipping {
				nl := bytes.IndexByte(data, '\n')
				if nl < 0 {
					continue // still inside the long line
				}
				data, l.skipping = data[nl+1:], false
			}
			data = append(l.partial, data...)
			end := bytes.LastIndexByte(data, '\n') + 1
			if err := scanBlock(data[:end], &l.st, fn); err != nil {
				return err
			}
			rest := data[end:]
			if len(rest) > MaxLine {
				l.st.TooLong++
				rest, l.skipping = nil, true
			}
			l.partial = append(l.partial[:0], rest...)
		}
		if err != nil && err != io.EOF {
			return err // a read that fails is the source dying, not "nothing new"
		}
		if err == io.EOF || n == 0 {
			return nil
		}
	}
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
