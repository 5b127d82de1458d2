package resolver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite testdata (fuzz seed corpus)")

// funcUpstream is an Upstream made of a function, for tests that need no
// sockets.
type funcUpstream struct {
	addr     string
	exchange func(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
}

func (u *funcUpstream) Address() string { return u.addr }
func (u *funcUpstream) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	return u.exchange(ctx, m)
}

var _ Upstream = (*funcUpstream)(nil)

// memUpstream answers every A/AAAA query at once; names starting with
// "fail" fail, so both the live and the fallback paths get exercised.
func memUpstream(addr string) Upstream {
	return &funcUpstream{addr: addr, exchange: func(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
		if len(q.Question) != 1 {
			return nil, errors.New("no question")
		}
		qq := q.Question[0]
		if len(qq.Name) >= 4 && qq.Name[:4] == "fail" {
			return nil, errors.New("failing on purpose")
		}
		m := new(dns.Msg)
		m.SetReply(q)
		h := dns.RR_Header{Name: qq.Name, Rrtype: qq.Qtype, Class: qq.Qclass, Ttl: 60}
		switch qq.Qtype {
		case dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: h, A: net.IPv4(198, 18, 0, 1)}}
		case dns.TypeAAAA:
			m.Answer = []dns.RR{&dns.AAAA{Hdr: h, AAAA: net.ParseIP("2001:db8::1")}}
		case dns.TypeTXT:
			m.Answer = []dns.RR{&dns.TXT{Hdr: h, Txt: []string{"hello"}}}
		default:
			m.Rcode = dns.RcodeNameError
		}
		return m, nil
	}}
}

// fuzzSeeds are queries of every shape the handler distinguishes.
func fuzzSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	add := func(name string, build func(m *dns.Msg)) {
		m := new(dns.Msg)
		build(m)
		b, err := m.Pack()
		if err != nil {
			panic(fmt.Sprintf("seed %s: %v", name, err))
		}
		seeds[name] = b
	}
	add("a", func(m *dns.Msg) { m.SetQuestion("www.other.test.", dns.TypeA) })
	add("aaaa-edns-do", func(m *dns.Msg) { m.SetQuestion("www.other.test.", dns.TypeAAAA); m.SetEdns0(1232, true) })
	add("pinned", func(m *dns.Msg) { m.SetQuestion("shop.tickets.test.", dns.TypeA); m.SetEdns0(512, false) })
	add("wildcard-aaaa", func(m *dns.Msg) { m.SetQuestion("x.cdn.tickets.test.", dns.TypeAAAA) })
	add("protected-fail", func(m *dns.Msg) { m.SetQuestion("fail.tickets.test.", dns.TypeA); m.SetEdns0(1232, false) })
	add("unprotected-fail", func(m *dns.Msg) { m.SetQuestion("fail.other.test.", dns.TypeA) })
	add("canary", func(m *dns.Msg) { m.SetQuestion(canary, dns.TypeA) })
	add("any", func(m *dns.Msg) { m.SetQuestion("other.test.", dns.TypeANY) })
	add("chaos", func(m *dns.Msg) { m.SetQuestion("version.bind.", dns.TypeTXT); m.Question[0].Qclass = dns.ClassCHAOS })
	add("notify", func(m *dns.Msg) { m.SetNotify("other.test.") })
	add("two-questions", func(m *dns.Msg) {
		m.SetQuestion("a.test.", dns.TypeA)
		m.Question = append(m.Question, m.Question[0])
	})
	add("edns-v1", func(m *dns.Msg) {
		m.SetQuestion("a.test.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
	})
	add("edns-cookie", func(m *dns.Msg) {
		m.SetQuestion("txt.other.test.", dns.TypeTXT)
		m.SetEdns0(4096, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	})
	add("response", func(m *dns.Msg) { m.SetQuestion("a.test.", dns.TypeA); m.Response = true })
	for _, e := range malformedQueries() {
		add(e.name, e.build)
	}
	seeds["compressed-question"] = []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}
	seeds["header-only"] = []byte{0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	seeds["short"] = []byte{1, 2, 3}
	return seeds
}

func TestUpdateFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzHandler/seed-*")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzHandler")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fuzzSeeds() {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzHandler feeds raw packets to the UDP path (fast path, then the full
// algorithm) and, when they parse, to ServeDNS. Whatever comes back must be
// a well-formed reply to the same ID that fits the client's size; nothing
// may panic or hang.
func FuzzHandler(f *testing.F) {
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	cfg := testConfig("192.0.2.53:53")
	cfg.AnswerBudget, cfg.ClientTimeout = 5e6, 10e6 // 5 ms, 10 ms
	var rs []*Resolver
	for _, mode := range []Mode{ModeAuto, ModePinned} {
		cfg.Mode = mode
		r, err := New(cfg, Options{Upstreams: memUpstream})
		if err != nil {
			f.Fatal(err)
		}
		rs = append(rs, r)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, r := range rs {
			for _, tcp := range []bool{false, true} {
				out := r.servePacket(ctx, make([]byte, 0, 512), make([]byte, 0, 300), pkt, tcp)
				if out == nil {
					continue
				}
				m := new(dns.Msg)
				if err := m.Unpack(out); err != nil {
					t.Fatalf("reply does not parse: %v\nquery %x\nreply %x", err, pkt, out)
				}
				if !m.Response || len(pkt) < 2 || m.Id != uint16(pkt[0])<<8|uint16(pkt[1]) {
					t.Fatalf("reply is not a response to this query: %x -> %x", pkt, out)
				}
				if !tcp && len(out) > 512 {
					if q := new(dns.Msg); q.Unpack(pkt) != nil || q.IsEdns0() == nil || len(out) > int(q.IsEdns0().UDPSize()) {
						t.Fatalf("UDP reply of %d bytes exceeds what the client can take", len(out))
					}
				}
			}
			if q := new(dns.Msg); q.Unpack(pkt) == nil {
				r.ServeDNS(&discardWriter{}, q)
			}
		}
	})
}

// discardWriter is a dns.ResponseWriter that drops what it is given.
type discardWriter struct{}

func (discardWriter) LocalAddr() net.Addr {
	return net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:53"))
}
func (discardWriter) RemoteAddr() net.Addr {
	return net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:5353"))
}
func (discardWriter) WriteMsg(*dns.Msg) error     { return nil }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) Close() error                { return nil }
func (discardWriter) TsigStatus() error           { return nil }
func (discardWriter) TsigTimersOnly(bool)         {}
func (discardWriter) Hijack()                     {}
