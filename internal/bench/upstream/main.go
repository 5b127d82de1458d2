// Command upstream is a small authoritative DNS server with switchable
// faults: the upstream dnspin forwards to in the load and peer benchmarks
// (internal/bench/load.sh, internal/bench/run_peers.sh). It is a test tool,
// not part of dnspin.
//
// It answers A and AAAA for every name under -zone with addresses derived
// from an FNV-1a hash of the name (A: 198.18.0.0/15, the RFC 2544
// benchmarking range; AAAA: 2001:db8::/32), so every name resolves and a
// resolver's answers can be checked without a table. Other types under the
// zone get NODATA with the SOA; names outside the zone get REFUSED.
//
// Faults are switched at run time:
//
//	HTTP control on -ctl (loopback only):
//	  GET /mode?set=ok|servfail|drop   drop = silence, as a dead server
//	  GET /delay?set=1s                wait before every answer (0 = none)
//	  GET /ttl?set=2                   TTL of the answers
//	  GET /stats   GET /reset
//
// Example:
//
//	upstream -addr 127.0.0.70:5370 -ctl 127.0.0.70:5380 -ttl 3600
//	curl -s '127.0.0.70:5380/mode?set=drop'
package main

import (
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

const (
	modeOK int32 = iota
	modeServfail
	modeDrop
)

var modeNames = [...]string{modeOK: "ok", modeServfail: "servfail", modeDrop: "drop"}

// server holds the switchable behaviour and the counters.
type server struct {
	zone     string
	mode     atomic.Int32
	delay    atomic.Int64 // nanoseconds
	ttl      atomic.Uint32
	queries  atomic.Uint64
	answered atomic.Uint64
	failed   atomic.Uint64
	dropped  atomic.Uint64
}

func hashName(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return h.Sum32()
}

// ipv4For is name's A address in 198.18.0.0/15.
func ipv4For(name string) net.IP {
	h := hashName(name)
	return net.IPv4(198, 18+byte(h>>16&1), byte(h>>8), byte(h))
}

// ipv6For is name's AAAA address in 2001:db8::/32.
func ipv6For(name string) net.IP {
	h := hashName(name)
	ip := make(net.IP, 16)
	copy(ip, net.ParseIP("2001:db8::"))
	ip[12], ip[13], ip[14], ip[15] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h)
	return ip
}

func (s *server) soa() dns.RR {
	t := s.ttl.Load()
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: s.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: t},
		Ns:  "ns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: t,
	}
}

func (s *server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.queries.Add(1)
	if d := s.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	switch s.mode.Load() {
	case modeDrop:
		s.dropped.Add(1)
		return
	case modeServfail:
		s.failed.Add(1)
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		w.WriteMsg(m)
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.SetRcode(r, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(s.zone, name) {
		m.Authoritative = false
		m.SetRcode(r, dns.RcodeRefused)
		w.WriteMsg(m)
		return
	}
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: s.ttl.Load()}
	switch {
	case q.Qtype == dns.TypeA:
		hdr.Rrtype = dns.TypeA
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ipv4For(name)})
	case q.Qtype == dns.TypeAAAA:
		hdr.Rrtype = dns.TypeAAAA
		m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ipv6For(name)})
	case q.Qtype == dns.TypeSOA && name == s.zone:
		m.Answer = append(m.Answer, s.soa())
	case q.Qtype == dns.TypeNS && name == s.zone:
		hdr.Rrtype = dns.TypeNS
		m.Answer = append(m.Answer, &dns.NS{Hdr: hdr, Ns: "ns." + s.zone})
	default:
		m.Ns = append(m.Ns, s.soa())
	}
	s.answered.Add(1)
	w.WriteMsg(m)
}

func (s *server) setMode(name string) error {
	for k, v := range modeNames {
		if v == name {
			s.mode.Store(int32(k))
			log.Printf("mode=%s", name)
			return nil
		}
	}
	return fmt.Errorf("unknown mode %q: use ok, servfail or drop", name)
}

func (s *server) stats() string {
	return fmt.Sprintf("mode=%s delay=%s ttl=%d queries=%d answered=%d servfail=%d dropped=%d\n",
		modeNames[s.mode.Load()], time.Duration(s.delay.Load()), s.ttl.Load(),
		s.queries.Load(), s.answered.Load(), s.failed.Load(), s.dropped.Load())
}

// control serves the HTTP switches; every endpoint answers with the stats.
func (s *server) control() http.Handler {
	mux := http.NewServeMux()
	set := func(path string, apply func(string) error) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if v := r.URL.Query().Get("set"); v != "" {
				if err := apply(v); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
			}
			fmt.Fprint(w, s.stats())
		})
	}
	set("/mode", s.setMode)
	set("/delay", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		s.delay.Store(int64(d))
		log.Printf("delay=%s", d)
		return nil
	})
	set("/ttl", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return err
		}
		s.ttl.Store(uint32(n))
		return nil
	})
	set("/stats", func(string) error { return nil })
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		s.queries.Store(0)
		s.answered.Store(0)
		s.failed.Store(0)
		s.dropped.Store(0)
		fmt.Fprint(w, s.stats())
	})
	return mux
}

// loopback refuses addresses off the machine: a fault-injecting server
// must never be reachable from the network.
func loopback(flagName, addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("-%s %q: want IP:port: %w", flagName, addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("-%s %s: only loopback addresses (127.0.0.0/8, ::1)", flagName, addr)
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.70:5370", "UDP+TCP listen address (loopback)")
	ctl := flag.String("ctl", "127.0.0.70:5380", "HTTP control listen address (loopback; empty: none)")
	zone := flag.String("zone", "example.test.", "zone to answer for")
	ttl := flag.Uint("ttl", 300, "TTL of answers (seconds)")
	delay := flag.Duration("delay", 0, "wait before every answer")
	mode := flag.String("mode", "ok", "initial mode: ok, servfail or drop")
	flag.Parse()

	s := &server{zone: dns.Fqdn(strings.ToLower(*zone))}
	s.ttl.Store(uint32(*ttl))
	s.delay.Store(int64(*delay))
	err := errors.Join(loopback("addr", *addr), s.setMode(*mode))
	if *ctl != "" {
		err = errors.Join(err, loopback("ctl", *ctl))
	}
	if err != nil {
		log.Fatal(err)
	}
	if *ctl != "" {
		go func() { log.Fatal(http.ListenAndServe(*ctl, s.control())) }()
	}
	for _, netw := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: *addr, Net: netw, UDPSize: 4096, Handler: s}
		go func() { log.Fatal(srv.ListenAndServe()) }()
	}
	log.Printf("upstream on %s zone=%s ttl=%d ctl=%s", *addr, s.zone, *ttl, *ctl)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	log.Print(s.stats())
}
