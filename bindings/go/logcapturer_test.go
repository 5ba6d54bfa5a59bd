package logcapturer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- without the daemon

func TestVersion(t *testing.T) {
	if v := Version(); !strings.Contains(v, ".") {
		t.Fatalf("Version() = %q", v)
	}
	if s := CodeStopped.String(); !strings.Contains(s, "stopped") {
		t.Fatalf("CodeStopped.String() = %q", s)
	}
	if s := Code(12345).String(); s != "unknown result code" {
		t.Fatalf("Code(12345).String() = %q", s)
	}
}

func TestConfigDocument(t *testing.T) {
	cfg := Config{
		RotationInterval:  300 * time.Millisecond,
		ReadTimeout:       1500 * time.Microsecond,
		RotationJitter:    Float(0),
		AutoPartialMerge:  Bool(false),
		IncludeContainers: []string{"web-"},
		MaxLineBytes:      4096,
		Extra:             map[string]interface{}{"since": "all"},
		LogFunc:           func(LogLevel, string) {},
	}
	doc, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auto_partial_merge":false,"include_containers":["web-"],"max_line_bytes":4096,` +
		`"read_timeout":"1500000ns","rotation_interval":"300ms","rotation_jitter":0,"since":"all"}`
	if string(doc) != want {
		t.Fatalf("document\n got %s\nwant %s", doc, want)
	}
	if doc, _ := json.Marshal(Config{}); string(doc) != "{}" {
		t.Fatalf("zero Config gives %s, want {}", doc)
	}
	doc, err = json.Marshal(Config{Multiline: &Multiline{
		StartPattern: `^\S`, ConditionPattern: `^\s`, Mode: "continue_through", Timeout: 250 * time.Millisecond,
	}})
	want = `{"multiline":{"condition_pattern":"^\\s","mode":"continue_through","start_pattern":"^\\S","timeout_ms":250}}`
	if err != nil || string(doc) != want {
		t.Fatalf("multiline document\n got %s (%v)\nwant %s", doc, err, want)
	}
	if _, err := json.Marshal(Multiline{Timeout: 1500 * time.Microsecond}); err == nil {
		t.Fatal("a Timeout of 1.5ms was accepted")
	}
}

// Every field's tag must be a key the library knows, with a value it takes.
func TestEveryConfigFieldIsAccepted(t *testing.T) {
	c, err := Start(Config{
		DockerHost:                   "unix:///var/run/docker.sock",
		RotationInterval:             90 * time.Second,
		RotationJitter:               Float(0.2),
		ReadTimeout:                  20 * time.Second,
		RequestTimeout:               5 * time.Second,
		IncludeContainers:            []string{"lct-no-such-container-"},
		ExcludeContainers:            []string{"lct-no-such-container-x"},
		IncludeLabels:                []string{"log-capturer-test=1"},
		ExcludeLabels:                []string{"skip"},
		IncludeImages:                []string{"log-capturer-test/"},
		ExcludeImages:                []string{"other/"},
		Streams:                      []string{"stdout", "stderr"},
		AutoPartialMerge:             Bool(true),
		MaxLineBytes:                 64 << 10,
		QueueMaxRecords:              1000,
		QueueMaxBytes:                1 << 20,
		Since:                        time.Now().Add(-time.Hour).Format(time.RFC3339Nano),
		RetryBackoff:                 500 * time.Millisecond,
		RetryBackoffMax:              5 * time.Second,
		ReopenTail:                   100,
		LogLevel:                     "error",
		IncludeStopped:               true,
		MetricsAddr:                  "127.0.0.1:0",
		MetricsPerContainer:          Bool(false),
		CheckpointPath:               filepath.Join(t.TempDir(), "positions.json"),
		CheckpointInterval:           2 * time.Second,
		CheckpointOnCorrupt:          "reset",
		ContainerMaxRecordsPerSecond: 2.5,
		Multiline:                    &Multiline{Parser: "java", Timeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		key  string
	}{
		{"unknown key", Config{Extra: map[string]interface{}{"rotation_intreval": "5m"}}, "rotation_intreval"},
		{"negative duration", Config{RotationInterval: -5 * time.Second}, "rotation_interval"},
		{"bad stream", Config{Streams: []string{"stdin"}}, "streams"},
		{"jitter out of range", Config{RotationJitter: Float(0.9)}, "rotation_jitter"},
		{"bad log level", Config{LogLevel: "loud"}, "log_level"},
		{"small max_line_bytes", Config{MaxLineBytes: 10}, "max_line_bytes"},
		{"bad docker_host", Config{DockerHost: "ssh://somewhere"}, "docker_host"},
		{"bad since", Config{Since: "yesterday"}, "since"},
		{"wrong type", Config{Extra: map[string]interface{}{"max_line_bytes": "lots"}}, "max_line_bytes"},
		{"unknown parser", Config{Multiline: &Multiline{Parser: "ruby"}}, "multiline.parser"},
		{"bad pattern", Config{Multiline: &Multiline{StartPattern: "(", ConditionPattern: "x", Mode: "halt_with"}}, "multiline.start_pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Start(tc.cfg)
			if err == nil {
				c.Close()
				t.Fatal("Start accepted the config")
			}
			var cerr *ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T %v is not a *ConfigError", err, err)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("errors.Is(%v, ErrInvalidConfig) is false", err)
			}
			if cerr.Key != tc.key || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %q (key %q) does not name %q", err, cerr.Key, tc.key)
			}
		})
	}
}

