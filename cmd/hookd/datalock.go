package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// errLockHeld is tryLock's answer when another process holds the lock.
var errLockHeld = errors.New("held by another process")

// serveLockFile is the file in the data directory that a running serve holds locked.
const serveLockFile = "serve.lock"

// dataDirLock is serve's hold on its data directory: an advisory lock (flock; LockFileEx on Windows)
// on serveLockFile, which the kernel releases when the process ends however it ends, kill -9 included. Two serves on one
// directory would both dispatch every event and deliver it twice. Other commands (license, replay,
// projections rebuild, deliveries) do not take it: they work beside a running serve.
type dataDirLock struct {
	f *os.File
}

// dataDirInUseError says another serve holds the data directory.
type dataDirInUseError struct {
	Dir string
	// PID is the holder's process id as it wrote it in the lock file; 0 when it has not yet.
	PID int
}

func (e *dataDirInUseError) Error() string {
	holder := "another hookd serve"
	if e.PID > 0 {
		holder = fmt.Sprintf("another hookd serve (pid %d)", e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by %s: stop it first, or give this one another HOOKD_DATA_DIR", e.Dir, holder)
}

// lockDataDir takes dir's serve lock without waiting, and writes this process's id into the lock
// file for the message a second serve gives.
func lockDataDir(dir string) (*dataDirLock, error) {
	path := filepath.Join(dir, serveLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if err := tryLock(f); err != nil {
		if errors.Is(err, errLockHeld) {
			holder, _ := io.ReadAll(f)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(holder)))
			return nil, errors.Join(&dataDirInUseError{Dir: dir, PID: pid}, f.Close())
		}
		return nil, errors.Join(fmt.Errorf("locking %s: %w", path, err), f.Close())
	}
	// A pid left by a serve that was killed is replaced at once; the file is emptied on release, so
	// the pid in it is the holder's but for the instant between these two calls.
	if err := f.Truncate(0); err != nil {
		return nil, errors.Join(fmt.Errorf("writing %s: %w", path, err), f.Close())
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return nil, errors.Join(fmt.Errorf("writing %s: %w", path, err), f.Close())
	}
	return &dataDirLock{f: f}, nil
}

// release empties the lock file and lets go of the lock.
func (l *dataDirLock) release() error {
	return errors.Join(l.f.Truncate(0), l.f.Close())
}
