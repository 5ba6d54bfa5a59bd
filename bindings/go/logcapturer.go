// Package logcapturer follows the logs of every Docker container through
// the Docker Engine API, with the log-capturer library (liblog_capturer)
// behind its C ABI.
//
//	c, err := logcapturer.Start(logcapturer.Config{IncludeContainers: []string{"web-"}})
//	if err != nil { … }
//	defer c.Close()
//	for {
//		records, err := c.Poll(ctx, 1024)
//		if err != nil { break } // ctx done, or ErrStopped after Stop/Close
//		…
//	}
//
// Thread safety: every method may be called from any goroutine, several at
// once. Stop wakes every Poll blocked in another goroutine (it returns
// ErrStopped); Close stops, waits for the calls in progress and frees the
// capture, after which every method returns ErrClosed (Stop and Close
// return nil). There is no finalizer: a Capture that is never closed keeps
// its engine thread and sockets.
//
// Linking: the package finds the installed library with pkg-config
// (`make install` in the repository installs liblog_capturer and its
// log_capturer.pc; set PKG_CONFIG_PATH for a prefix pkg-config does not
// search). By default it links the shared library; build with
// -tags logcapturer_static to link liblog_capturer.a into the binary
// instead (log_capturer-static.pc).
package logcapturer

/*
#include <stdlib.h>
#include <string.h>
#include "log_capturer.h"

// The Go side of the log callback (log.go); the library passes const text.
extern void logcapturerLogLine(void *, int32_t, char *);
static void logcapturer_log_trampoline(void *user_data, int32_t level, const char *line) {
	logcapturerLogLine(user_data, level, (char *)line);
}
static capture_log_callback logcapturer_log_callback(void) {
	return logcapturer_log_trampoline;
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Streams a Record may come from.
const (
	StreamStdout  = "stdout"
	StreamStderr  = "stderr"
	StreamConsole = "console" // a TTY container's merged output
)

// Record is one log line, copied out of the library's batch.
type Record struct {
	ContainerID    string
	ContainerName  string // without Docker's leading "/"
	ContainerImage string // as given when the container was created
	Stream         string // StreamStdout, StreamStderr or StreamConsole
	Timestamp      time.Time
	TimestampNs    int64 // Docker's timestamp, in ns since the Unix epoch
	// Message is the line without its newline; not necessarily UTF-8.
	Message []byte
	// Partial: one piece of a longer line (merging off), or a line whose end
	// never came. Truncated: cut at max_line_bytes.
	Partial, Truncated bool
}

// Capture is a running capture. Create it with Start; Close it when done.
type Capture struct {
	// mu is held shared by every call into the library and exclusively by
	// Close while it takes the handle away, so the library's handle is never
	// freed under a call and no call starts on a freed handle.
	mu     sync.RWMutex
	handle *C.capture_handle

	logOnce sync.Once
	log     *logSink
}

// startMu serializes capture_start: its error message is process-global.
var startMu sync.Mutex

// Version is the library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.capture_version()) }

// Start starts a capture. The Docker daemon need not be up: the capture
// retries by itself. A refused configuration is a *ConfigError naming the
// key. With cfg.LogFunc, every library log line goes to it, the first
// included (the callback is in place before the capture starts).
func Start(cfg Config) (*Capture, error) {
	doc, err := json.Marshal(cfg)
	if err != nil {
		return nil, &ConfigError{Message: err.Error()}
	}
	return start(string(doc), cfg.LogFunc)
}

// StartJSON starts a capture with a configuration document as the library
// reads it ("{}" for every default).
func StartJSON(config string) (*Capture, error) {
	return start(config, nil)
}

func start(config string, logFunc LogFunc) (*Capture, error) {
	if strings.IndexByte(config, 0) >= 0 {
		return nil, &ConfigError{Message: "the document holds a NUL byte"}
	}
	text := C.CString(config)
	defer C.free(unsafe.Pointer(text))

	c := &Capture{}
	callback, userData := C.capture_log_callback(nil), unsafe.Pointer(nil)
	if logFunc != nil {
		sink := c.logSink()
		sink.fn.Store(&logFunc)
		callback, userData = C.logcapturer_log_callback(), sink.userData
	}
	startMu.Lock()
	defer startMu.Unlock()
	var handle *C.capture_handle
	code := Code(C.capture_start_with_log(text, callback, userData, &handle))
	if code != CodeOK {
		message := lastError(nil)
		if c.log != nil {
			c.log.release()
		}
		if code == CodeInvalidConfig || code == CodeInvalidArgument {
			return nil, newConfigError(message)
		}
		return nil, &Error{Op: "start", Code: code, Message: message}
	}
	c.handle = handle
	return c, nil
}

// lastError reads capture_last_error of handle (nil: of the last failed start).
func lastError(handle *C.capture_handle) string {
	buf := make([]byte, 512)
	for {
		n := int(C.capture_last_error(handle, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, n+1)
	}
}

// call runs f with the library's handle while holding c.mu shared; it
// returns ErrClosed when c is nil, never started or closed.
func (c *Capture) call(f func(handle *C.capture_handle) error) error {
	if c == nil {
		return ErrClosed
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.handle == nil {
		return ErrClosed
	}
	return f(c.handle)
}

// fail turns a result code into an error with the handle's message.
func fail(op string, handle *C.capture_handle, code C.enum_capture_result) error {
	if Code(code) == CodeStopped {
		return &Error{Op: op, Code: CodeStopped, Message: "the capture is stopped"}
	}
	return &Error{Op: op, Code: Code(code), Message: lastError(handle)}
}

// pollWaitMax bounds one wait inside the library when ctx has no nearer
// deadline (the C call takes a 32-bit count of milliseconds).
const pollWaitMax = time.Hour

// Poll returns up to max records, waiting until at least one is there, ctx
// is done (it returns ctx.Err()) or the capture is stopped (ErrStopped,
// ErrClosed after Close). When ctx ends, the wait inside the library is
// woken (capture_wake), so Poll returns at once; other Polls blocked on the
// same Capture wake too and go back to waiting. Use context.WithTimeout for
// a bounded wait. A nil ctx is an error (ErrInvalidArgument).
func (c *Capture) Poll(ctx context.Context, max int) ([]Record, error) {
	if ctx == nil {
		return nil, &Error{Op: "poll", Code: CodeInvalidArgument, Message: "nil context (use context.Background())"}
	}
	if max < 1 {
		return nil, &Error{Op: "poll", Code: CodeInvalidArgument, Message: "max must be at least 1"}
	}
	if ctx.Done() != nil {
		returned := make(chan struct{})
		defer close(returned)
		go c.wakeWhenDone(ctx, returned)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait := pollWaitMax
		if deadline, ok := ctx.Deadline(); ok {
			if left := time.Until(deadline); left < wait {
				wait = left
			}
		}
		records, err := c.poll(max, wait)
		if err != nil || len(records) > 0 {
			return records, err
		}
	}
}

// wakeWhenDone wakes the library's blocked polls once ctx is done, and
// again (1, 2, 4… 64 ms apart) until Poll has returned: a wake that lands
// just before capture_poll starts waiting is not seen by that wait.
func (c *Capture) wakeWhenDone(ctx context.Context, returned <-chan struct{}) {
	select {
	case <-returned:
		return
	case <-ctx.Done():
	}
	retry := time.NewTimer(time.Millisecond)
	defer retry.Stop()
	for pause := time.Millisecond; ; {
		_ = c.call(func(handle *C.capture_handle) error {
			C.capture_wake(handle)
			return nil
		})
		select {
		case <-returned:
			return
		case <-retry.C:
		}
		if pause < 64*time.Millisecond {
			pause *= 2
		}
		retry.Reset(pause)
	}
}

// poll is one capture_poll of at most wait (rounded up to a millisecond).
func (c *Capture) poll(max int, wait time.Duration) ([]Record, error) {
	if wait < time.Millisecond {
		// A deadline just passed whose ctx.Done has not fired yet.
		wait = time.Millisecond
	}
	timeoutMs := C.uint32_t((wait + time.Millisecond - 1) / time.Millisecond)
	var records []Record
	err := c.call(func(handle *C.capture_handle) error {
		var batch *C.capture_batch
		code := C.capture_poll(handle, C.size_t(max), timeoutMs, &batch)
		if code != C.CAPTURE_OK {
			return fail("poll", handle, code)
		}
		records = copyBatch(batch)
		C.capture_batch_free(batch)
		return nil
	})
	return records, err
}

// copyBatch copies a batch into Go memory: the messages into one buffer,
// the container strings once per run of records from the same container.
func copyBatch(batch *C.capture_batch) []Record {
	if batch.len == 0 {
		return nil
	}
	views := unsafe.Slice(batch.records, int(batch.len))
	messages := make([]byte, 0, int(batch.message_bytes))
	records := make([]Record, len(views))
	var lastID *C.char
	for i := range views {
		view := &views[i]
		record := &records[i]
		if i > 0 && view.container_id == lastID {
			prev := &records[i-1]
			record.ContainerID, record.ContainerName, record.ContainerImage = prev.ContainerID, prev.ContainerName, prev.ContainerImage
		} else {
			record.ContainerID = C.GoString(view.container_id)
			record.ContainerName = C.GoString(view.container_name)
			record.ContainerImage = C.GoString(view.container_image)
			lastID = view.container_id
		}
		start := len(messages)
		if view.message_len > 0 {
			messages = append(messages, unsafe.Slice((*byte)(unsafe.Pointer(view.message)), int(view.message_len))...)
		}
		// The full slice expression keeps an append to one message from
		// writing over the next.
		record.Message = messages[start:len(messages):len(messages)]
		record.TimestampNs = int64(view.timestamp_ns)
		record.Timestamp = time.Unix(0, record.TimestampNs)
		record.Stream = streamName(uint32(view.stream))
		record.Partial = view.flags&C.CAPTURE_FLAG_PARTIAL != 0
		record.Truncated = view.flags&C.CAPTURE_FLAG_TRUNCATED != 0
	}
	return records
}

func streamName(stream uint32) string {
	switch stream {
	case C.CAPTURE_STREAM_STDOUT:
		return StreamStdout
	case C.CAPTURE_STREAM_STDERR:
		return StreamStderr
	case C.CAPTURE_STREAM_CONSOLE:
		return StreamConsole
	}
	return "unknown"
}

// takeString copies a library string and frees it.
func takeString(s *C.char) []byte {
	defer C.capture_string_free(s)
	return C.GoBytes(unsafe.Pointer(s), C.int(C.strlen(s)))
}

// StatsJSON returns the statistics document as the library writes it. It
// works after Stop too (the last figures), not after Close.
func (c *Capture) StatsJSON() ([]byte, error) {
	var doc []byte
	err := c.call(func(handle *C.capture_handle) error {
		var text *C.char
		if code := C.capture_stats(handle, &text); code != C.CAPTURE_OK {
			return fail("stats", handle, code)
		}
		doc = takeString(text)
		return nil
	})
	return doc, err
}

// Stats returns the capture's statistics: per container its rotations,
// reopens and errors; engine-wide tasks, open FDs and queue depth.
func (c *Capture) Stats() (Stats, error) {
	var stats Stats
	doc, err := c.StatsJSON()
	if err == nil {
		err = json.Unmarshal(doc, &stats)
	}
	return stats, err
}

// ContainerInfo returns a followed container's identity, by full id, id
// prefix (12 characters or more) or name. ErrNotFound when unknown.
func (c *Capture) ContainerInfo(idOrName string) (ContainerInfo, error) {
	var info ContainerInfo
	if strings.IndexByte(idOrName, 0) >= 0 {
		return info, &Error{Op: "container info", Code: CodeInvalidArgument, Message: "the name holds a NUL byte"}
	}
	key := C.CString(idOrName)
	defer C.free(unsafe.Pointer(key))
	err := c.call(func(handle *C.capture_handle) error {
		var text *C.char
		if code := C.capture_container_info(handle, key, &text); code != C.CAPTURE_OK {
			return fail("container info", handle, code)
		}
		return json.Unmarshal(takeString(text), &info)
	})
	return info, err
}

// Stop stops the capture: every blocked Poll returns ErrStopped, every
// stream is closed and the engine's thread joined, within 5 seconds.
// Records not yet polled are dropped (the daemon still has them). Safe to
// call any number of times, from any goroutine; nil once stopped or closed.
func (c *Capture) Stop() error {
	err := c.call(func(handle *C.capture_handle) error {
		if code := C.capture_stop(handle); code != C.CAPTURE_OK {
			return fail("stop", handle, code)
		}
		return nil
	})
	if err == ErrClosed {
		return nil
	}
	return err
}

// Close stops the capture, waits for the calls in progress in other
// goroutines (a blocked Poll is woken) and frees it. Later calls return
// ErrClosed; Close again returns nil. The error is Stop's.
func (c *Capture) Close() error {
	if c == nil {
		return nil
	}
	err := c.Stop()
	c.mu.Lock()
	handle := c.handle
	c.handle = nil
	c.mu.Unlock()
	if handle != nil {
		C.capture_free(handle)
		if c.log != nil {
			c.log.release()
		}
	}
	return err
}

// LogLevel is the level of one of the library's log lines.
type LogLevel int

// The library's log levels.
const (
	LogError LogLevel = C.CAPTURE_LOG_ERROR
	LogWarn  LogLevel = C.CAPTURE_LOG_WARN
	LogInfo  LogLevel = C.CAPTURE_LOG_INFO
	LogDebug LogLevel = C.CAPTURE_LOG_DEBUG
)

func (l LogLevel) String() string {
	switch l {
	case LogError:
		return "error"
	case LogWarn:
		return "warn"
	case LogInfo:
		return "info"
	case LogDebug:
		return "debug"
	}
	return "unknown"
}

// LogFunc receives one of the library's log lines (a sentence, then
// key=value fields). It is called from the library's thread as well as from
// goroutines calling into it: it must be safe for concurrent use, return
// quickly and not call the Capture's methods.
type LogFunc func(level LogLevel, line string)

// logSink is what the library's callback reaches through its user data: a
// C word holding a cgo.Handle to the sink (a Go pointer may not be kept by C).
type logSink struct {
	fn       atomic.Pointer[LogFunc]
	handle   cgo.Handle
	userData unsafe.Pointer
}

// logSink returns the capture's sink, made on first use. It lives until
// Close: the library may still call it for a while after the callback is
// replaced.
func (c *Capture) logSink() *logSink {
	c.logOnce.Do(func() {
		sink := &logSink{}
		sink.handle = cgo.NewHandle(sink)
		sink.userData = C.malloc(C.size_t(unsafe.Sizeof(C.uintptr_t(0))))
		*(*C.uintptr_t)(sink.userData) = C.uintptr_t(sink.handle)
		c.log = sink
	})
	return c.log
}

func (s *logSink) release() {
	s.handle.Delete()
	C.free(s.userData)
}

// SetLogFunc sends the library's log lines (those at or below the
// configured log_level) to f instead of stderr; nil restores stderr.
func (c *Capture) SetLogFunc(f LogFunc) error {
	return c.call(func(handle *C.capture_handle) error {
		var code C.enum_capture_result
		if f == nil {
			code = C.capture_set_log_callback(handle, nil, nil)
		} else {
			sink := c.logSink()
			sink.fn.Store(&f)
			code = C.capture_set_log_callback(handle, C.logcapturer_log_callback(), sink.userData)
		}
		if code != C.CAPTURE_OK {
			return fail("set log callback", handle, code)
		}
		return nil
	})
}
