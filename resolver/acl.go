package resolver

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// With allow_remote, dnspin listens beyond loopback; who may ask is then
// an explicit list of networks, so one key cannot turn a desktop into an
// open resolver. Loopback is always allowed: the machine's own stub
// resolver must never be refused.

// allows reports whether the client at a may be answered. Without
// AllowRemote every listener is on loopback, and so is every client.
func (c *settings) allows(a net.Addr) bool {
	if !c.AllowRemote {
		return true
	}
	var ip netip.Addr
	switch v := a.(type) {
	case *net.UDPAddr:
		ip = v.AddrPort().Addr()
	case *net.TCPAddr:
		ip = v.AddrPort().Addr()
	default:
		return false // unknown transport: not on the list
	}
	return c.allowsAddr(ip)
}

// allowsAddr is allows for an IP address. IPv4 clients of a dual-stack
// ("[::]:53") socket arrive as ::ffff:a.b.c.d and are matched as IPv4.
func (c *settings) allowsAddr(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		return true
	}
	for _, p := range c.AllowClients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// refuse answers a UDP query from a client outside allow_clients with a
// bare REFUSED header: it costs no parsing in the reading goroutine, and
// the reply is never larger than the query, so it amplifies nothing.
func (r *Resolver) refuse(uc *net.UDPConn, pkt []byte, to netip.AddrPort) {
	if b := formerr(pkt); b != nil {
		b[3] = byte(dns.RcodeRefused)
		uc.WriteToUDPAddrPort(b, to)
		r.count(SourceLocal)
	}
}
