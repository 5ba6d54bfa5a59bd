//go:build !logcapturer_static

package logcapturer

// The shared library, found by pkg-config (log_capturer.pc). The link
// flags of each mode sit in a file of its own: the go command's cache does
// not tell apart two builds of one file that differ only in build tags.

// #cgo pkg-config: log_capturer
import "C"
