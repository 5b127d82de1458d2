//go:build !windows

package activation

import (
	"fmt"
	"os"
	"syscall"
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

// lockFile takes an exclusive flock on name, waiting for other holders.
func lockFile(name string) (func(), error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
