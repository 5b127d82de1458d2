package resolver

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The wire path must make the same cache entry as unpacking the reply and
// packing it again (newEntry) did: the same answer for the client, the same
// lifetime.
func TestEntryWireAsUnpacked(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	q := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Response, m.Authoritative, m.RecursionAvailable = true, true, false
		return m
	}
	a := func(name string, ttl uint32, ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)}
	}
	soa := func(ttl, minttl uint32) dns.RR {
		return &dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns: "ns.example.test.", Mbox: "h.example.test.", Serial: 1, Refresh: 2, Retry: 3, Expire: 4, Minttl: minttl}
	}
	opt := func() dns.RR {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		return o
	}
	cases := map[string]*dns.Msg{}
	m := q("www.Example.test.", dns.TypeA)
	m.Answer = []dns.RR{
		&dns.CNAME{Hdr: dns.RR_Header{Name: "www.Example.test.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: "web.example.test."},
		a("web.example.test.", 60, "192.0.2.1"), a("web.example.test.", 90, "192.0.2.2"),
	}
	m.Extra = []dns.RR{opt()}
	cases["positive, OPT last"] = m
	m = q("gone.example.test.", dns.TypeA)
	m.Rcode = dns.RcodeNameError
	m.Ns = []dns.RR{soa(3600, 120)}
	m.Extra = []dns.RR{opt()}
	cases["NXDOMAIN: SOA TTL lowered to MINIMUM"] = m
	m = q("nodata.example.test.", dns.TypeAAAA)
	m.Ns = []dns.RR{soa(30, 900)}
	cases["NODATA without OPT: SOA TTL kept"] = m
	m = q("mid.example.test.", dns.TypeA)
	m.Answer = []dns.RR{a("mid.example.test.", 200, "192.0.2.9")}
	m.Extra = []dns.RR{opt(), a("ns1.example.test.", 500, "192.0.2.53"), a("ns2.example.test.", 500, "192.0.2.54")}
	cases["OPT before other records: unpacked and packed again"] = m
	m = q("big.example.test.", dns.TypeA)
	m.Answer = []dns.RR{a("big.example.test.", 1<<31, "192.0.2.7")}
	cases["TTL capped at a day"] = m

	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			want, err := newEntry(m, now, false)
			if err != nil {
				t.Fatal(err)
			}
			got, err := newEntryWire(b, now, false)
			if err != nil {
				t.Fatal(err)
			}
			if got.expires != want.expires || got.stored != want.stored {
				t.Errorf("lifetime %v, want %v", time.Duration(got.expires-got.stored), time.Duration(want.expires-want.stored))
			}
			wq := &wireQuery{id: 4242, name: packName(t, m.Question[0].Name), rd: true, edns: true, maxSize: 1232}
			later := now.Add(10 * time.Second) // TTLs count down alike
			gm, wm := new(dns.Msg), new(dns.Msg)
			if err := gm.Unpack(got.appendReply(nil, wq, later, 0)); err != nil {
				t.Fatalf("wire entry does not unpack: %v", err)
			}
			if err := wm.Unpack(want.appendReply(nil, wq, later, 0)); err != nil {
				t.Fatal(err)
			}
			if gm.String() != wm.String() {
				t.Errorf("answer from the wire entry:\n%s\nwant:\n%s", gm, wm)
			}
		})
	}
}

func packName(t *testing.T, name string) []byte {
	t.Helper()
	b := make([]byte, 256)
	n, err := dns.PackDomainName(name, b, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// A reply answers a query only with its question (letter case aside) and
// a sound message; an error without a question is an answer too.
func TestReplyMatches(t *testing.T) {
	t.Parallel()
	query := appendUpQuery(nil, packName(t, "Shop.Example.test."), dns.TypeA, false, true)
	qEnd, err := questionEnd(query)
	if err != nil {
		t.Fatal(err)
	}
	question := query[12:qEnd]
	reply := func(edit func(m *dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion("shop.example.TEST.", dns.TypeA)
		m.Response = true
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "shop.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := reply(nil)
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"same question, other letter case", good, true},
		{"another name", reply(func(m *dns.Msg) { m.Question[0].Name = "shop.example.tesu." }), false},
		{"another type", reply(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }), false},
		{"another class", reply(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), false},
		{"SERVFAIL without a question", reply(func(m *dns.Msg) { m.Question, m.Answer, m.Rcode = nil, nil, dns.RcodeServerFailure }), true},
		{"NOERROR without a question", reply(func(m *dns.Msg) { m.Question = nil }), false},
		{"cut in a record", good[:len(good)-2], false},
	} {
		if got := replyMatches(tc.b, question); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Our own query, parsed back: what miekg would have packed.
	m := new(dns.Msg)
	if err := m.Unpack(query); err != nil {
		t.Fatal(err)
	}
	if opt := m.IsEdns0(); opt == nil || !opt.Do() || opt.UDPSize() != ednsUDPSize || !m.RecursionDesired || m.Question[0].Name != "Shop.Example.test." {
		t.Fatalf("upstream query: %v", m)
	}
	// An extended rcode (in the OPT record) is not NOERROR.
	bad := reply(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Rcode = dns.RcodeBadVers })
	if rc, err := replyRcode(bad); err != nil || rc != dns.RcodeBadVers {
		t.Fatalf("extended rcode %d %v, want BADVERS", rc, err)
	}
}
