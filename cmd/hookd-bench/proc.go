package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports (the standard library has no sysconf to ask).
const clockTicks = 100

// usage is what a process has spent so far.
type usage struct {
	cpu        time.Duration
	writeBytes int64
}

// procUsage reads pid's CPU time (utime+stime of /proc/<pid>/stat) and the bytes it caused to be
// written to storage (write_bytes of /proc/<pid>/io).
func procUsage(pid int) (usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, fmt.Errorf("%w: %w", errNoProc, err)
	}
	// The command name, in parentheses, may hold spaces; the fields after it are numbered from 3.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return usage{}, fmt.Errorf("%w: short /proc/%d/stat", errNoProc, pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return usage{}, fmt.Errorf("%w: /proc/%d/stat: utime %q, stime %q", errNoProc, pid, fields[11], fields[12])
	}
	u := usage{cpu: time.Duration(utime+stime) * time.Second / clockTicks}
	u.writeBytes, err = procField(fmt.Sprintf("/proc/%d/io", pid), "write_bytes:")
	return u, err
}

// peakRSS is VmHWM of /proc/<pid>/status, in bytes: the most memory pid has held resident.
func peakRSS(pid int) (int64, error) {
	kb, err := procField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
	return kb * 1024, err
}

// procField reads the number after name in a /proc file of "name value [unit]" lines.
func procField(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoProc, err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), name); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%w: no %s in %s", errNoProc, name, path)
}

// selfCPU is the CPU time this process has spent, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// errNoProc is returned where /proc does not answer, as off Linux.
var errNoProc = errors.New("/proc does not show the process")
