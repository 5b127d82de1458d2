//go:build linux || darwin || freebsd || openbsd || netbsd

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

var errAlreadyRunning = errors.New("dnspin-tray is already running for this user")

// acquireInstance takes an exclusive flock on tray.lock in dir (the user's
// cache folder). The kernel drops the lock when the process ends, however
// it ends, so a crash never leaves a stale lock.
func acquireInstance(dir string) (release func(), err error) {
	path := filepath.Join(dir, "tray.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w: check that the folder belongs to you", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errAlreadyRunning
		}
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
