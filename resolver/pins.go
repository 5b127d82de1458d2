package resolver

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/dnsname"
)

// pinSet holds the pins in effect: exact names and "*.suffix" wildcards.
// Names are lower-case FQDNs. It is built once and then only read.
type pinSet struct {
	exact map[string]*Pin
	wild  map[string]*Pin // key: the suffix without "*.", e.g. "tickets.example."
	n     int
}

// buildPins merges config pins with bundle pins (config wins for the same
// name) and keeps only valid pins (dnsname.CheckPin, as the config and
// bundles check them) inside the protected domains (lower-case FQDNs); it
// returns the names it ignored so the caller can log them.
func buildPins(domains []string, config, bundle []Pin) (*pinSet, []string) {
	n := len(config) + len(bundle) // sized once: 100,000 pins are built at every start
	ps := &pinSet{exact: make(map[string]*Pin, n), wild: map[string]*Pin{}}
	var ignored []string
	add := func(p Pin) {
		c, err := dnsname.CheckPin(p)
		if err != nil {
			ignored = append(ignored, p.Name)
			return
		}
		base, wild := c.Base()
		name := dnsname.FQDN(base)
		if !dnsname.Under(name, domains) {
			ignored = append(ignored, p.Name)
			return
		}
		m := ps.exact
		if wild {
			m = ps.wild
		}
		if _, ok := m[name]; ok {
			return // the first wins: config pins are added first
		}
		m[name] = &c
		ps.n++
	}
	for _, p := range config {
		add(p)
	}
	for _, p := range bundle {
		add(p)
	}
	return ps, ignored
}

// match finds the pin for name: an exact pin, else the wildcard with the
// longest suffix strictly above name.
func (ps *pinSet) match(name string) *Pin {
	if p := ps.exact[name]; p != nil {
		return p
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '.' && i+1 < len(name) {
			if p := ps.wild[name[i+1:]]; p != nil {
				return p
			}
		}
	}
	return nil
}

// pinAddrs returns the pinned addresses for qtype (A or AAAA).
func pinAddrs(p *Pin, qtype uint16) []netip.Addr {
	switch qtype {
	case dns.TypeA:
		return p.A
	case dns.TypeAAAA:
		return p.AAAA
	}
	return nil
}

// fqdnLower is the resolver's form of a name: lower-case, fully qualified.
func fqdnLower(s string) string { return dnsname.FQDN(s) }

// pinnedRRs builds the answer records for a pin.
func pinnedRRs(qname string, qtype uint16, addrs []netip.Addr, ttl uint32) []dns.RR {
	out := make([]dns.RR, 0, len(addrs))
	for _, a := range addrs {
		h := dns.RR_Header{Name: qname, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
		if qtype == dns.TypeA {
			out = append(out, &dns.A{Hdr: h, A: a.AsSlice()})
		} else {
			out = append(out, &dns.AAAA{Hdr: h, AAAA: a.AsSlice()})
		}
	}
	return out
}
