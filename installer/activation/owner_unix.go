//go:build !windows

package activation

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

var errBusy = syscall.EBUSY

func fileOwner(name string) (int, int, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("%s: no owner information", name)
	}
	return int(st.Uid), int(st.Gid), nil
}

// lockFile takes an exclusive flock on name, waiting up to wait while
// another process holds it (errLockBusy then).
func lockFile(name string, wait time.Duration) (func(), error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for stop := time.Now().Add(wait); ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, err
		}
		if time.Now().After(stop) {
			f.Close()
			return nil, errLockBusy(name, wait)
		}
		time.Sleep(lockPoll)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
