// Command tail follows the logs of Docker containers with log-capturer and
// prints each record as a JSON line (the same shape as examples/c/tail):
//
//	tail [-max-records N] [-exit-after 10s] [-stats] ['{"include_containers": ["web-"]}']
//
// It stops cleanly on SIGINT or SIGTERM, after N records, or after the
// given time. -stats prints the capture's statistics to stderr at the end.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	logcapturer "github.com/log-capturer/log-capturer/bindings/go"
)

// line is one output line.
type line struct {
	Time           string `json:"time"`
	TimestampNs    int64  `json:"timestamp_ns"`
	ContainerID    string `json:"container_id"`
	ContainerName  string `json:"container_name"`
	ContainerImage string `json:"container_image"`
	Stream         string `json:"stream"`
	// Invalid UTF-8 in a message becomes U+FFFD.
	Message   string `json:"message"`
	Partial   bool   `json:"partial"`
	Truncated bool   `json:"truncated"`
}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func main() {
	maxRecords := flag.Int("max-records", 0, "exit after this many records (0: no limit)")
	exitAfter := flag.Duration("exit-after", 0, "exit after this long (0: no limit)")
	stats := flag.Bool("stats", false, "print the capture's statistics (JSON) to stderr at the end")
	version := flag.Bool("version", false, "print the library's version and exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] [CONFIG_JSON]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if *version {
		fmt.Println(logcapturer.Version())
		return
	}
	config := "{}"
	switch flag.NArg() {
	case 0:
	case 1:
		config = flag.Arg(0)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err := run(config, *maxRecords, *exitAfter, *stats); err != nil {
		fmt.Fprintln(os.Stderr, "tail:", err)
		os.Exit(1)
	}
}

func run(config string, maxRecords int, exitAfter time.Duration, printStats bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, exitAfter)
		defer cancel()
	}

	capture, err := logcapturer.StartJSON(config)
	if err != nil {
		return err
	}
	defer capture.Close()

	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	printed := 0
	for maxRecords == 0 || printed < maxRecords {
		want := 4096
		if maxRecords > 0 && maxRecords-printed < want {
			want = maxRecords - printed
		}
		records, err := capture.Poll(ctx, want)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, logcapturer.ErrStopped) {
				break
			}
			return err
		}
		for _, r := range records {
			if err := encoder.Encode(line{
				Time:           r.Timestamp.UTC().Format(timeLayout),
				TimestampNs:    r.TimestampNs,
				ContainerID:    r.ContainerID,
				ContainerName:  r.ContainerName,
				ContainerImage: r.ContainerImage,
				Stream:         r.Stream,
				Message:        string(r.Message),
				Partial:        r.Partial,
				Truncated:      r.Truncated,
			}); err != nil {
				return err
			}
		}
		printed += len(records)
		if err := out.Flush(); err != nil {
			return err
		}
	}

	if printStats {
		doc, err := capture.StatsJSON()
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s\n", doc)
	}
	return capture.Close()
}
