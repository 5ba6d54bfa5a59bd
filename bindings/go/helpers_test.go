package logcapturer

// Helpers for the tests: the real-daemon bench, containers made and removed
// by the test, and deadline loops.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testImage = "log-capturer-test/busybox:latest"

func TestMain(m *testing.M) {
	// Brings up dockerd and the test image (idempotent, locked).
	bench := exec.Command("bash", filepath.Join("..", "..", "scripts", "bench.sh"))
	bench.Stdout, bench.Stderr = os.Stderr, os.Stderr
	if err := bench.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "scripts/bench.sh failed:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

var containerSeq atomic.Int64

// containers are the containers of one test, named lct-<pid>-gotest-<n>-<test>-…
// and removed when the test ends.
type containers struct {
	t      testing.TB
	prefix string
	names  []string
}

func newContainers(t testing.TB, test string) *containers {
	c := &containers{t: t, prefix: fmt.Sprintf("lct-%d-gotest-%d-%s-", os.Getpid(), containerSeq.Add(1), test)}
	t.Cleanup(func() {
		if len(c.names) > 0 {
			_ = exec.Command("docker", append([]string{"rm", "-f"}, c.names...)...).Run()
		}
	})
	return c
}

// run starts the test image with `sh -c script`; returns the full id.
func (c *containers) run(name, script string, extra ...string) string {
	c.t.Helper()
	full := c.prefix + name
	args := []string{"run", "-d", "--network", "none", "--label", "log-capturer-test=1", "--name", full}
	args = append(args, extra...)
	args = append(args, testImage, "sh", "-c", script)
	c.names = append(c.names, full)
	return docker(c.t, args...)
}

// startFor starts a capture that reads only this test's containers.
func startFor(t testing.TB, c *containers, cfg Config) *Capture {
	t.Helper()
	cfg.IncludeContainers = []string{c.prefix}
	capture, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { capture.Close() })
	waitSubscribed(t, capture)
	return capture
}

// waitSubscribed waits until the capture has subscribed to the daemon's
// events and listed the containers: Start returns before that, and a
// container that starts and exits in between would not be seen (see the
// report on the library's start-up window).
func waitSubscribed(t testing.TB, capture *Capture) {
	t.Helper()
	eventually(t, 30*time.Second, "the capture to subscribe to events", func() bool {
		stats, err := capture.Stats()
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		return stats.Daemon.EventStreamConnects >= 1 && stats.Daemon.Listings >= 1
	})
}

// collector keeps the records of polls made while waiting for conditions.
type collector struct {
	t       testing.TB
	capture *Capture
	records []Record
}

// until polls (keeping the records) until done holds; fails after timeout.
func (k *collector) until(timeout time.Duration, what string, done func() bool) {
	k.t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			k.t.Fatalf("timed out after %v waiting for %s; %d records so far", timeout, what, len(k.records))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		records, err := k.capture.Poll(ctx, 4096)
		cancel()
		if err != nil && err != context.DeadlineExceeded {
			k.t.Fatalf("Poll: %v", err)
		}
		k.records = append(k.records, records...)
	}
}

// drain polls until a poll of 300 ms brings nothing: what a reader has
// finished with may still be queued.
func (k *collector) drain() {
	k.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		records, err := k.capture.Poll(ctx, 100000)
		cancel()
		if err == context.DeadlineExceeded {
			return
		}
		if err != nil {
			k.t.Fatalf("Poll: %v", err)
		}
		k.records = append(k.records, records...)
	}
}

// blockedIn waits until n goroutines are inside the C function fn.
func blockedIn(t testing.TB, fn string, n int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%d goroutines in %s", n, fn), func() bool {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "_Cfunc_"+fn+"(") >= n
	})
}

// of returns the records of one container and stream.
func (k *collector) of(name, stream string) []Record {
	var out []Record
	for _, r := range k.records {
		if r.ContainerName == name && r.Stream == stream {
			out = append(out, r)
		}
	}
	return out
}

// containerState is the container's reader state in the capture's stats.
func containerState(t testing.TB, capture *Capture, name string) string {
	t.Helper()
	stats, err := capture.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	s, _ := stats.Container(name)
	return s.State
}

// checkSequence checks the messages are exactly "1".."n" in order.
func checkSequence(t testing.TB, records []Record, n int, what string) {
	t.Helper()
	seen := map[string]int{}
	firstWrong := -1
	for i, r := range records {
		seen[string(r.Message)]++
		if firstWrong < 0 && string(r.Message) != strconv.Itoa(i+1) {
			firstWrong = i
		}
	}
	if len(records) == n && firstWrong < 0 {
		return
	}
	var missing, repeated []string
	for i := 1; i <= n && len(missing) < 5; i++ {
		if seen[strconv.Itoa(i)] == 0 {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	for m, count := range seen {
		if count > 1 && len(repeated) < 5 {
			repeated = append(repeated, m)
		}
	}
	t.Fatalf("%s: %d lines, want %d; missing e.g. %v; repeated e.g. %v; first out of place at %d",
		what, len(records), n, missing, repeated, firstWrong)
}

// eventually waits until cond holds; fails after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(entries)
}

// settledGoroutines waits until the goroutine count is back to at most
// want; fails with a dump after timeout.
func settledGoroutines(t testing.TB, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
