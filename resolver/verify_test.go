package resolver

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestLearnedVerificationOrder: learned answers (from learned.json, as
// after a restart) are listed for the daemon's checks, except where a pin
// owns the name or the chain; once states are set, verified addresses come
// first and failed ones are left out while a verified one remains.
func TestLearnedVerificationOrder(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	cfg := testConfig(up.addr)
	cfg.Mode = ModePinned // answers come from pins and learned data at once
	cfg.StateDir = t.TempDir()
	at := time.Now().UTC().Format(time.RFC3339)
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	file := `{"version":1,"answers":[
 {"name":"multi.tickets.test.","type":"A","at":"` + at + `","rrs":["multi.tickets.test. 60 IN A 192.0.2.31","multi.tickets.test. 60 IN A 192.0.2.32","multi.tickets.test. 60 IN A 192.0.2.33"]},
 {"name":"www.tickets.test.","type":"A","at":"` + old + `","rrs":["www.tickets.test. 60 IN CNAME lb.hosting.test.","lb.hosting.test. 60 IN A 192.0.2.41","lb.hosting.test. 60 IN A 192.0.2.42"]},
 {"name":"www.tickets.test.","type":"AAAA","at":"` + old + `","rrs":["www.tickets.test. 60 IN AAAA 2001:db8::41"]},
 {"name":"via.tickets.test.","type":"A","at":"` + at + `","rrs":["via.tickets.test. 60 IN CNAME edge.cdn.tickets.test.","edge.cdn.tickets.test. 60 IN A 192.0.2.99"]},
 {"name":"shop.tickets.test.","type":"A","at":"` + at + `","rrs":["shop.tickets.test. 60 IN A 192.0.2.98"]},
 {"name":"txt.tickets.test.","type":"TXT","at":"` + at + `","rrs":["txt.tickets.test. 60 IN TXT \"x\""]}
]}`
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "learned.json"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	r := startWith(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	addr := r.Addrs()[0]
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }

	var got []string
	for _, x := range r.LearnedAddrs() {
		got = append(got, x.Name+"@"+x.Addr.String())
	}
	want := "multi.tickets.test@192.0.2.31 multi.tickets.test@192.0.2.32 multi.tickets.test@192.0.2.33 " +
		"www.tickets.test@192.0.2.41 www.tickets.test@192.0.2.42 www.tickets.test@2001:db8::41"
	if strings.Join(got, " ") != want {
		t.Errorf("LearnedAddrs = %v\nwant %s (newest first; pinned names and chains left out)", got, want)
	}

	check := func(step, name string, qtype uint16, want string) {
		t.Helper()
		if m := ask(t, addr, name, qtype); addrsOf(m) != want {
			t.Errorf("%s: %s %s = %s, want %s", step, name, dns.TypeToString[qtype], describe(m), want)
		}
	}
	check("no verification", "multi.tickets.test", dns.TypeA, "192.0.2.31,192.0.2.32,192.0.2.33")

	states := map[PinAddr]PinState{
		{"multi.tickets.test", a("192.0.2.31")}: PinFailed,   // wrong certificate
		{"multi.tickets.test", a("192.0.2.33")}: PinVerified, // .32 unknown
		{"www.tickets.test", a("192.0.2.41")}:   PinFailed,
		{"www.tickets.test", a("192.0.2.42")}:   PinFailed, // none verified: both kept
		{"www.tickets.test", a("2001:db8::41")}: PinVerified,
	}
	r.SetLearnedVerification(states)
	check("verified first, failed left out", "multi.tickets.test", dns.TypeA, "192.0.2.33,192.0.2.32")
	check("none verified in this family", "www.tickets.test", dns.TypeA, "192.0.2.41,192.0.2.42")
	if m := ask(t, addr, "WWW.tickets.test", dns.TypeA); len(m.Answer) != 3 || m.Answer[0].Header().Rrtype != dns.TypeCNAME {
		t.Errorf("the CNAME keeps its place: %s", describe(m))
	}
	check("pinned name untouched", "shop.tickets.test", dns.TypeA, "192.0.2.10,192.0.2.11")
	r.SetLearnedVerification(states)
	if n := strings.Count(logs.String(), "learned address left out"); n != 1 || !strings.Contains(logs.String(), "addr=192.0.2.31") {
		t.Errorf("want one 'left out' line for 192.0.2.31, got %d:\n%s", n, logs.String())
	}
	r.SetLearnedVerification(nil)
	check("states withdrawn", "multi.tickets.test", dns.TypeA, "192.0.2.31,192.0.2.32,192.0.2.33")
	if n := strings.Count(logs.String(), "learned address back in backup answers"); n != 1 {
		t.Errorf("want one 'back' line, got %d:\n%s", n, logs.String())
	}
}
