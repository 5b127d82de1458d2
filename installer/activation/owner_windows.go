package activation

import (
	"errors"
	"syscall"
	"time"
)

var errBusy = syscall.Errno(0x20) // ERROR_SHARING_VIOLATION

func fileOwner(name string) (int, int, error) {
	return 0, 0, errors.New("file owners are not tracked on Windows")
}

// lockFile opens name exclusively (no sharing), retrying while another
// process holds it, up to wait (errLockBusy then).
func lockFile(name string, wait time.Duration) (func(), error) {
	p, err := syscall.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	for stop := time.Now().Add(wait); ; {
		h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil, syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL, 0)
		if err == nil {
			return func() { syscall.CloseHandle(h) }, nil
		}
		if err != errBusy {
			return nil, err
		}
		if time.Now().After(stop) {
			return nil, errLockBusy(name, wait)
		}
		time.Sleep(lockPoll)
	}
}
