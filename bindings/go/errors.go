package logcapturer

/*
#include "log_capturer.h"
*/
import "C"

import (
	"errors"
	"strings"
)

// Code is a capture_result value returned by the C ABI.
type Code int

// The library's result codes (capture_result in log_capturer.h).
const (
	CodeOK              Code = C.CAPTURE_OK
	CodeNullArgument    Code = C.CAPTURE_ERR_NULL_ARGUMENT
	CodeInvalidConfig   Code = C.CAPTURE_ERR_INVALID_CONFIG
	CodeInvalidArgument Code = C.CAPTURE_ERR_INVALID_ARGUMENT
	CodeStopped         Code = C.CAPTURE_ERR_STOPPED
	CodeRuntime         Code = C.CAPTURE_ERR_RUNTIME
	CodeStopTimeout     Code = C.CAPTURE_ERR_STOP_TIMEOUT
	CodeNotFound        Code = C.CAPTURE_ERR_NOT_FOUND
	CodePanic           Code = C.CAPTURE_ERR_PANIC
)

// String is the library's static description of the code.
func (c Code) String() string {
	return C.GoString(C.capture_result_message(C.int32_t(c)))
}

// sentinel is an error value for errors.Is; parent makes a narrower
// sentinel match a broader one too (a closed capture is also stopped).
type sentinel struct {
	message string
	parent  error
}

func (s *sentinel) Error() string { return s.message }

func (s *sentinel) Is(target error) bool { return s.parent != nil && target == s.parent }

// Sentinel errors, for errors.Is. Every *Error and *ConfigError matches the
// one of its code.
var (
	// ErrStopped: the capture was stopped (by Stop, Close or another goroutine).
	ErrStopped error = &sentinel{message: "logcapturer: the capture is stopped"}
	// ErrClosed: the capture was closed, or is nil or was never started. It
	// matches ErrStopped too.
	ErrClosed error = &sentinel{message: "logcapturer: the capture is closed", parent: ErrStopped}
	// ErrInvalidConfig: the configuration was refused (see *ConfigError).
	ErrInvalidConfig error = &sentinel{message: "logcapturer: invalid config"}
	// ErrInvalidArgument: an argument was out of range or not valid text.
	ErrInvalidArgument error = &sentinel{message: "logcapturer: invalid argument"}
	// ErrNotFound: no such container is known to the capture.
	ErrNotFound error = &sentinel{message: "logcapturer: not found"}
	// ErrStopTimeout: the engine did not stop within its deadline.
	ErrStopTimeout error = &sentinel{message: "logcapturer: stop timed out"}
	// ErrRuntime: the engine could not start.
	ErrRuntime error = &sentinel{message: "logcapturer: the engine could not start"}
	// ErrPanic: the library panicked (please report it); the call did nothing.
	ErrPanic error = &sentinel{message: "logcapturer: the library panicked"}
)

var sentinels = map[Code]error{
	CodeInvalidConfig:   ErrInvalidConfig,
	CodeInvalidArgument: ErrInvalidArgument,
	CodeNullArgument:    ErrInvalidArgument,
	CodeStopped:         ErrStopped,
	CodeRuntime:         ErrRuntime,
	CodeStopTimeout:     ErrStopTimeout,
	CodeNotFound:        ErrNotFound,
	CodePanic:           ErrPanic,
}

// Error is a failed call: the operation, the library's result code and its
// detailed message (capture_last_error).
type Error struct {
	Op      string
	Code    Code
	Message string
}

func (e *Error) Error() string {
	message := e.Message
	if message == "" {
		message = e.Code.String()
	}
	return "logcapturer: " + e.Op + ": " + message
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Code]
	return ok && errors.Is(s, target)
}

// ConfigError is a refused configuration. Message is the library's (it names
// the key); Key is that key when it could be told from the message.
type ConfigError struct {
	Key     string
	Message string
}

func (e *ConfigError) Error() string { return "logcapturer: invalid config: " + e.Message }

// Is makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

func newConfigError(message string) *ConfigError {
	return &ConfigError{Key: configKey(message), Message: message}
}

// configKey finds the key a library message names: "read_timeout: …" or
// "… unknown field `rotation_intreval` …".
func configKey(message string) string {
	if i := strings.Index(message, "unknown field `"); i >= 0 {
		rest := message[i+len("unknown field `"):]
		if j := strings.IndexByte(rest, '`'); j > 0 {
			return rest[:j]
		}
	}
	if i := strings.Index(message, ": "); i > 0 && isKey(message[:i]) {
		return message[:i]
	}
	return ""
}

func isKey(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}
