package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Multicast is a read-only member of the kernel's audit multicast group (AUDIT_NLGRP_READLOG): it sees
// every audit record next to a running auditd and never takes over from it (no AUDIT_SET). It needs
// CAP_AUDIT_READ. It is written here rather than taken from go-libaudit's NewMulticastAuditClient because
// that client does not let its socket's receive buffer be raised, and a flood of records then overflows it.
//
// The socket is non-blocking and held by an *os.File, so reads wait in Go's runtime poller: Close is safe
// while a Receive is blocked (the poller wakes it, and the fd is closed only once no read is inside it).
type Multicast struct {
	f   *os.File
	rc  syscall.RawConn
	buf []byte
}

const auditNLGroupReadLog = 1

// JoinMulticast opens the socket with a receive buffer of rcvbuf bytes (raised past rmem_max as root).
func JoinMulticast(rcvbuf int) (*Multicast, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, syscall.NETLINK_AUDIT)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK, Groups: auditNLGroupReadLog}); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("bind to the audit multicast group", err)
	}
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
	}
	f := os.NewFile(uintptr(fd), "audit multicast socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Multicast{f: f, rc: rc, buf: make([]byte, 1<<16)}, nil
}

// ErrClosed is returned by a Receive blocked or started after Close.
var ErrClosed = errors.New("audit multicast socket closed")

// ErrOverflow is returned by Receive when the socket's buffer overflowed (ENOBUFS): records were lost,
// and the socket goes on working.
var ErrOverflow = errors.New("audit multicast socket overflowed: records lost")

// Receive blocks for the next batch of messages and calls fn with each message's type and data.
func (m *Multicast) Receive(fn func(typ uint16, data []byte)) error {
	var n int
	var err error
	if rerr := m.rc.Read(func(fd uintptr) bool {
		n, _, err = syscall.Recvfrom(int(fd), m.buf, 0)
		return !errors.Is(err, syscall.EAGAIN)
	}); rerr != nil {
		return ErrClosed // the poller's "use of closed file"
	}
	if err != nil {
		if errors.Is(err, syscall.ENOBUFS) {
			return ErrOverflow
		}
		if errors.Is(err, syscall.EINTR) {
			return nil
		}
		return os.NewSyscallError("recvfrom", err)
	}
	// One audit record per datagram. The kernel does not set nlmsg_len right for audit records, so the
	// datagram's length, not the header's, bounds the data (as go-libaudit's own parser does).
	if n < syscall.NLMSG_HDRLEN {
		return fmt.Errorf("short netlink message (%d bytes)", n)
	}
	typ := binary.NativeEndian.Uint16(m.buf[4:6])
	fn(typ, m.buf[syscall.NLMSG_HDRLEN:n])
	return nil
}

// Close closes the socket; a blocked Receive returns ErrClosed.
func (m *Multicast) Close() error { return m.f.Close() }
