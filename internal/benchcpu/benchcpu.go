// Package benchcpu reports the CPU time a benchmark spends per operation. On a machine whose cores
// are shared, ns/op (wall time) measures the neighbours as much as the code; the process's CPU
// time does not.
package benchcpu

import (
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
