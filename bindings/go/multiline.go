package logcapturer

import (
	"encoding/json"
	"fmt"
	"time"
)

// Multiline groups the lines of a stack trace into one record, per
// container and per stream (Config.Multiline). Give Parser ("java",
// "python" or "go"), or StartPattern, ConditionPattern and Mode (Vector's
// modes: "continue_through", "continue_past", "halt_before",
// "halt_with"); Timeout with either. A container's label
// log_capturer.multiline (java, python, go or off) overrides it for that
// container.
type Multiline struct {
	// A built-in parser: "java", "python" or "go".
	Parser string
	// A regular expression: a line matching it, with no event open on its
	// stream, opens one.
	StartPattern string
	// A regular expression read, per Mode, on each line after the first.
	ConditionPattern string
	// How ConditionPattern is read: "continue_through", "continue_past",
	// "halt_before" or "halt_with".
	Mode string
	// An event no line has ended goes out this long after its last line.
	// Whole milliseconds; default 1s.
	Timeout time.Duration
}

// MarshalJSON writes the library's "multiline" object: the fields set,
// Timeout as "timeout_ms".
func (m Multiline) MarshalJSON() ([]byte, error) {
	doc := map[string]interface{}{}
	for key, value := range map[string]string{
		"parser": m.Parser, "start_pattern": m.StartPattern, "condition_pattern": m.ConditionPattern, "mode": m.Mode,
	} {
		if value != "" {
			doc[key] = value
		}
	}
	if m.Timeout != 0 {
		if m.Timeout < 0 || m.Timeout%time.Millisecond != 0 {
			return nil, fmt.Errorf("Multiline.Timeout: %v is not a positive whole number of milliseconds", m.Timeout)
		}
		doc["timeout_ms"] = m.Timeout.Milliseconds()
	}
	return json.Marshal(doc)
}
