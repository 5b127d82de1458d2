package resolver

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Benchmarks of the answer paths without sockets (the full picture with
// sockets, against dnsmasq and unbound, comes from internal/bench; see
// docs/benchmarks.md).

func benchResolver(b *testing.B, mode Mode) *Resolver {
	b.Helper()
	cfg := testConfig("192.0.2.53:53")
	cfg.Mode = mode
	r, err := New(cfg, Options{Upstreams: memUpstream})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

func packQuery(b *testing.B, name string, qtype uint16, edns bool) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	p, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkCacheHit is the hot path: packet in, packed answer out.
func BenchmarkCacheHit(b *testing.B) {
	r := benchResolver(b, ModeAuto)
	pkt := packQuery(b, "h1.example.test.", dns.TypeA, true)
	dst, key := make([]byte, 0, 512), make([]byte, 0, 300)
	if out := r.servePacket(context.Background(), dst, key, pkt, false); out == nil {
		b.Fatal("no answer")
	}
	b.ReportAllocs()
	now := r.now() // the batched UDP loop reads the clock once per 32 packets
	for b.Loop() {
		if r.fastAnswer(dst, key, pkt, false, now) == nil {
			b.Fatal("not a cache hit")
		}
	}
}

// BenchmarkCacheMiss forwards every query (to an in-memory upstream, so
// it measures dnspin's own cost of a miss: unpack, exchange, cache, pack).
func BenchmarkCacheMiss(b *testing.B) {
	r := benchResolver(b, ModeAuto)
	dst, key := make([]byte, 0, 512), make([]byte, 0, 300)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		pkt := packQuery(b, "m"+strconv.Itoa(i)+".example.test.", dns.TypeA, true)
		if r.servePacket(context.Background(), dst, key, pkt, false) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkPinned answers a pinned name in pinned mode (as in an outage).
func BenchmarkPinned(b *testing.B) {
	r := benchResolver(b, ModePinned)
	pkt := packQuery(b, "shop.tickets.test.", dns.TypeA, true)
	dst, key := make([]byte, 0, 512), make([]byte, 0, 300)
	b.ReportAllocs()
	for b.Loop() {
		if r.servePacket(context.Background(), dst, key, pkt, false) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkUDPCacheHit is one client asking over a real loopback socket:
// mostly system call cost, shown for scale.
func BenchmarkUDPCacheHit(b *testing.B) {
	c := udpClient(b, testConfig("192.0.2.53:53"), Options{Upstreams: memUpstream})
	pkt := packQuery(b, "h1.example.test.", dns.TypeA, true)
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		c.Write(pkt)
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUDPCacheMiss is one client asking new names over a real loopback
// socket, forwarded to a real upstream server on loopback.
func BenchmarkUDPCacheMiss(b *testing.B) {
	c := udpClient(b, testConfig(startUpstream(b).addr), Options{})
	buf := make([]byte, 1500)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		c.Write(packQuery(b, "u"+strconv.Itoa(i)+".other.test.", dns.TypeA, true))
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// udpClient starts a resolver for cfg and returns a UDP socket connected to
// it, with a deadline that ends a stuck benchmark.
func udpClient(b *testing.B, cfg Config, o Options) net.Conn {
	r := startWith(b, cfg, o)
	c, err := net.Dial("udp", r.Addrs()[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(time.Minute))
	return c
}
