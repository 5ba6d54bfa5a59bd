//go:build logcapturer_static

package logcapturer

// The static library linked into the binary, found by pkg-config
// (log_capturer-static.pc: cgo cannot ask pkg-config for --static).

// #cgo pkg-config: log_capturer-static
import "C"
