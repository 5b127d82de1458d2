//go:build !windows

package installer

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
