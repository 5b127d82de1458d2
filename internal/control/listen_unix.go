//go:build !windows

package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Listen opens the control socket at address (a file path). It creates the
// directory (mode 0755) if missing, removes a stale socket left by a crash
// only when nothing answers on it, and makes the socket mode 0666 so every
// logged-in user can connect: who may do what is decided per request from
// the peer's credentials.
func Listen(address string) (net.Listener, error) {
	dir := filepath.Dir(address)
	di, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("control socket directory %s: %w (set control = a path in a writable directory)", dir, err)
		}
		// MkdirAll is subject to the umask; users must be able to enter.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, fmt.Errorf("control socket directory %s: %w", dir, err)
		}
	} else if err == nil && di.Mode().Perm()&0o002 != 0 {
		// Anyone could have put a fake service (or a file) at address first.
		return nil, fmt.Errorf("control socket directory %s is writable by every user, so another user could pose as dnspin there: set control = a path in a directory only root can write, e.g. /run/dnspin/dnspin.sock", dir)
	}
	if fi, err := os.Lstat(address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: a file that is not a socket is in the way: remove it or set control = another path", address)
		}
		c, derr := net.DialTimeout("unix", address, time.Second)
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another dnspin is already serving there: stop it first (dnspin status shows it)", address)
		}
		if !errors.Is(derr, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("control socket %s exists and cannot tell whether it is in use: %w", address, derr)
		}
		// A socket nobody listens on: left over from a crash.
		if err := os.Remove(address); err != nil {
			return nil, fmt.Errorf("control socket %s: removing the stale socket: %w", address, err)
		}
	}
	ln, err := net.Listen("unix", address)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", address, err)
	}
	if err := os.Chmod(address, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", address, err)
	}
	return ln, nil
}

// dial connects to the control socket; ErrNotRunning when nobody listens.
func dial(ctx context.Context, address string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", address)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOTDIR):
		return nil, fmt.Errorf("%w (no service at %s)", ErrNotRunning, address)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("dnspin service at %s: permission denied: the socket should be mode 0666 in a directory every user may enter (0755); reinstall dnspin or check control = in the config", address)
	}
	return nil, fmt.Errorf("dnspin service at %s: %w", address, err)
}

// AdminHint says how to run what as an administrator: the end of every
// refusal, in the service and the command line.
func AdminHint(what string) string {
	return "run " + what + " as root (sudo) or as a member of the " + AdminGroup + " group"
}

// lookupGroup returns the id of the group called name.
func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}
