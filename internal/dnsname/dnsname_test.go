package dnsname

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 63)
	for _, tc := range []struct{ in, want string }{
		{"Tickets.Example.", "tickets.example"},
		{"tickets.example", "tickets.example"},
		{"_sip._tcp.Example", "_sip._tcp.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{long + ".example", long + ".example"},
		{"", ""},
		{".", ""},
		{"a..example", ""},
		{"tickets.example..", ""},
		{"a b.example", ""},
		{"tickets.example/", ""},
		{"*.example", ""},
		{"ex@mple.test", ""},
		{"bücher.example", ""},
		{long + "a.example", ""},
		{strings.Repeat("a.", 127) + "ab", ""}, // 255 characters
	} {
		got, err := Canonical(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "is not a domain name") {
			t.Errorf("Canonical(%q) error %q does not say what is wrong", tc.in, err)
		}
	}
}

func TestFQDN(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Shop.Tickets.Example":  "shop.tickets.example.",
		"shop.tickets.example.": "shop.tickets.example.",
		"":                      ".",
		".":                     ".",
		`a\.`:                   `a\..`, // the dot is escaped: part of the label
		`a\\.`:                  `a\\.`, // an escaped backslash, then the end dot
	} {
		if got := FQDN(in); got != want {
			t.Errorf("FQDN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnderAndCovers(t *testing.T) {
	t.Parallel()
	domains := []string{"tickets.example", "cdn.test"}
	fqdns := []string{"tickets.example.", "cdn.test."}
	for _, tc := range []struct {
		name  string
		under bool
	}{
		{"tickets.example", true},
		{"shop.tickets.example", true},
		{"a.b.cdn.test", true},
		{"xtickets.example", false},
		{"example", false},
		{"tickets.example.org", false},
		{"cdn.test.tickets", false},
	} {
		if got := Under(tc.name, domains); got != tc.under {
			t.Errorf("Under(%q) = %v, want %v", tc.name, got, tc.under)
		}
		if got := Under(FQDN(tc.name), fqdns); got != tc.under {
			t.Errorf("Under(%q) in FQDN form = %v, want %v", FQDN(tc.name), got, tc.under)
		}
		if got := Covers([]string{"Tickets.Example.", "CDN.test"}, tc.name); got != tc.under {
			t.Errorf("Covers(%q) = %v, want %v", tc.name, got, tc.under)
		}
	}
	for name, want := range map[string]bool{
		"*.tickets.example":      true,
		"*.shop.Tickets.Example": true,
		"*.example":              false, // would pin names beyond the platform
		"*.xtickets.example":     false,
	} {
		if got := Covers(domains, name); got != want {
			t.Errorf("Covers(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestCoversBundleDomains: the cases bundle.Covers had before it moved here.
func TestCoversBundleDomains(t *testing.T) {
	t.Parallel()
	domains := []string{"tickets.example", "cdn-tickets.example"}
	for name, want := range map[string]bool{
		"tickets.example":           true,
		"shop.tickets.example":      true,
		"*.tickets.example":         true,
		"*.a.cdn-tickets.example":   true,
		"*.example":                 false,
		"xtickets.example":          false,
		"tickets.example.evil":      false,
		"www.bank.example":          false,
		"cdn-tickets.example.com":   false,
		"a.b.c.cdn-tickets.example": true,
		"Shop.Tickets.Example.":     true,
	} {
		if got := Covers(domains, name); got != want {
			t.Errorf("Covers(%q) = %v", name, got)
		}
	}
}

// TestCheckPin is the one table for what a pin may be: the config, the
// bundle and the resolver all call CheckPin, so this is their behaviour.
func TestCheckPin(t *testing.T) {
	t.Parallel()
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			var a netip.Addr
			if s != "" {
				a = netip.MustParseAddr(s)
			}
			out = append(out, a)
		}
		return out
	}
	for _, tc := range []struct {
		desc     string
		pin      Pin
		wantName string // canonical name when valid
		field    string // PinError.Field when invalid
		msg      string // part of the error text
	}{
		{"exact", Pin{Name: "Shop.Tickets.Example.", A: addrs("192.0.2.10")}, "shop.tickets.example", "", ""},
		{"wildcard", Pin{Name: "*.Tickets.example", AAAA: addrs("2001:db8::10")}, "*.tickets.example", "", ""},
		{"both families", Pin{Name: "a.example", A: addrs("192.0.2.1"), AAAA: addrs("2001:db8::1")}, "a.example", "", ""},
		{"empty name", Pin{A: addrs("192.0.2.1")}, "", "name", `pin "" is not a name like`},
		{"star inside", Pin{Name: "a.*.example", A: addrs("192.0.2.1")}, "", "name", `pin "a.*.example" is not a name like "shop.tickets.example" or "*.tickets.example"`},
		{"bare star", Pin{Name: "*", A: addrs("192.0.2.1")}, "", "name", "is not a name like"},
		{"double wildcard", Pin{Name: "*.*.example", A: addrs("192.0.2.1")}, "", "name", "is not a name like"},
		{"space", Pin{Name: "a b.example", A: addrs("192.0.2.1")}, "", "name", "is not a name like"},
		{"no addresses", Pin{Name: "A.example"}, "", "name", `pin "a.example" has no addresses`},
		{"v6 in a", Pin{Name: "a.example", A: addrs("2001:db8::1")}, "", "a", `pin "a.example": 2001:db8::1 is not an IPv4 address (IPv6 goes in aaaa)`},
		{"mapped v4 in a", Pin{Name: "a.example", A: addrs("::ffff:192.0.2.1")}, "", "a", "::ffff:192.0.2.1 is not an IPv4 address"},
		{"empty a", Pin{Name: "a.example", A: addrs("")}, "", "a", "a has an empty address"},
		{"v4 in aaaa", Pin{Name: "a.example", AAAA: addrs("192.0.2.1")}, "", "aaaa", `pin "a.example": 192.0.2.1 is not an IPv6 address (IPv4 goes in a)`},
		{"mapped v4 in aaaa", Pin{Name: "a.example", AAAA: addrs("::ffff:192.0.2.1")}, "", "aaaa", "::ffff:192.0.2.1 is not an IPv6 address"},
		{"zoned aaaa", Pin{Name: "a.example", AAAA: addrs("fe80::1%eth0")}, "", "aaaa", `pin "a.example": fe80::1%eth0 has a zone: a pin needs an address without %eth0`},
		{"empty aaaa", Pin{Name: "a.example", AAAA: addrs("")}, "", "aaaa", "aaaa has an empty address"},
		{"one bad among good", Pin{Name: "a.example", A: addrs("192.0.2.1", "2001:db8::1")}, "", "a", "is not an IPv4 address"},
	} {
		got, err := CheckPin(tc.pin)
		if tc.field == "" {
			if err != nil || got.Name != tc.wantName || len(got.A) != len(tc.pin.A) || len(got.AAAA) != len(tc.pin.AAAA) {
				t.Errorf("%s: CheckPin(%+v) = %+v, %v; want name %q", tc.desc, tc.pin, got, err, tc.wantName)
			}
			continue
		}
		var pe *PinError
		if !errors.As(err, &pe) || pe.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: CheckPin(%+v) error = %v (%+v); want field %q and %q", tc.desc, tc.pin, err, pe, tc.field, tc.msg)
		}
	}
}

func TestCheckPinCopiesAddresses(t *testing.T) {
	t.Parallel()
	in := Pin{Name: "a.example", A: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
	out, err := CheckPin(in)
	if err != nil {
		t.Fatal(err)
	}
	in.A[0] = netip.MustParseAddr("192.0.2.99")
	if out.A[0] != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("CheckPin shares the caller's address slice: %v", out.A)
	}
}
