package logcapturer

// This file holds the cgo export only: a file with //export may declare
// but not define C functions in its preamble.

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export logcapturerLogLine
func logcapturerLogLine(userData unsafe.Pointer, level C.int32_t, line *C.char) {
	sink := cgo.Handle(*(*C.uintptr_t)(userData)).Value().(*logSink)
	if f := sink.fn.Load(); f != nil && *f != nil {
		(*f)(LogLevel(level), C.GoString(line))
	}
}
