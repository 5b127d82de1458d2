package resolver

import "net"

// serveUDP uses recvmmsg/sendmmsg batches on Linux: one system call for up
// to 32 queries and one for their answers.
func (r *Resolver) serveUDP(uc *net.UDPConn) { r.serveUDPBatch(uc) }