func TestStartJSONRefusesBadDocuments(t *testing.T) {
	for _, doc := range []string{"", "not json", "[1]", `{"a":`, "{}\x00", "{\"since\": \"\xff\"}"} {
		c, err := StartJSON(doc)
		if err == nil {
			c.Close()
			t.Fatalf("StartJSON(%q) succeeded", doc)
		}
		var cerr *ConfigError
		if !errors.As(err, &cerr) || cerr.Message == "" {
			t.Fatalf("StartJSON(%q): %T %v, want a *ConfigError with a message", doc, err, err)
		}
	}
	// A failed Go-side encoding is a ConfigError too.
	if _, err := Start(Config{Extra: map[string]interface{}{"x": make(chan int)}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start with an unencodable Extra: %v", err)
	}
}

// A capture that reads nothing (no container has this name) and does not
// need the daemon for what the test checks.
func startIdle(t *testing.T) *Capture {
	t.Helper()
	c, err := Start(Config{IncludeContainers: []string{"lct-no-such-container-"}, LogLevel: "off"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNilAndMisuse(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]*Capture{"nil": nil, "zero": {}} {
		if _, err := c.Poll(ctx, 10); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrStopped) {
			t.Fatalf("%s: Poll: %v, want ErrClosed (and ErrStopped)", name, err)
		}
		if _, err := c.Stats(); !errors.Is(err, ErrClosed) {
			t.Fatalf("%s: Stats: %v", name, err)
		}
		if _, err := c.ContainerInfo("x"); !errors.Is(err, ErrClosed) {
			t.Fatalf("%s: ContainerInfo: %v", name, err)
		}
		if err := c.SetLogFunc(func(LogLevel, string) {}); !errors.Is(err, ErrClosed) {
			t.Fatalf("%s: SetLogFunc: %v", name, err)
		}
		if err := c.Stop(); err != nil {
			t.Fatalf("%s: Stop: %v", name, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("%s: Close: %v", name, err)
		}
	}

	c := startIdle(t)
	for _, max := range []int{0, -1} {
		_, err := c.Poll(ctx, max)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Poll(max=%d): %v, want an *Error matching ErrInvalidArgument", max, err)
		}
	}
	// A nil context is the misuse under test.
	if _, err := c.Poll(nil, 10); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "nil context") {
		t.Fatalf("Poll(nil ctx): %v, want an error naming the nil context", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := c.Poll(ctx, 1<<40); err != context.DeadlineExceeded {
		t.Fatalf("Poll(max=1<<40): %v", err)
	}
	cancel()
	_, err := c.ContainerInfo("lct-no-such-container-x")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrNotFound) || !strings.Contains(e.Message, "lct-no-such-container-x") {
		t.Fatalf("ContainerInfo(unknown): %v", err)
	}
	if _, err := c.ContainerInfo("a\x00b"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ContainerInfo with a NUL: %v", err)
	}
	if err := c.SetLogFunc(nil); err != nil {
		t.Fatalf("SetLogFunc(nil): %v", err)
	}
}

func TestPollReturnsPromptlyWhenContextEnds(t *testing.T) {
	c := startIdle(t)
	// An already cancelled context returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Poll(ctx, 10); err != context.Canceled {
		t.Fatalf("Poll(cancelled ctx): %v", err)
	}

	// A deadline ends the wait at the deadline.
	begin := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	if _, err := c.Poll(ctx, 10); err != context.DeadlineExceeded {
		t.Fatalf("Poll(deadline): %v", err)
	}
	if took := time.Since(begin); took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Poll with a 250 ms deadline took %v", took)
	}

	// A cancellation from another goroutine wakes a blocked Poll
	// (capture_wake), whose own wait would last an hour.
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		var cancelledAt time.Time
		var mu sync.Mutex
		timer := time.AfterFunc(150*time.Millisecond, func() {
			mu.Lock()
			cancelledAt = time.Now()
			mu.Unlock()
			cancel()
		})
		_, err := c.Poll(ctx, 10)
		returned := time.Now()
		timer.Stop()
		cancel()
		if err != context.Canceled {
			t.Fatalf("Poll: %v, want context.Canceled", err)
		}
		mu.Lock()
		late := returned.Sub(cancelledAt)
		mu.Unlock()
		if late > time.Second {
			t.Fatalf("Poll returned %v after its context was cancelled", late)
		}
	}
}

