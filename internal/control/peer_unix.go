//go:build linux || darwin

package control

import (
	"fmt"
	"net"
)

// peerSockopt runs read on the file descriptor of a Unix socket
// connection, where the kernel keeps what it recorded about the peer at
// connect time; Linux and macOS differ only in which options read says.
func peerSockopt(c net.Conn, read func(fd int) error) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("peer credentials need a Unix socket, got %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	if err := raw.Control(func(fd uintptr) { rerr = read(int(fd)) }); err != nil {
		return err
	}
	return rerr
}
