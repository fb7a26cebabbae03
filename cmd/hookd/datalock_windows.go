package main

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLock locks a byte of f far past its end without waiting; errLockHeld when another holds it.
// Windows locks are mandatory on the range they cover: past the end, the pid stays readable.
func tryLock(f *os.File) error {
	ol := &windows.Overlapped{OffsetHigh: 0x7fffffff}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLockHeld
	}
	return err
}
