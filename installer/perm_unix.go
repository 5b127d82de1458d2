//go:build !windows

package installer

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// CheckConfigPermissions refuses a config that someone other than root could
// change: the pins in it decide where the platform's names point. The
// service calls it at start.
func CheckConfigPermissions(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	fix := fmt.Sprintf("fix it with `sudo chown root %s && sudo chmod 644 %s`, or reinstall with `sudo dnspin install --config FILE`", path, path)
	if st.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("config %s is world-writable (mode %04o), so any user could change the pinned addresses: %s", path, st.Mode().Perm(), fix)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if sys.Uid != 0 {
			return fmt.Errorf("config %s is owned by uid %d, not root, so that user could change the pinned addresses: %s", path, sys.Uid, fix)
		}
		if groupWritable(st) {
			return fmt.Errorf("config %s is writable by group %d (mode %04o), so its members could change the pinned addresses: %s", path, sys.Gid, st.Mode().Perm(), fix)
		}
	}
	dir := filepath.Dir(path)
	if dst, err := os.Stat(dir); err == nil && dst.Mode()&os.ModeSticky == 0 && (dst.Mode().Perm()&0o002 != 0 || groupWritable(dst)) {
		return fmt.Errorf("config directory %s is writable by other users than root (mode %04o), so they could replace %s: fix it with `sudo chmod 755 %s`", dir, dst.Mode().Perm(), path, dir)
	}
	return nil
}

// groupWritable reports whether a group other than root's (gid 0) may
// write fi.
func groupWritable(fi os.FileInfo) bool {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode().Perm()&0o020 != 0 && sys.Gid != 0
}
