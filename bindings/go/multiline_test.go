package logcapturer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The events of java.txt as line spans (from 1, inclusive), as the
// library's unit tests establish them.
var javaSpans = [][2]int{{1, 1}, {2, 18}, {19, 19}, {20, 33}, {34, 42}, {43, 51}, {52, 52}, {53, 54}}

func TestEachJavaTraceIsOneRecord(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "tests", "fixtures", "multiline", "java.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c := newContainers(t, "multiline")
	capture := startFor(t, c, Config{Since: "all", Multiline: &Multiline{Parser: "java", Timeout: 500 * time.Millisecond}})
	c.run("java", "cat >&2 <<'LCT_END'\n"+string(text)+"LCT_END\n")
	name := c.prefix + "java"
	k := &collector{t: t, capture: capture}
	k.until(30*time.Second, "the container to be drained", func() bool { return containerState(t, capture, name) == "drained" })
	k.drain()
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	got := k.of(name, StreamStderr)
	if len(got) != len(javaSpans) || len(k.records) != len(javaSpans) {
		t.Fatalf("%d records (%d of the container's stderr), want %d", len(k.records), len(got), len(javaSpans))
	}
	for i, span := range javaSpans {
		want := strings.Join(lines[span[0]-1:span[1]], "\n")
		if string(got[i].Message) != want {
			t.Fatalf("record %d:\n got %q\nwant %q", i, got[i].Message, want)
		}
	}
}
