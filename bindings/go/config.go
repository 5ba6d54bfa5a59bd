package logcapturer

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Config is the capture's configuration. Each field's json tag is the
// library's key (see the library's README for every key's meaning and
// default); a zero field is left out, so the library's default applies.
// Durations are sent as "…ms"/"…ns" strings; a negative one is refused by
// the library with a message naming its key.
type Config struct {
	// The daemon's address: unix:///var/run/docker.sock or tcp://host:port.
	// Default: $DOCKER_HOST, else the local socket.
	DockerHost string `json:"docker_host,omitempty"`
	// How often a healthy stream is closed and reopened. Default 5m.
	RotationInterval time.Duration `json:"rotation_interval,omitempty"`
	// The fraction (0 to 0.5) by which the rotation interval is jittered.
	// Default 0.1; nil keeps it, Float(0) turns jitter off.
	RotationJitter *float64 `json:"rotation_jitter,omitempty"`
	// A stream that delivers nothing for this long is reopened. Default 30s.
	ReadTimeout time.Duration `json:"read_timeout,omitempty"`
	// The deadline of one control request to the daemon. Default 10s.
	RequestTimeout time.Duration `json:"request_timeout,omitempty"`
	// Containers whose name or id starts with one of these are read.
	IncludeContainers []string `json:"include_containers,omitempty"`
	// Containers whose name or id starts with one of these are not read.
	ExcludeContainers []string `json:"exclude_containers,omitempty"`
	// "key=value" or "key": a container must carry every one of these.
	IncludeLabels []string `json:"include_labels,omitempty"`
	// "key=value" or "key": a container carrying any of these is not read.
	ExcludeLabels []string `json:"exclude_labels,omitempty"`
	// Containers whose image starts with one of these are read.
	IncludeImages []string `json:"include_images,omitempty"`
	// Containers whose image starts with one of these are not read.
	ExcludeImages []string `json:"exclude_images,omitempty"`
	// Which streams to read: "stdout", "stderr". Default both.
	Streams []string `json:"streams,omitempty"`
	// Merge the 16 KiB pieces Docker splits long lines into. Default on.
	AutoPartialMerge *bool `json:"auto_partial_merge,omitempty"`
	// The longest message delivered; longer lines are cut and flagged
	// Truncated. Default 1 MiB.
	MaxLineBytes uint64 `json:"max_line_bytes,omitempty"`
	// How many records may wait for Poll, shared by the containers (each
	// holds at most its share; Poll takes them in turn). Default 65536.
	QueueMaxRecords uint64 `json:"queue_max_records,omitempty"`
	// How many message bytes may wait for Poll (shared likewise). Default
	// 64 MiB.
	QueueMaxBytes uint64 `json:"queue_max_bytes,omitempty"`
	// The most records a second one container delivers; past it, its
	// reading pauses (the daemon keeps the log; a log the daemon rotates
	// and deletes can lose what it deletes meanwhile, reported as a gap).
	// 0: no limit (the default).
	ContainerMaxRecordsPerSecond float64 `json:"container_max_records_per_second,omitempty"`
	// Where reading starts for containers already running: "now" (default),
	// "all", or a time (RFC 3339, e.g. t.Format(time.RFC3339Nano)).
	Since string `json:"since,omitempty"`
	// The first wait before retrying after a daemon failure. Default 2s.
	RetryBackoff time.Duration `json:"retry_backoff_secs,omitempty"`
	// The longest wait between retries. Default 30s.
	RetryBackoffMax time.Duration `json:"retry_backoff_max_secs,omitempty"`
	// How many entries a reopen asks for at first. Default 256.
	ReopenTail uint64 `json:"reopen_tail,omitempty"`
	// The library's own log level: off, error, warn (default), info, debug.
	LogLevel string `json:"log_level,omitempty"`
	// Also read containers already stopped at start-up (a one-shot read of
	// a host). Default off.
	IncludeStopped bool `json:"include_stopped,omitempty"`
	// Serve Prometheus metrics at http://<addr>/metrics, e.g.
	// "127.0.0.1:9323". Default off.
	MetricsAddr string `json:"metrics_addr,omitempty"`
	// Per-container series (container_id, container_name labels). Default
	// on; Bool(false) keeps aggregates only.
	MetricsPerContainer *bool `json:"metrics_per_container,omitempty"`
	// The position file: a restarted capture resumes after the last record
	// Poll returned. Default none.
	CheckpointPath string `json:"checkpoint_path,omitempty"`
	// How often a changed position file is written. Default 1s.
	CheckpointInterval time.Duration `json:"checkpoint_interval,omitempty"`
	// What a corrupt position file does: "fail" (default: Start fails
	// naming the file) or "reset" (moved aside, start afresh).
	CheckpointOnCorrupt string `json:"checkpoint_on_corrupt,omitempty"`
	// Stack traces as one record each, per container and stream (see
	// Multiline). Default nil: off.
	Multiline *Multiline `json:"multiline,omitempty"`

	// Extra keys added to the document as they are (they win over the
	// fields above): for keys this struct does not know yet.
	Extra map[string]interface{} `json:"-"`
	// Receives the library's log lines instead of stderr (see SetLogFunc),
	// every one: it is in place before the capture starts.
	LogFunc LogFunc `json:"-"`
}

// Bool returns a pointer to b, for Config.AutoPartialMerge and
// Config.MetricsPerContainer.
func Bool(b bool) *bool { return &b }

// Float returns a pointer to f, for Config.RotationJitter.
func Float(f float64) *float64 { return &f }

// MarshalJSON writes the document capture_start reads: the non-zero fields
// under their keys, durations as strings, then Extra.
func (c Config) MarshalJSON() ([]byte, error) {
	doc := map[string]interface{}{}
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		field := v.Field(i)
		if key == "" || key == "-" || field.IsZero() {
			continue
		}
		if d, ok := field.Interface().(time.Duration); ok {
			doc[key] = durationText(d)
		} else {
			doc[key] = field.Interface()
		}
	}
	for key, value := range c.Extra {
		doc[key] = value
	}
	return json.Marshal(doc)
}

// durationText writes d in a unit the library parses exactly.
func durationText(d time.Duration) string {
	if d%time.Millisecond == 0 {
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return fmt.Sprintf("%dns", d)
}
