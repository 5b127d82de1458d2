package resolver

import (
	"net/netip"
	"slices"
	"strings"

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
	pins := r.cfg.Load().pins
	for _, m := range []map[string]*Pin{pins.exact, pins.wild} {
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
	for k := range v.dropped {
		if old == nil || !old.dropped[k] {
			r.log.Warn("pinned address left out of backup answers: it failed TLS verification and another address of the pin passed", "name", strings.TrimSuffix(k.Name, "."), "addr", k.Addr)
		}
	}
	if old != nil {
		for k := range old.dropped {
			if !v.dropped[k] {
				r.log.Info("pinned address back in backup answers", "name", strings.TrimSuffix(k.Name, "."), "addr", k.Addr)
			}
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
