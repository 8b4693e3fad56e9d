package audit

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"time"
)

// FollowLog tails an auditd log (tail -F): new SECCOMP records go to fn as auditd appends them; when the
// log is rotated (a new file at the path, or the file shrinks) it continues with the new file from its
// start. It returns when ctx is done.
func FollowLog(ctx context.Context, path string, fn func(Record) error) error {
	var f *os.File
	var ino uint64
	var off int64
	var partial []byte
	open := func(fromEnd bool) {
		if f != nil {
			f.Close()
			f = nil
		}
		nf, err := os.Open(path)
		if err != nil {
			return
		}
		fi, _ := nf.Stat()
		f, ino, off, partial = nf, inode(fi), 0, nil
		if fromEnd {
			off = fi.Size()
		}
	}
	open(true)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	buf := make([]byte, 1<<20)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if f == nil {
			open(false)
		} else if fi, err := os.Stat(path); err == nil && (inode(fi) != ino || fi.Size() < off) {
			// Rotated: finish the old file, then the new one from its start.
			drain(f, &off, buf, &partial, fn)
			open(false)
		}
		if f != nil {
			if err := drain(f, &off, buf, &partial, fn); err != nil {
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

func drain(f *os.File, off *int64, buf []byte, partial *[]byte, fn func(Record) error) error {
	for {
		n, err := f.ReadAt(buf, *off)
		if n > 0 {
			*off += int64(n)
			data := append(*partial, buf[:n]...)
			end := bytes.LastIndexByte(data, '\n') + 1
			var st Stats
			if err := scanBlock(data[:end], &st, fn); err != nil {
				return err
			}
			rest := data[end:]
			if len(rest) > MaxLine {
				rest = nil
			}
			*partial = append((*partial)[:0], rest...)
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
