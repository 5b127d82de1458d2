package installer

import (
	"errors"
	"syscall"
)

var errBusy = syscall.Errno(0x20) // ERROR_SHARING_VIOLATION

func fileOwner(name string) (int, int, error) {
	return 0, 0, errors.New("file owners are not tracked on Windows")
}
