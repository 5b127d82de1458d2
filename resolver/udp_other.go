//go:build !linux

package resolver

import (
	"net"
	"syscall"
)

// serveUDP reads one packet per system call where batches are not
// available.
func (r *Resolver) serveUDP(uc *net.UDPConn) { r.serveUDPPlain(uc) }

// readDatagrams hands every datagram read from uc to handle (full: it
// filled a buffer of bufSize bytes) until reading fails.
func readDatagrams(uc *net.UDPConn, bufSize, _ int, handle func(b []byte, full bool)) error {
	return readPlain(uc, bufSize, handle)
}

// newBatchSender: none here, one system call per datagram.
func newBatchSender(*net.UDPConn, bool) batchSender { return nil }

// setRecvBuffer asks for a receive buffer of n bytes. What the kernel
// granted is not read back here (0: unknown).
func setRecvBuffer(uc *net.UDPConn, n int) (int, error) {
	return 0, uc.SetReadBuffer(n)
}

// deepQueue is never true here: only the Linux reader reads in batches.
func deepQueue(syscall.RawConn) bool { return false }
