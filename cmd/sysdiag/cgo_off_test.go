//go:build !cgo

package main

const cgoOn = false
