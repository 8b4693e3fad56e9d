// Command sysdiag tells why a systemd service was killed by its seccomp filter and what to change.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
