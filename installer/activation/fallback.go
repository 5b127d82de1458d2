package activation

import (
	"net/netip"
	"slices"
)

// Scoped activation on Windows and macOS lists the machine's original DNS
// servers after dnspin's address, so the platform's names still resolve
// while dnspin is down (until the service manager restarts it) — the SPEC's
// "never leave a machine without DNS". What the OSes do with such a list:
//
//   - Windows (KB 2834226, "DNS client resolution timeouts",
//     learn.microsoft.com/troubleshoot/windows-server/networking/dns-client-resolution-timeouts):
//     the DNS client sends the query to the first server of the list and,
//     with no answer after 1 second, goes on to the others; an answer from a
//     server, also a Name Error, ends the walk. So the originals are asked
//     only when dnspin does not answer, never to overrule an answer of
//     dnspin's. An NRPT rule's GenericDNSServers is such a list ("; "
//     separated), the same as an interface's servers.
//   - macOS resolver(5): "Up to MAXNS (currently 3) name servers may be
//     listed, one per keyword ... the resolver library queries them in the
//     order listed: try a name server, and if the query times out, try the
//     next". The file's `port` keyword applies to every nameserver in it,
//     so when dnspin is not on port 53 the originals (on port 53) cannot be
//     listed and the file names dnspin alone. (resolver(5) also documents a
//     per-server "address.port" form; dnspin does not rely on it because it
//     is unverified whether configd honours it for /etc/resolver files.)
//
// With dnspin stopped its loopback port is closed, so the query to it is
// refused (ICMP port unreachable) rather than lost; whether each OS moves on
// at that at once or only after its first timeout (1 s on Windows per the KB
// above) is not verified on real machines — either way within about a second.

// maxFallbackServers bounds how many original servers follow dnspin: enough
// to survive one dead original, short enough that the walk stays quick.
const maxFallbackServers = 3

// fallbackServers returns the original servers to list after dnspin: the
// recorded pre-activation servers without loopback addresses (dnspin or
// another local resolver that may be gone), without dnspin's own addresses,
// deduplicated, in their order, at most max.
func fallbackServers(recorded, self []string, max int) []string {
	var out []string
	for _, s := range recorded {
		a, err := netip.ParseAddr(s)
		if err != nil {
			if ap, perr := netip.ParseAddrPort(s); perr == nil && ap.Port() == 53 {
				a, err = ap.Addr(), nil
			}
		}
		if err != nil || a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		s = a.Unmap().String()
		if slices.Contains(self, s) || slices.Contains(out, s) {
			continue
		}
		if len(out) == max {
			break
		}
		out = append(out, s)
	}
	return out
}
