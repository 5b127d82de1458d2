//go:build !linux

package resolver

import (
	"net"
	"syscall"
)

// serveUDP reads one packet per system call where batches are not
// available.
// batchIO: batched system calls (recvmmsg, sendmmsg) for upstream sockets
// and answers too.
const batchIO = false

func (r *Resolver) serveUDP(uc *net.UDPConn) { r.serveUDPPlain(uc) }

// setRecvBuffer asks for a receive buffer of n bytes. What the kernel
// granted is not read back here (0: unknown).
func setRecvBuffer(uc *net.UDPConn, n int) (int, error) {
	return 0, uc.SetReadBuffer(n)
}

// deepQueue is never true here: only the Linux reader reads in batches.
func deepQueue(syscall.RawConn) bool { return false }
