//go:build cgo

package e2e

// journalWorks: a cgo build reads the journal (a failure to open it is then a real error, not a skip).
func journalWorks() bool { return true }