func TestStopWakesBlockedPolls(t *testing.T) {
	c := startIdle(t)
	const pollers = 4
	results := make(chan error, pollers)
	var started sync.WaitGroup
	started.Add(pollers)
	for i := 0; i < pollers; i++ {
		go func() {
			started.Done()
			_, err := c.Poll(context.Background(), 10)
			results <- err
		}()
	}
	started.Wait()
	blockedIn(t, "capture_poll", pollers)
	stopAt := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for i := 0; i < pollers; i++ {
		select {
		case err := <-results:
			if !errors.Is(err, ErrStopped) || errors.Is(err, ErrClosed) {
				t.Fatalf("Poll after Stop: %v, want ErrStopped", err)
			}
		case <-time.After(6 * time.Second):
			t.Fatal("a blocked Poll did not return after Stop")
		}
	}
	if took := time.Since(stopAt); took > 5*time.Second {
		t.Fatalf("Stop and the wake-ups took %v", took)
	}
}

func TestStopTwiceThenCallsAfterStopAndClose(t *testing.T) {
	c := startIdle(t)
	// Concurrent Stops.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Stop(); err != nil {
				t.Errorf("Stop: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop again: %v", err)
	}
	_, err := c.Poll(context.Background(), 10)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeStopped || !errors.Is(err, ErrStopped) {
		t.Fatalf("Poll after Stop: %v", err)
	}
	stats, err := c.Stats()
	if err != nil || stats.Version != Version() {
		t.Fatalf("Stats after Stop: %+v, %v", stats, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop after Close: %v", err)
	}
	if _, err := c.Poll(context.Background(), 10); err != ErrClosed {
		t.Fatalf("Poll after Close: %v", err)
	}
	if _, err := c.Stats(); err != ErrClosed {
		t.Fatalf("Stats after Close: %v", err)
	}
}

