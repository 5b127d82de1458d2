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
// process holds it.
func lockFile(name string) (func(), error) {
	p, err := syscall.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil, syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL, 0)
		if err == nil {
			return func() { syscall.CloseHandle(h) }, nil
		}
		if i >= 300 {
			return nil, err
		}
		<-time.After(100 * time.Millisecond)
	}
}
