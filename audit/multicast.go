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
type Multicast struct {
	fd  int
	buf []byte
}

const auditNLGroupReadLog = 1

// JoinMulticast opens the socket with a receive buffer of rcvbuf bytes (raised past rmem_max as root).
func JoinMulticast(rcvbuf int) (*Multicast, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_AUDIT)
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
	return &Multicast{fd: fd, buf: make([]byte, 1<<16)}, nil
}

// ErrOverflow is returned by Receive when the socket's buffer overflowed (ENOBUFS): records were lost,
// and the socket goes on working.
var ErrOverflow = errors.New("audit multicast socket overflowed: records lost")

// Receive blocks for the next batch of messages and calls fn with each message's type and data.
func (m *Multicast) Receive(fn func(typ uint16, data []byte)) error {
	n, _, err := syscall.Recvfrom(m.fd, m.buf, 0)
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

// Close closes the socket; a blocked Receive returns an error.
func (m *Multicast) Close() error {
	// shutdown wakes a blocked recvfrom; close alone may not.
	_ = syscall.Shutdown(m.fd, syscall.SHUT_RDWR)
	return syscall.Close(m.fd)
}
