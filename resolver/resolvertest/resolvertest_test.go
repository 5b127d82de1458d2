package resolvertest

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/resolver"
)

func exchange(t *testing.T, server, name string) (*dns.Msg, error) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, server)
	return r, err
}

func describe(r *dns.Msg) string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return dns.RcodeToString[r.Rcode] + " " + strings.Join(out, ",")
}

// The upstream answers from its table, case-insensitively, then the
// default; it goes SERVFAIL and silent on demand, and counts every query.
func TestUpstreamModes(t *testing.T) {
	t.Parallel()
	u := StartUpstream(t, UpstreamConfig{Answers: map[string]string{"Shop.Tickets.Test": "192.0.2.1"}, TTL: 7})
	for _, tc := range []struct{ name, want string }{
		{"shop.tickets.test", "NOERROR 192.0.2.1"},
		{"other.test", "NXDOMAIN "},
	} {
		r, err := exchange(t, u.Addr, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	u.SetMode(ServFail)
	if r, err := exchange(t, u.Addr, "shop.tickets.test"); err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Errorf("servfail mode: %v, %v", r, err)
	}
	u.SetMode(Drop)
	if r, err := exchange(t, u.Addr, "shop.tickets.test"); err == nil {
		t.Errorf("drop mode answered: %v", r)
	}
	if n := u.Queries(); n != 4 {
		t.Errorf("queries = %d, want 4", n)
	}
	u.ResetQueries()
	if n := u.Queries(); n != 0 {
		t.Errorf("queries after reset = %d, want 0", n)
	}
	u.Close()
	u.SetMode(Answer)
	if r, err := exchange(t, u.Addr, "shop.tickets.test"); err == nil {
		t.Errorf("closed upstream answered: %v", r)
	}

	d := StartUpstream(t, UpstreamConfig{Default: "198.51.100.7"})
	if r, err := exchange(t, d.Addr, "any.example"); err != nil || describe(r) != "NOERROR 198.51.100.7" {
		t.Errorf("default: %v, %v", r, err)
	}
}

// Start gives a running resolver on the chosen port that forwards to the
// upstream and answers pins.
func TestStart(t *testing.T) {
	t.Parallel()
	u := StartUpstream(t, UpstreamConfig{Answers: map[string]string{"www.example": "192.0.2.5"}})
	_, addr := Start(t, resolver.Config{
		Listen:    []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Upstreams: []string{u.Addr},
		Domains:   []string{"tickets.test"},
		Pins:      []resolver.Pin{{Name: "box.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.9")}}},
		Mode:      resolver.ModePinned,
		StateDir:  t.TempDir(),
	}, resolver.Options{})
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("addr %s: want the chosen port", addr)
	}
	for _, tc := range []struct{ name, want string }{
		{"www.example", "NOERROR 192.0.2.5"},
		{"box.tickets.test", "NOERROR 192.0.2.9"},
	} {
		r, err := exchange(t, addr, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if got := AskA(t, addr, "box.tickets.test"); got != "192.0.2.9" {
		t.Errorf("AskA box.tickets.test = %q, want 192.0.2.9", got)
	}
	if got := AskA(t, addr, "nothing.example"); got != "" {
		t.Errorf("AskA of an NXDOMAIN name = %q, want none", got)
	}
}