func TestCloseWhileOthersCallIn(t *testing.T) {
	for round := 0; round < 5; round++ {
		c, err := Start(Config{IncludeContainers: []string{"lct-no-such-container-"}, LogLevel: "off"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for {
					var err error
					switch i % 3 {
					case 0:
						_, err = c.Poll(context.Background(), 10)
					case 1:
						_, err = c.Stats()
					default:
						err = c.Stop()
						if err == nil {
							_, err = c.Poll(context.Background(), 1)
						}
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil && !errors.Is(err, ErrStopped) {
						t.Errorf("call %d: %v", i, err)
						return
					}
				}
			}(i)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("callers did not end after Close")
		}
	}
}

// Sequential (no t.Parallel): it counts the process's goroutines and FDs.
func TestStartCloseManyTimesLeavesNothing(t *testing.T) {
	run := func() {
		c, err := Start(Config{IncludeContainers: []string{"lct-no-such-container-"}, LogLevel: "off"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Stats(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, _ = c.Poll(ctx, 10)
		cancel()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run() // warm up: the Go runtime's own threads, cgo, the library's statics
	goroutines := runtime.NumGoroutine()
	fds := openFDs(t)
	for i := 0; i < 20; i++ {
		run()
	}
	settledGoroutines(t, goroutines, 5*time.Second)
	eventually(t, 5*time.Second, "the FD count to come back", func() bool { return openFDs(t) <= fds })
}

// ---- against real containers

func TestReadsSequenceExactlyOnceInOrder(t *testing.T) {
	t.Parallel()
	c := newContainers(t, "seq")
	capture := startFor(t, c, Config{})
	id := c.run("seq", "seq 1 1000")
	name := c.prefix + "seq"
	k := &collector{t: t, capture: capture}
	k.until(60*time.Second, "1000 lines", func() bool { return len(k.of(name, StreamStdout)) >= 1000 })
	// Nothing more may come after the end.
	k.until(30*time.Second, "the container to be drained", func() bool { return containerState(t, capture, name) == "drained" })
	k.drain()

	records := k.of(name, StreamStdout)
	checkSequence(t, records, 1000, name)
	if len(k.records) != 1000 {
		t.Fatalf("%d records in all, want 1000", len(k.records))
	}
	var last int64
	for _, r := range records {
		if r.ContainerID != id || r.ContainerImage != testImage || r.Partial || r.Truncated {
			t.Fatalf("record %+v: want id %s, image %s, no flags", r, id, testImage)
		}
		if r.Timestamp.UnixNano() != r.TimestampNs || r.TimestampNs < last {
			t.Fatalf("record %+v: timestamp out of order or not matching TimestampNs", r)
		}
		last = r.TimestampNs
	}
	if age := time.Since(records[0].Timestamp); age < 0 || age > 5*time.Minute {
		t.Fatalf("first record's timestamp %v is not recent", records[0].Timestamp)
	}

	stats, err := capture.Stats()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := stats.Container(name)
	if !ok || s.ID != id || s.Records != 1000 || s.Image != testImage || s.LastTimestamp.UnixNano() != last {
		t.Fatalf("stats of %s: %+v (found %v)", name, s, ok)
	}
	info, err := capture.ContainerInfo(id[:12])
	if err != nil || info.ID != id || info.Name != name || info.Labels["log-capturer-test"] != "1" || info.TTY {
		t.Fatalf("ContainerInfo: %+v, %v", info, err)
	}
}

func TestStreamsAndFlags(t *testing.T) {
	t.Parallel()
	c := newContainers(t, "flags")
	capture := startFor(t, c, Config{MaxLineBytes: 1024})
	// A second capture, without merging, for the split container only.
	split := c.prefix + "split"
	unmerged, err := Start(Config{IncludeContainers: []string{split}, AutoPartialMerge: Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	defer unmerged.Close()
	waitSubscribed(t, unmerged)
	c.run("out", `echo to-out; echo to-err >&2; head -c 3000 /dev/zero | tr '\0' x; echo; printf 'no-newline'`)
	c.run("tty", "echo on-console", "-t")
	c.run("split", `head -c 20000 /dev/zero | tr '\0' y; echo`)
	out, tty := c.prefix+"out", c.prefix+"tty"
	k := &collector{t: t, capture: capture}
	k.until(60*time.Second, "the containers drained", func() bool {
		return containerState(t, capture, out) == "drained" && containerState(t, capture, tty) == "drained"
	})
	k.drain()
	stdout := k.of(out, StreamStdout)
	if len(stdout) != 3 || string(stdout[0].Message) != "to-out" {
		t.Fatalf("stdout records: %+v", stdout)
	}
	if long := stdout[1]; !long.Truncated || long.Partial || !bytes.Equal(long.Message, bytes.Repeat([]byte("x"), 1024)) {
		t.Fatalf("long line: truncated=%v partial=%v len=%d", long.Truncated, long.Partial, len(long.Message))
	}
	// A short last line without its newline is delivered whole.
	if last := stdout[2]; string(last.Message) != "no-newline" || last.Partial || last.Truncated {
		t.Fatalf("line without newline: %q partial=%v", last.Message, last.Partial)
	}
	if stderr := k.of(out, StreamStderr); len(stderr) != 1 || string(stderr[0].Message) != "to-err" {
		t.Fatalf("stderr records: %+v", stderr)
	}
	console := k.of(tty, StreamConsole)
	if len(console) != 1 || strings.TrimRight(string(console[0].Message), "\r") != "on-console" {
		t.Fatalf("console records: %+v", console)
	}
	// Appending to one message must not write over the next.
	_ = append(stdout[0].Message, "!!!"...)
	if string(stdout[1].Message[:3]) != "xxx" {
		t.Fatal("an append to one message changed the next")
	}

	// Without merging, Docker's 16 KiB pieces come as they are: the first
	// flagged partial.
	ku := &collector{t: t, capture: unmerged}
	ku.until(60*time.Second, "the split line", func() bool { return len(ku.of(split, StreamStdout)) >= 2 })
	pieces := ku.of(split, StreamStdout)
	if len(pieces) != 2 || !pieces[0].Partial || len(pieces[0].Message) != 16384 || pieces[1].Partial || len(pieces[1].Message) != 20000-16384 {
		t.Fatalf("pieces: %d, first partial=%v len=%d", len(pieces), pieces[0].Partial, len(pieces[0].Message))
	}
}

func TestStatsShowRotationsGrowing(t *testing.T) {
	t.Parallel()
	c := newContainers(t, "rot")
	capture := startFor(t, c, Config{RotationInterval: 300 * time.Millisecond})
	name := c.prefix + "ticker"
	c.run("ticker", "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo $i; sleep 0.05; done")
	k := &collector{t: t, capture: capture}
	rotations := func() ContainerStats {
		stats, err := capture.Stats()
		if err != nil {
			t.Fatal(err)
		}
		s, _ := stats.Container(name)
		return s
	}
	k.until(30*time.Second, "3 rotations", func() bool { return rotations().Rotations >= 3 })
	first := rotations()
	k.until(30*time.Second, "more rotations", func() bool { return rotations().Rotations >= first.Rotations+3 })
	s := rotations()
	if s.Reopens.Rotation < 3 || s.LastRotation.IsZero() || time.Since(s.LastRotation) > 30*time.Second {
		t.Fatalf("stats: %+v", s)
	}
	if s.State != "following" || s.Position == nil || s.Position.Stdout.TS.IsZero() {
		t.Fatalf("stats: state %q, position %+v", s.State, s.Position)
	}
	stats, err := capture.Stats()
	if err != nil || stats.Tasks < 1 || stats.FileDescriptorsOpen == 0 || !stats.Daemon.Reachable {
		t.Fatalf("engine stats: %+v, %v", stats, err)
	}
	// Whatever was read so far is the sequence from its start, exactly once.
	records := k.of(name, StreamStdout)
	checkSequence(t, records, len(records), name)
}

func TestLogFuncReceivesTheLibrarysLines(t *testing.T) {
	t.Parallel()
	c := newContainers(t, "log")
	var mu sync.Mutex
	var lines []string
	capture := startFor(t, c, Config{LogLevel: "info", LogFunc: func(level LogLevel, line string) {
		mu.Lock()
		lines = append(lines, level.String()+" "+line)
		mu.Unlock()
	}})
	c.run("hello", "echo hello")
	name := c.prefix + "hello"
	k := &collector{t: t, capture: capture}
	k.until(30*time.Second, "a log line naming the container", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, name) {
				return true
			}
		}
		return false
	})
	if err := capture.SetLogFunc(nil); err != nil {
		t.Fatal(err)
	}
}

// A line the library logs while Start runs reaches LogFunc, not stderr:
// Start installs it with capture_start_with_log. A corrupt position file
// with checkpoint_on_corrupt=reset is warned about inside capture_start.
func TestLogFuncGetsLinesLoggedDuringStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "positions.json")
	if err := os.WriteFile(path, []byte("not a position file"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	c, err := Start(Config{
		IncludeContainers:   []string{"lct-no-such-container-"},
		CheckpointPath:      path,
		CheckpointOnCorrupt: "reset",
		LogFunc: func(level LogLevel, line string) {
			mu.Lock()
			lines = append(lines, level.String()+" "+line)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer c.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, line := range lines {
		if strings.HasPrefix(line, "warn Position file could not be read") {
			return
		}
	}
	t.Fatalf("LogFunc got %q, want the warning about the corrupt position file logged during Start", lines)
}
