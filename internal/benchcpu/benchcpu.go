// Package benchcpu reports what a benchmark costs the process rather than how long it took: the
// CPU time it spends per operation and the bytes it writes. On a machine whose cores are shared,
// ns/op (wall time) measures the neighbours as much as the code; the process's own counters do not.
package benchcpu

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Start begins measuring; the function it returns, called once the benchmark's loop is done,
// reports cpu-ns/op: the process's user and system time, over b.N. Work of other goroutines of the
// process counts too (the garbage collector's, included), so a benchmark measures one thing at a
// time.
func Start(b *testing.B) (stop func()) {
	b.Helper()
	start := cpuTime(b)
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// IO is the counter field of /proc/self/io: "write_bytes" is what the process has had written to
// disk (pages it dirtied in the page cache: WAL frames and checkpoints), "wchar" all that its write
// calls passed. A benchmark is skipped where the file does not exist.
func IO(b *testing.B, field string) int64 {
	b.Helper()
	io, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	for line := range strings.Lines(string(io)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+": "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/io", field)
	return 0
}
