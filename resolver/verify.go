package resolver

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// PinState is what a TLS check of one pinned address found. The resolver
// does no TLS itself: the daemon verifies and hands the states over with
// SetPinVerification; the resolver only orders and filters by them.
type PinState uint8

const (
	PinUnknown  PinState = iota // not checked: answered after verified ones
	PinVerified                 // served a valid certificate for the name
	PinFailed                   // did not: left out while a verified address remains
)

// PinAddr names one pinned address: the pin's name as written in the
// config or bundle (case and trailing dot do not matter) and the address.
type PinAddr struct {
	Name string
	Addr netip.Addr
}

// pinVerdicts is the verification in effect, swapped as a whole.
type pinVerdicts struct {
	state   map[PinAddr]PinState // Name: lower-case FQDN
	dropped map[PinAddr]bool     // left out at the last SetPinVerification, for logging changes once
}

// SetPinVerification replaces the verification states of pinned addresses.
// From then on, among a pin's addresses of one family, verified ones are
// answered first and failed ones are left out while at least one verified
// address remains; with none verified every address is still answered
// (the network may block the check port to everything). Addresses left out
// or taken back are logged once per change.
func (r *Resolver) SetPinVerification(states map[PinAddr]PinState) {
	v := &pinVerdicts{state: make(map[PinAddr]PinState, len(states)), dropped: map[PinAddr]bool{}}
	for k, s := range states {
		v.state[PinAddr{Name: fqdnLower(k.Name), Addr: k.Addr.Unmap()}] = s
	}
	var sets []map[string]*Pin // with no states nothing is left out: 10k pins not walked at start-up
	if pins := r.cfg.Load().pins; len(states) > 0 {
		sets = []map[string]*Pin{pins.exact, pins.wild}
	}
	for _, m := range sets {
		for _, p := range m {
			for _, fam := range [][]netip.Addr{p.A, p.AAAA} {
				kept := v.order(p, fam)
				for _, a := range fam {
					if !slices.Contains(kept, a) {
						v.dropped[PinAddr{Name: fqdnLower(p.Name), Addr: a}] = true
					}
				}
			}
		}
	}
	old := r.verdicts.Swap(v)
	r.backupGen.Add(1) // after the swap: see backup
	var was map[PinAddr]bool
	if old != nil {
		was = old.dropped
	}
	r.logLeftOut("pinned", "another address of the pin passed", was, v.dropped)
}

// logLeftOut logs, once per change, the addresses of one kind ("pinned",
// "learned") that verification left out of backup answers or took back.
func (r *Resolver) logLeftOut(kind, because string, was, now map[PinAddr]bool) {
	for k := range now {
		if !was[k] {
			r.log.Warn(kind+" address left out of backup answers: it failed TLS verification and "+because, "name", strings.TrimSuffix(k.Name, "."), "addr", k.Addr)
		}
	}
	for k := range was {
		if !now[k] {
			r.log.Info(kind+" address back in backup answers", "name", strings.TrimSuffix(k.Name, "."), "addr", k.Addr)
		}
	}
}

// orderedPinAddrs returns p's addresses for qtype in answer order.
func (r *Resolver) orderedPinAddrs(p *Pin, qtype uint16) []netip.Addr {
	if qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return nil
	}
	return r.verdicts.Load().order(p, pinAddrs(p, qtype))
}

// order sorts one family of p's addresses: verified, then unknown, then
// failed; failed ones are dropped when a verified one remains. Without
// verification the pin's own order stands.
func (v *pinVerdicts) order(p *Pin, addrs []netip.Addr) []netip.Addr {
	if v == nil || len(v.state) == 0 || len(addrs) == 0 {
		return addrs
	}
	name := fqdnLower(p.Name)
	out := make([]netip.Addr, 0, len(addrs))
	var unknown, failed []netip.Addr
	for _, a := range addrs {
		switch v.state[PinAddr{Name: name, Addr: a}] {
		case PinVerified:
			out = append(out, a)
		case PinFailed:
			failed = append(failed, a)
		default:
			unknown = append(unknown, a)
		}
	}
	out = append(out, unknown...)
	if len(out) == len(unknown) { // none verified: answer them all
		out = append(out, failed...)
	}
	return out
}

