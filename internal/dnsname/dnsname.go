// Package dnsname is the one definition of the names and pins dnspin
// protects: the canonical form of a name, "is this name at or under these
// domains", and what makes a pin valid. The config file, signed bundles and
// the resolver all use it, so a pin one of them accepts the others accept
// too. It is a leaf (standard library only): the tray links the config,
// and must not link a DNS library for it.
package dnsname

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Canonical lower-cases a domain name and strips one trailing dot; it
// rejects empty names, names over 253 characters, and labels that are
// empty, over 63 characters or carry characters no host name has
// (internationalized names are written in their xn-- form; "_" appears in
// service names). This is the form the config and bundles store.
func Canonical(s string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(s, "."))
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	// Label by label without splitting: a config or bundle holds up to
	// 100,000 pins, and this runs for each at every start.
	label := 0
	for i := 0; i <= len(n); i++ {
		if i == len(n) || n[i] == '.' {
			if label == 0 || label > 63 {
				return "", fmt.Errorf("%q is not a domain name", s)
			}
			label = 0
			continue
		}
		if c := n[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", fmt.Errorf("%q is not a domain name", s) // bytes of other runes too
		}
		label++
	}
	return n, nil
}

// FQDN lower-cases s and makes it fully qualified (a trailing dot unless
// one, not escaped as "\.", is there): the form names have on the wire and
// in the resolver. It does not validate; it matches miekg/dns's Fqdn.
func FQDN(s string) string {
	s = strings.ToLower(s)
	if isFQDN(s) {
		return s
	}
	return s + "."
}

// isFQDN reports whether s ends in a dot that is not escaped: an odd
// number of backslashes before the last dot makes it part of a label.
func isFQDN(s string) bool {
	s2, ok := strings.CutSuffix(s, ".")
	if !ok {
		return false
	}
	i := strings.LastIndexFunc(s2, func(r rune) bool { return r != '\\' })
	return (len(s2)-i)%2 != 0
}

// Under reports whether name is one of domains or below one of them. name
// and domains must be in the same form, both Canonical or both FQDN; it
// does not allocate, as the resolver asks it for every query.
func Under(name string, domains []string) bool {
	for _, d := range domains {
		if underOne(name, d) {
			return true
		}
	}
	return false
}

func underOne(name, d string) bool {
	return name == d || (len(name) > len(d) && strings.HasSuffix(name, d) && name[len(name)-len(d)-1] == '.')
}

// Covers reports whether the pin name (exact or "*.base") lies at or below
// one of domains, which may be in any case and carry a trailing dot. A
// wildcard is covered only when its base is: "*.example" is not covered by
// "tickets.example", since it would pin names beyond it.
func Covers(domains []string, pinName string) bool {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(pinName, "*."), "."))
	for _, d := range domains {
		if underOne(n, strings.ToLower(strings.TrimSuffix(d, "."))) {
			return true
		}
	}
	return false
}

// Pin is a known-good set of addresses for a name. Name is an exact name
// ("shop.tickets.example") or a wildcard ("*.tickets.example", matching
// every name below tickets.example but not tickets.example itself).
type Pin struct {
	Name string       `json:"name" toml:"name"`
	A    []netip.Addr `json:"a,omitempty" toml:"a"`
	AAAA []netip.Addr `json:"aaaa,omitempty" toml:"aaaa"`
}

// Base returns the name the pin is for without its "*." and whether it is
// a wildcard.
func (p Pin) Base() (string, bool) { return strings.CutPrefix(p.Name, "*.") }

// PinError is why CheckPin rejects a pin; Field is the pin's key that is
// wrong ("name", "a" or "aaaa"), so the config can name it.
type PinError struct {
	Field string
	Msg   string
}

func (e *PinError) Error() string { return e.Msg }

// CheckPin validates p and returns it with its name canonical (lower case,
// no trailing dot, "*." kept) and its address lists copied. A pin needs at
// least one address; a holds IPv4 addresses only, aaaa global-form IPv6
// addresses only: no IPv4-mapped ones (::ffff:192.0.2.1, which belong in
// a) and no zones (fe80::1%eth0 names an interface of one machine, and a
// DNS answer cannot carry it).
func CheckPin(p Pin) (Pin, error) {
	base, wild := p.Base()
	n, err := Canonical(base)
	if err != nil || strings.Contains(n, "*") {
		return p, &PinError{"name", fmt.Sprintf("pin %q is not a name like \"shop.tickets.example\" or \"*.tickets.example\"", p.Name)}
	}
	if wild {
		n = "*." + n
	}
	if len(p.A) == 0 && len(p.AAAA) == 0 {
		return p, &PinError{"name", fmt.Sprintf("pin %q has no addresses: give it a and/or aaaa addresses", n)}
	}
	for _, a := range p.A {
		switch {
		case !a.IsValid():
			return p, &PinError{"a", fmt.Sprintf("pin %q: a has an empty address: remove it", n)}
		case !a.Is4():
			return p, &PinError{"a", fmt.Sprintf("pin %q: %s is not an IPv4 address (IPv6 goes in aaaa)", n, a)}
		}
	}
	for _, a := range p.AAAA {
		switch {
		case !a.IsValid():
			return p, &PinError{"aaaa", fmt.Sprintf("pin %q: aaaa has an empty address: remove it", n)}
		case !a.Is6() || a.Is4In6():
			return p, &PinError{"aaaa", fmt.Sprintf("pin %q: %s is not an IPv6 address (IPv4 goes in a)", n, a)}
		case a.Zone() != "":
			return p, &PinError{"aaaa", fmt.Sprintf("pin %q: %s has a zone: a pin needs an address without %%%s", n, a, a.Zone())}
		}
	}
	return Pin{Name: n, A: slices.Clone(p.A), AAAA: slices.Clone(p.AAAA)}, nil
}
