// Command ceiling is a minimal miekg/dns server that answers from a map and
// never forwards: the practical upper bound for a Go DNS server built on
// miekg/dns on a given machine, which internal/bench/run_peers.sh compares
// every resolver against. It is a test tool, not part of dnspin.
//
// The map holds -names names "h0.<zone>" .. "h<N-1>.<zone>" (A and AAAA,
// the same addresses as the upstream benchmark server gives). Other names
// under the zone get NXDOMAIN, or with -synth an answer built on the fly.
//
//	ceiling -addr 127.0.0.54:5302 -names 1000
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/miekg/dns"
)

type key struct {
	name  string
	qtype uint16
}

// server answers from table; it is not changed after start.
type server struct {
	table   map[key][]dns.RR
	zone    string
	synth   bool
	ttl     uint32
	queries atomic.Uint64
}

func hashName(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return h.Sum32()
}

func (s *server) rrsFor(name string, qtype uint16) []dns.RR {
	h := hashName(name)
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: s.ttl, Rrtype: qtype}
	switch qtype {
	case dns.TypeA:
		return []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(198, 18+byte(h>>16&1), byte(h>>8), byte(h))}}
	case dns.TypeAAAA:
		ip := make(net.IP, 16)
		copy(ip, net.ParseIP("2001:db8::"))
		ip[12], ip[13], ip[14], ip[15] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h)
		return []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: ip}}
	}
	return nil
}

func (s *server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	if len(r.Question) != 1 {
		m.SetRcode(r, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	switch rrs, ok := s.table[key{name, q.Qtype}]; {
	case ok:
		m.Answer = rrs
	case s.synth && dns.IsSubDomain(s.zone, name):
		m.Answer = s.rrsFor(name, q.Qtype)
	case dns.IsSubDomain(s.zone, name):
		m.SetRcode(r, dns.RcodeNameError)
	default:
		m.SetRcode(r, dns.RcodeRefused)
	}
	w.WriteMsg(m)
}

func main() {
	addr := flag.String("addr", "127.0.0.54:5302", "UDP+TCP listen address (loopback)")
	zone := flag.String("zone", "example.test.", "zone")
	n := flag.Int("names", 1000, "number of names h0..h<N-1> in the map")
	ttl := flag.Uint("ttl", 3600, "TTL of answers")
	synth := flag.Bool("synth", false, "answer unknown names under the zone too")
	flag.Parse()
	if ap, err := netip.ParseAddrPort(*addr); err != nil || !ap.Addr().IsLoopback() {
		log.Fatalf("-addr %q: want a loopback IP:port (127.0.0.0/8, ::1)", *addr)
	}
	s := &server{zone: dns.Fqdn(strings.ToLower(*zone)), synth: *synth, ttl: uint32(*ttl)}
	s.table = make(map[key][]dns.RR, 2**n)
	for i := range *n {
		name := fmt.Sprintf("h%d.%s", i, s.zone)
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			s.table[key{name, qt}] = s.rrsFor(name, qt)
		}
	}
	for _, netw := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: *addr, Net: netw, UDPSize: 4096, Handler: s}
		go func() { log.Fatal(srv.ListenAndServe()) }()
	}
	log.Printf("ceiling on %s, %d answers", *addr, len(s.table))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	log.Printf("queries=%d", s.queries.Load())
}
