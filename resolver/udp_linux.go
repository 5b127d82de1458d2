package resolver

import (
	"net"

	"golang.org/x/sys/unix"
)

// serveUDP uses recvmmsg/sendmmsg batches on Linux: one system call for up
// to 32 queries and one for their answers.
func (r *Resolver) serveUDP(uc *net.UDPConn) { r.serveUDPBatch(uc) }

// setRecvBuffer asks for a receive buffer of n bytes and returns what the
// kernel granted. SO_RCVBUFFORCE (root, CAP_NET_ADMIN: the service) passes
// net.core.rmem_max; SO_RCVBUF is clamped to it.
func setRecvBuffer(uc *net.UDPConn, n int) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n); serr != nil {
				return
			}
		}
		// Linux reports twice the size asked for (the other half is its
		// bookkeeping); halve it to compare with n.
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			got = v / 2
		}
	})
	if err != nil {
		return 0, err
	}
	return got, serr
}
