package logcapturer

import "time"

// Stats is the capture's statistics document (capture_stats), decoded.
// Values the library reports as null (nothing yet) are zero here.
type Stats struct {
	Version             string  `json:"version"`
	DockerHost          string  `json:"docker_host"`
	UptimeSeconds       float64 `json:"uptime_seconds"`
	Tasks               int64   `json:"tasks"`
	FileDescriptorsOpen uint64  `json:"file_descriptors_open"`
	// Records and message bytes delivered since the start.
	Records    uint64           `json:"records"`
	Bytes      uint64           `json:"bytes"`
	Queue      QueueStats       `json:"queue"`
	Daemon     DaemonStats      `json:"daemon"`
	Containers []ContainerStats `json:"containers"`
}

// QueueStats is the queue between the readers and Poll.
type QueueStats struct {
	Records    uint64 `json:"records"`
	Bytes      uint64 `json:"bytes"`
	MaxRecords uint64 `json:"max_records"`
	MaxBytes   uint64 `json:"max_bytes"`
	// Containers with records waiting (each holds at most its share).
	Containers          uint64  `json:"containers"`
	BackpressureSeconds float64 `json:"backpressure_seconds"`
}

// DaemonStats is the capture's view of the Docker daemon.
type DaemonStats struct {
	Reachable           bool   `json:"reachable"`
	Errors              uint64 `json:"errors"`
	LastError           string `json:"last_error"`
	EventStreamConnects uint64 `json:"event_stream_connects"`
	Listings            uint64 `json:"listings"`
}

// ContainerStats is one followed container.
type ContainerStats struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Image string `json:"image"`
	// starting, following, backoff, backpressure, rate_limited,
	// catching_up, polling, drained, unreadable or excluded.
	State string `json:"state"`
	// Scheduled reopenings of a healthy stream.
	Rotations    uint64    `json:"rotations"`
	LastRotation time.Time `json:"last_rotation"`
	// How long the current stream has been open (0: none is open).
	StreamAgeSeconds float64 `json:"stream_age_seconds"`
	Reopens          Reopens `json:"reopens"`
	// Error counts by kind (e.g. "read_timeout").
	Errors        map[string]uint64 `json:"errors"`
	LastError     string            `json:"last_error"`
	Records       uint64            `json:"records"`
	Bytes         uint64            `json:"bytes"`
	Requests      uint64            `json:"requests"`
	LastTimestamp time.Time         `json:"last_timestamp"`
	LagSeconds    float64           `json:"lag_seconds"`
	// The resume position per stream (nil until the first record).
	Position *Position `json:"position"`
	// Lines read and held in open multiline events (not delivered yet).
	HeldLines uint64 `json:"held_lines"`
	// Places where the daemon had deleted lines before they were read.
	Gaps Gaps `json:"gaps"`
	// How long its reader was paused (not reading; the daemon kept the log).
	PausedSeconds PausedSeconds `json:"paused_seconds"`
}

// PausedSeconds is a reader's time paused, by reason (counted as each pause
// ends).
type PausedSeconds struct {
	// Waiting for room: the queue, or the container's share of it, was full.
	Backpressure float64 `json:"backpressure"`
	// Over container_max_records_per_second.
	RateLimit float64 `json:"rate_limit"`
}

// Gaps counts where a container's log had been rotated away past the
// reader's position: lines stamped between After and Before that were not
// read yet may be lost.
type Gaps struct {
	Count   uint64   `json:"count"`
	Seconds float64  `json:"seconds"`
	Last    *GapSpan `json:"last"`
}

// GapSpan is one gap: the newest line read that the log no longer held, and
// the first line it still held.
type GapSpan struct {
	After  time.Time `json:"after"`
	Before time.Time `json:"before"`
}

// Reopens counts why streams were closed and opened again.
type Reopens struct {
	Rotation  uint64 `json:"rotation"`
	Idle      uint64 `json:"idle"`
	StreamEnd uint64 `json:"stream_end"`
	Error     uint64 `json:"error"`
	Widen     uint64 `json:"widen"`
	// Non-follow reads of a busy rotating log (polled, not followed).
	Poll uint64 `json:"poll"`
}

// Position is where each stream resumes.
type Position struct {
	Stdout  Mark `json:"stdout"`
	Stderr  Mark `json:"stderr"`
	Console Mark `json:"console"`
}

// Mark is the last delivered timestamp of a stream and how many lines
// carried it.
type Mark struct {
	TS    time.Time `json:"ts"`
	Count uint64    `json:"count"`
}

// Container returns the stats of the container with this name or id.
func (s Stats) Container(nameOrID string) (ContainerStats, bool) {
	for _, c := range s.Containers {
		if c.Name == nameOrID || c.ID == nameOrID {
			return c, true
		}
	}
	return ContainerStats{}, false
}

// ContainerInfo is a followed container's identity (capture_container_info).
type ContainerInfo struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Image     string            `json:"image"`
	Labels    map[string]string `json:"labels"`
	Created   time.Time         `json:"created"`
	TTY       bool              `json:"tty"`
	LogDriver string            `json:"log_driver"`
}