// Pins returns the pins in effect (config and bundle, after merging), for
// the daemon's verification.
func (r *Resolver) Pins() []Pin {
	ps := r.cfg.Load().pins
	out := make([]Pin, 0, ps.n)
	for _, m := range []map[string]*Pin{ps.exact, ps.wild} {
		for _, p := range m {
			out = append(out, *p)
		}
	}
	slices.SortFunc(out, func(a, b Pin) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// learnedVerdicts is the verification of learned addresses in effect,
// swapped as a whole (SetLearnedVerification).
type learnedVerdicts struct {
	state   map[PinAddr]PinState // Name: lower-case FQDN of the asked name
	dropped map[PinAddr]bool     // left out at the last SetLearnedVerification, for logging changes once
}

// LearnedAddrs lists what backup answers may serve from learned answers,
// for the daemon's TLS checks: for every protected name with a learned A or
// AAAA answer younger than max_stale, the asked name (the name a client
// sends as SNI) and each address its CNAME chain ends in. Names a pin owns,
// and chains that reach a pinned name, are left out: their answers are the
// pin's. Most recently confirmed answers come first.
func (r *Resolver) LearnedAddrs() []PinAddr {
	c := r.cfg.Load()
	now := r.now()
	type ent struct {
		at    time.Time
		qtype uint16
		addrs []PinAddr
	}
	var es []ent
	r.learned.mu.Lock()
	for _, e := range r.learned.m {
		if (e.qtype != dns.TypeA && e.qtype != dns.TypeAAAA) || now.Sub(e.at) > c.MaxStale || c.pins.match(e.name) != nil {
			continue
		}
		if addrs := servedLearned(e, c.pins); len(addrs) > 0 {
			es = append(es, ent{at: e.at, qtype: e.qtype, addrs: addrs})
		}
	}
	r.learned.mu.Unlock()
	slices.SortStableFunc(es, func(a, b ent) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		if c := strings.Compare(a.addrs[0].Name, b.addrs[0].Name); c != 0 {
			return c
		}
		return int(a.qtype) - int(b.qtype) // A before AAAA
	})
	var out []PinAddr
	for _, e := range es {
		out = append(out, e.addrs...)
	}
	return out
}

// servedLearned lists the addresses of a learned answer that backup
// answers serve: none when its CNAME chain reaches a pinned name.
func servedLearned(e *learnedEntry, pins *pinSet) []PinAddr {
	name := strings.TrimSuffix(e.name, ".")
	var out []PinAddr
	for _, rr := range e.rrs {
		switch v := rr.(type) {
		case *dns.CNAME:
			if pins.match(v.Target) != nil {
				return nil
			}
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A); ok {
				out = append(out, PinAddr{Name: name, Addr: a.Unmap()})
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				out = append(out, PinAddr{Name: name, Addr: a})
			}
		}
	}
	return out
}

// SetLearnedVerification replaces the verification states of learned
// addresses (names as LearnedAddrs gives them). From then on, in a learned
// answer served as backup, among the asked name's addresses of one family
// verified ones come first and failed ones are left out while at least one
// verified address remains, as for pins. Changes are logged once.
func (r *Resolver) SetLearnedVerification(states map[PinAddr]PinState) {
	v := &learnedVerdicts{state: make(map[PinAddr]PinState, len(states)), dropped: map[PinAddr]bool{}}
	verified := map[PinAddr]bool{} // key: name and the family's zero address
	for k, s := range states {
		k = PinAddr{Name: fqdnLower(k.Name), Addr: k.Addr.Unmap()}
		v.state[k] = s
		if s == PinVerified {
			verified[PinAddr{Name: k.Name, Addr: familyOf(k.Addr)}] = true
		}
	}
	for k, s := range v.state {
		if s == PinFailed && verified[PinAddr{Name: k.Name, Addr: familyOf(k.Addr)}] {
			v.dropped[k] = true
		}
	}
	old := r.learnedVerdicts.Swap(v)
	r.backupGen.Add(1) // after the swap: packed learned answers are built again in the new order (see backup)
	var was map[PinAddr]bool
	if old != nil {
		was = old.dropped
	}
	r.logLeftOut("learned", "another learned address of the name passed", was, v.dropped)
}

func familyOf(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// orderLearned reorders the address records at the end of a learned
// answer for name (lower-case FQDN, the asked name): verified first, then
// unchecked, then failed; failed ones are dropped while a verified one
// remains. CNAMEs and other records keep their place. Without verification
// the answer stands as learned.
func (v *learnedVerdicts) orderLearned(name string, ans []dns.RR) []dns.RR {
	if v == nil || len(v.state) == 0 {
		return ans
	}
	var verified, unknown, failed []dns.RR
	out := ans[:0:0]
	for _, rr := range ans {
		var a netip.Addr
		switch x := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(x.A)
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(x.AAAA)
		default:
			out = append(out, rr)
			continue
		}
		switch v.state[PinAddr{Name: name, Addr: a.Unmap()}] {
		case PinVerified:
			verified = append(verified, rr)
		case PinFailed:
			failed = append(failed, rr)
		default:
			unknown = append(unknown, rr)
		}
	}
	out = append(append(out, verified...), unknown...)
	if len(verified) == 0 {
		out = append(out, failed...)
	}
	return out
}
