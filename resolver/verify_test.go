package resolver

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestPinVerificationOrder(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	cfg := testConfig(up.addr)
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	cfg.Pins = []Pin{
		{Name: "Box.Tickets.Test", A: []netip.Addr{a("192.0.2.1"), a("192.0.2.2"), a("192.0.2.3")}, AAAA: []netip.Addr{a("2001:db8::1"), a("2001:db8::2")}},
		{Name: "api.tickets.test", A: []netip.Addr{a("192.0.2.7")}},
	}
	cfg.Mode = ModePinned // every protected answer comes from the pin
	var logs syncBuf
	r := startWith(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	addr := r.Addrs()[0]
	check := func(step, name string, qtype uint16, want string) {
		t.Helper()
		if m := ask(t, addr, name, qtype); addrsOf(m) != want {
			t.Errorf("%s: %s %s = %s, want %s", step, name, dns.TypeToString[qtype], describe(m), want)
		}
	}
	check("no verification", "box.tickets.test", dns.TypeA, "192.0.2.1,192.0.2.2,192.0.2.3")

	// .3 verified, .1 failed, .2 unknown: .3 first, .2 after, .1 left out.
	// IPv6 has none verified: both answered, the failed one last.
	states := map[PinAddr]PinState{
		{"box.tickets.test.", a("192.0.2.1")}:  PinFailed,
		{"box.tickets.test", a("192.0.2.3")}:   PinVerified,
		{"box.tickets.test", a("2001:db8::1")}: PinFailed,
		{"api.tickets.test", a("192.0.2.7")}:   PinFailed,
		{"other.tickets.test", a("192.0.2.9")}: PinVerified, // no such pin: ignored
	}
	r.SetPinVerification(states)
	check("verified", "box.tickets.test", dns.TypeA, "192.0.2.3,192.0.2.2")
	check("verified", "box.tickets.test", dns.TypeAAAA, "2001:db8::2,2001:db8::1")
	check("sole address failed", "api.tickets.test", dns.TypeA, "192.0.2.7")
	if n := strings.Count(logs.String(), "left out"); n != 1 || strings.Count(logs.String(), "addr=192.0.2.1") != 1 {
		t.Errorf("want one 'left out' line for 192.0.2.1, got %d:\n%s", n, logs.String())
	}
	// The same states again: nothing new is logged.
	r.SetPinVerification(states)
	if n := strings.Count(logs.String(), "left out"); n != 1 {
		t.Errorf("same states logged again: %d lines", n)
	}

	// None verified any more: every address answered again, and that is logged once.
	r.SetPinVerification(map[PinAddr]PinState{
		{"box.tickets.test", a("192.0.2.1")}: PinFailed,
		{"box.tickets.test", a("192.0.2.3")}: PinFailed,
	})
	check("none verified", "box.tickets.test", dns.TypeA, "192.0.2.2,192.0.2.1,192.0.2.3")
	if n := strings.Count(logs.String(), "back in backup answers"); n != 1 {
		t.Errorf("want one 'back' line, got %d:\n%s", n, logs.String())
	}
}
