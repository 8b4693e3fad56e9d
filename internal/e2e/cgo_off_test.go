//go:build !cgo

package e2e

func journalWorks() bool { return false }
