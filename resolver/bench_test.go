package resolver

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
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
	r, err := New(cfg, Options{Upstreams: func(addr string) Upstream { return memSender{memUpstream(addr)} }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

// memSender answers every query at once and in memory, through the same
// path as the UDP upstream (sender): one A record for the asked name. The
// miss benchmarks then measure dnspin's own cost of a miss without sockets.
type memSender struct{ Upstream }

func (memSender) send(wire []byte, qEnd int, _ time.Time, to receiver) pending {
	b := append(make([]byte, 0, qEnd+16), wire[:qEnd]...)
	b[2] |= 0x80                                     // QR
	b[6], b[7], b[10], b[11] = 0, 1, 0, 0            // one answer, no OPT record
	b = append(b, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60) // the question's name, A, IN, TTL 60
	b = append(b, 0, 4, 198, 18, 0, 1)
	to.receive(b, nil)
	return nil
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
		if out, _ := r.fastAnswer(dst, key, pkt, false, now); out == nil {
			b.Fatal("not a cache hit")
		}
	}
}

// BenchmarkCacheMiss forwards every query (to an in-memory upstream, so
// it measures dnspin's own cost of a miss: parse the query, start the
// lookup, check the reply and cache it, answer).
func BenchmarkCacheMiss(b *testing.B) {
	r := benchResolver(b, ModeAuto)
	dst, key := make([]byte, 0, 512), make([]byte, 0, 300)
	i := 0
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		i++
		pkt := packQuery(b, "m"+strconv.Itoa(i)+".example.test.", dns.TypeA, true)
		if r.servePacket(context.Background(), dst, key, pkt, false) == nil {
			b.Fatal("no answer")
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkPinned answers a pinned name in pinned mode (as in an outage):
// the first answer packs it, the rest come from the fast path, as a cache
// hit does.
func BenchmarkPinned(b *testing.B) {
	r := benchResolver(b, ModePinned)
	benchBackup(b, r, packQuery(b, "shop.tickets.test.", dns.TypeA, true), SourcePinned)
}

// BenchmarkLearned answers a learned name while an outage is declared.
func BenchmarkLearned(b *testing.B) {
	r := benchResolver(b, ModeAuto)
	rr := &dns.A{Hdr: dns.RR_Header{Name: "learned.tickets.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(198, 51, 100, 1)}
	r.learned.put("learned.tickets.test.", dns.TypeA, []dns.RR{rr}, r.now())
	r.health.set(StateOutage, "benchmark")
	benchBackup(b, r, packQuery(b, "learned.tickets.test.", dns.TypeA, true), SourceLearned)
}

func benchBackup(b *testing.B, r *Resolver, pkt []byte, want Source) {
	dst, key := make([]byte, 0, 512), make([]byte, 0, 300)
	if out := r.servePacket(context.Background(), dst, key, pkt, false); out == nil {
		b.Fatal("no answer")
	}
	b.ReportAllocs()
	now := r.now() // the batched UDP loop reads the clock once per 32 packets
	for b.Loop() {
		if out, src := r.fastAnswer(dst, key, pkt, false, now); out == nil || sources[src] != want {
			b.Fatalf("not a packed %s answer", want)
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
	cpu := cpuTime()
	for b.Loop() {
		i++
		c.Write(packQuery(b, "u"+strconv.Itoa(i)+".other.test.", dns.TypeA, true))
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// reportCPU reports the process's CPU time per operation since start
// (cpu-ns/op): unlike ns/op it does not grow when other processes take the
// CPU. It counts the test's clients and upstream too.
func reportCPU(b *testing.B, start time.Duration) {
	if start == 0 {
		return
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
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

// heapBytes is the live heap after a full collection.
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCacheMemory reports the live heap one cache entry costs (a
// typical answer: one A record), over 100k entries: the map, its key and
// the entry. It is a measure, not a speed: run it with -benchtime=1x.
func BenchmarkCacheMemory(b *testing.B) {
	const n = 100_000
	now := time.Unix(1_800_000_000, 0)
	msgs := make([]*dns.Msg, n)
	keys := make([][]byte, n)
	for i := range msgs {
		q := new(dns.Msg)
		q.SetQuestion("host"+strconv.Itoa(i)+".example.test.", dns.TypeA)
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(198, 18, byte(i>>8), byte(i))}}
		msgs[i] = m
		wq, key, err := queryOf(q, false)
		if err != nil {
			b.Fatal(err)
		}
		_ = wq
		keys[i] = key
	}
	for b.Loop() {
		before := heapBytes()
		c := newCache(2 * n)
		for i, m := range msgs {
			e, err := newEntry(m, now, false)
			if err != nil {
				b.Fatal(err)
			}
			c.put(string(keys[i]), e)
		}
		after := heapBytes()
		if c.len() != n {
			b.Fatalf("%d entries, want %d", c.len(), n)
		}
		b.ReportMetric(float64(after-before)/n, "B/entry")
		runtime.KeepAlive(c)
	}
}

// BenchmarkPinMemory reports the live heap one pin costs in the resolver's
// pin set (one IPv4 and one IPv6 address), over 100k pins.
func BenchmarkPinMemory(b *testing.B) {
	const n = 100_000
	pins := genPins(n)
	for b.Loop() {
		before := heapBytes()
		ps, ignored := buildPins([]string{"tickets.test."}, nil, pins)
		after := heapBytes()
		if ps.n != n || len(ignored) != 0 {
			b.Fatalf("%d pins, %d ignored", ps.n, len(ignored))
		}
		b.ReportMetric(float64(after-before)/n, "B/pin")
		runtime.KeepAlive(ps)
	}
}

// genPins makes n pins under tickets.test, a tenth of them wildcards.
func genPins(n int) []Pin {
	pins := make([]Pin, n)
	for i := range pins {
		name := "h" + strconv.Itoa(i) + ".tickets.test"
		if i%10 == 0 {
			name = "*." + name
		}
		pins[i] = Pin{Name: name,
			A:    []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})},
			AAAA: []netip.Addr{netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})}}
	}
	return pins
}

// BenchmarkUDPCacheMissParallel is many clients asking new names at once
// (100 outstanding, as run_peers.sh's dnsperf -q 100): throughput of the
// miss path with sockets, system calls and goroutines included. ns/op is
// the time per miss over the whole process.
func BenchmarkUDPCacheMissParallel(b *testing.B) {
	r := startWith(b, testConfig(startUpstream(b).addr), Options{})
	addr := r.Addrs()[0]
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(50) // × GOMAXPROCS clients
	b.ResetTimer()
	cpu := cpuTime()
	defer func() { reportCPU(b, cpu) }()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 1500)
		for pb.Next() {
			c.Write(packQuery(b, "p"+strconv.FormatInt(n.Add(1), 10)+".other.test.", dns.TypeA, true))
			if _, err := c.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
