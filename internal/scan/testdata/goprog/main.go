// A Go program whose syscalls the scanner must find: syscall.Socket (41) through Go's own wrappers and
// a raw syscall.Syscall with a constant number (ptrace, 101). Built by scan_test.go.
package main

import (
	"os"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "s" {
		fd, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		os.Exit(fd)
	}
	if len(os.Args) > 1 && os.Args[1] == "p" {
		r, _, _ := syscall.Syscall(syscall.SYS_PTRACE, 0x4206, 0, 0)
		os.Exit(int(r))
	}
}
