//go:build cgo

package main

// cgoOn is whether this test binary was built with cgo (libseccomp verification, sd-journal).
const cgoOn = true
