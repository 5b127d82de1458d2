package resolver

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// serveUDP uses recvmmsg/sendmmsg batches on Linux: one system call for up
// to 32 queries and one for their answers.
// batchIO: batched system calls (recvmmsg, sendmmsg) for upstream sockets
// and answers too.
const batchIO = true

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

// deepQueue tells whether the socket's receive queue is more than an
// eighth full: SO_MEMINFO gives the memory queued (packets with their kernel
// bookkeeping) and the buffer it may fill.
func deepQueue(rc syscall.RawConn) bool {
	var mi [unix.SK_MEMINFO_VARS]uint32
	var errno syscall.Errno
	err := rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(mi))
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mi)), uintptr(unsafe.Pointer(&l)), 0)
	})
	if err != nil || errno != 0 {
		return false
	}
	return uint64(mi[unix.SK_MEMINFO_RMEM_ALLOC])*8 > uint64(mi[unix.SK_MEMINFO_RCVBUF])
}
