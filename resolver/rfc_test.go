package resolver

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rfcName is the name every malformed query asks for; the tests answer it
// once first, so a fast path that took a malformed packet for a cache hit
// would show.
const rfcName = "edge.other.test."

// malformedQuery is a query miekg/dns parses although an RFC says it must
// not be answered normally.
type malformedQuery struct {
	name   string
	rcode  int
	badOPT bool // the OPT record itself is at fault: the reply carries none
	build  func(m *dns.Msg)
}

func rfcOPT(owner string) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	return o
}

// malformedQueries are the RFC 6891 / RFC 1035 edges a fuzzer cannot judge
// (it only sees that some well-formed reply comes back). They are also
// FuzzHandler seeds.
func malformedQueries() []malformedQuery {
	q := func(m *dns.Msg) { m.SetQuestion(rfcName, dns.TypeA); m.Id = 0x4242 }
	a := &dns.A{Hdr: dns.RR_Header{Name: rfcName, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}
	return []malformedQuery{
		// RFC 6891 6.1.1: "If a query message with more than one OPT RR is
		// received, a FORMERR (RCODE=1) MUST be returned."
		{"two-opt", dns.RcodeFormatError, true, func(m *dns.Msg) { q(m); m.Extra = []dns.RR{rfcOPT("."), rfcOPT(".")} }},
		{"two-opt-one-bad-version", dns.RcodeFormatError, true, func(m *dns.Msg) {
			q(m)
			o := rfcOPT(".")
			o.SetVersion(1)
			m.Extra = []dns.RR{rfcOPT("."), o}
		}},
		// RFC 6891 6.1.1: the OPT RR belongs in the additional section and
		// its owner name MUST be 0 (root).
		{"opt-in-answer", dns.RcodeFormatError, true, func(m *dns.Msg) { q(m); m.Answer = []dns.RR{rfcOPT(".")} }},
		{"opt-in-authority", dns.RcodeFormatError, true, func(m *dns.Msg) { q(m); m.Ns = []dns.RR{rfcOPT(".")} }},
		{"opt-owner-not-root", dns.RcodeFormatError, true, func(m *dns.Msg) { q(m); m.Extra = []dns.RR{rfcOPT(rfcName)} }},
		// RFC 1035 4.1.1: a standard query has no answer or authority records.
		{"query-with-answer", dns.RcodeFormatError, false, func(m *dns.Msg) { q(m); m.Answer = []dns.RR{a}; m.Extra = []dns.RR{rfcOPT(".")} }},
		{"query-with-authority", dns.RcodeFormatError, false, func(m *dns.Msg) { q(m); m.Ns = []dns.RR{a}; m.Extra = []dns.RR{rfcOPT(".")} }},
		// QDCOUNT must be 1 for a query we can answer.
		{"no-question-edns", dns.RcodeFormatError, false, func(m *dns.Msg) { m.Id = 0x4242; m.Extra = []dns.RR{rfcOPT(".")} }},
		{"two-questions-edns", dns.RcodeFormatError, false, func(m *dns.Msg) {
			q(m)
			m.Question = append(m.Question, m.Question[0])
			m.Extra = []dns.RR{rfcOPT(".")}
		}},
		// RFC 6891 6.1.3: an EDNS version we do not implement gets BADVERS
		// (with an OPT record, which carries the upper rcode bits).
		{"edns-version-1", dns.RcodeBadVers, false, func(m *dns.Msg) {
			q(m)
			o := rfcOPT(".")
			o.SetVersion(1)
			m.Extra = []dns.RR{o}
		}},
	}
}

// TestRFCEdges sends each malformed query as raw bytes over a real UDP
// socket (and over TCP) to a resolver that has the name cached (the fast
// path sees it first) and to one that has not (the slow path alone), and
// wants the same reply from both: FORMERR (BADVERS for an unknown EDNS
// version), never an answer and never a question to upstream.
func TestRFCEdges(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	warm, warmAddr := startResolver(t, testConfig(up.addr), nil)
	_, coldAddr := startResolver(t, testConfig(up.addr), nil)
	for range 2 { // the second is answered from the cache by the fast path
		if m := ask(t, warmAddr, rfcName, dns.TypeA); m.Rcode != dns.RcodeSuccess || addrsOf(m) == "" {
			t.Fatalf("warm-up: %s", describe(m))
		}
	}
	if n := warm.Status().Answers[SourceCache]; n != 1 {
		t.Fatalf("warm-up: %d cache answers, want 1", n)
	}
	for _, tt := range malformedQueries() {
		m := new(dns.Msg)
		tt.build(m)
		pkt, err := m.Pack()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var replies [][]byte
		for _, addr := range []string{warmAddr, coldAddr} {
			for _, network := range []string{"udp", "tcp"} {
				b := rawExchange(t, network, addr, pkt)
				r := new(dns.Msg)
				if err := r.Unpack(b); err != nil {
					t.Fatalf("%s over %s: reply does not parse: %v (%x)", tt.name, network, err, b)
				}
				if !r.Response || r.Id != 0x4242 || r.Rcode != tt.rcode || len(r.Answer) != 0 {
					t.Errorf("%s over %s to %s: %s with %d answers, want %s", tt.name, network, addr,
						dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tt.rcode])
				}
				if tt.badOPT && r.IsEdns0() != nil {
					t.Errorf("%s over %s: FORMERR echoes the faulty OPT record", tt.name, network)
				}
				if !tt.badOPT && r.IsEdns0() == nil {
					t.Errorf("%s over %s: the client's valid OPT record got no OPT back (RFC 6891 7)", tt.name, network)
				}
				replies = append(replies, b)
			}
		}
		for i := range replies {
			if !bytes.Equal(replies[i], replies[0]) {
				t.Errorf("%s: replies differ between fast and slow path or UDP and TCP:\n%x\n%x", tt.name, replies[0], replies[i])
			}
		}
	}
	if n := up.count(rfcName); n != 1 {
		t.Errorf("upstream asked %d times for %s, want 1 (the warm-up): a malformed query was forwarded", n, rfcName)
	}
	if n := warm.Status().Answers[SourceCache]; n != 1 {
		t.Errorf("%d cache answers after the malformed queries, want still 1", n)
	}
}

// rawExchange sends pkt as it is over network ("udp" or "tcp") and returns
// the reply's bytes.
func rawExchange(t *testing.T, network, addr string, pkt []byte) []byte {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a safety net, not a timing assertion
	if network == "tcp" {
		pkt = append([]byte{byte(len(pkt) >> 8), byte(len(pkt))}, pkt...)
	}
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	if network == "udp" {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no %s reply from %s: %v", network, addr, err)
		}
		return buf[:n]
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		t.Fatalf("no %s reply from %s: %v", network, addr, err)
	}
	n := int(buf[0])<<8 | int(buf[1])
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		t.Fatalf("short %s reply from %s: %v", network, addr, err)
	}
	return buf[:n]
}
