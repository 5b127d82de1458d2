//go:build !linux

package resolver

import "net"

// serveUDP reads one packet per system call where batches are not
// available.
func (r *Resolver) serveUDP(uc *net.UDPConn) { r.serveUDPPlain(uc) }
