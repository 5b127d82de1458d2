package resolver

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zoneUpstream is a real miekg/dns server on 127.0.0.1 that answers from a
// table of crafted answer sections (key: lower-case name + "/" + type), so
// tests can make upstream say exactly what a broken or hostile one would.
// Other names get NXDOMAIN. TTL 0 everywhere keeps the cache out of these
// tests: what is served in an outage comes from pins or learned answers.
type zoneUpstream struct {
	addr string
	drop atomic.Bool
	mu   sync.Mutex
	zone map[string][]dns.RR
}

func startZoneUpstream(t *testing.T, answers map[string][]string) *zoneUpstream {
	t.Helper()
	u := &zoneUpstream{zone: map[string][]dns.RR{}}
	for k, rrs := range answers {
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatalf("zone record %q: %v", s, err)
			}
			rr.Header().Ttl = 0
			u.zone[k] = append(u.zone[k], rr)
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	s := &dns.Server{PacketConn: pc, Handler: u}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go s.ActivateAndServe()
	<-started
	t.Cleanup(func() { s.Shutdown() })
	return u
}

func (u *zoneUpstream) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if u.drop.Load() || len(q.Question) != 1 {
		return
	}
	qq := q.Question[0]
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	u.mu.Lock()
	m.Answer = u.zone[strings.ToLower(qq.Name)+"/"+dns.TypeToString[qq.Qtype]]
	u.mu.Unlock()
	if len(m.Answer) == 0 {
		soa, _ := dns.NewRR("tickets.test. 60 IN SOA ns.tickets.test. h.tickets.test. 1 1 1 1 60")
		m.Ns = []dns.RR{soa}
		if !strings.HasSuffix(strings.ToLower(qq.Name), "tickets.test.") || strings.HasPrefix(strings.ToLower(qq.Name), "nx") {
			m.Rcode = dns.RcodeNameError
		}
	}
	w.WriteMsg(m)
}

// pinownConfig is testConfig with more patience for the upstream lookups
// that teach answers (2 s instead of 0.8 s), so that a loaded machine does
// not turn the learning phase into failures.
func pinownConfig(up string) Config {
	c := testConfig(up)
	c.ClientTimeout = time.Second
	return c
}

// learnLive asks until a live answer arrives: a query that found no live
// answer within answer_budget got a fallback while its lookup went on, and
// only a live answer proves the lookup (and so the learning) is done. The
// zone's TTL 0 keeps the cache from answering instead.
func learnLive(t *testing.T, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	var m *dns.Msg
	for range 50 { // a safety net, not a timing assertion
		if m = ask(t, addr, name, qtype); m.Rcode == dns.RcodeSuccess && SourceFromEDE(m) == "" {
			return m
		}
	}
	t.Fatalf("healthy %s %s: never a live answer; last %s", name, dns.TypeToString[qtype], describe(m))
	return nil
}

// askAll asks for the A records of names at once (each may wait for
// client_timeout) and returns the answers in order; nil for a failed exchange.
func askAll(addr string, names []string) []*dns.Msg {
	out := make([]*dns.Msg, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(n), dns.TypeA)
			q.SetEdns0(1232, false)
			c := &dns.Client{Timeout: 10 * time.Second}
			out[i], _, _ = c.Exchange(q, addr)
		}()
	}
	wg.Wait()
	return out
}

// rrStrings renders records as the wire would, with TTL ttl.
func rrStrings(t *testing.T, rrs []dns.RR, ttl uint32) []string {
	t.Helper()
	var out []string
	for _, rr := range rrs {
		rr = dns.Copy(rr)
		rr.Header().Ttl = ttl
		out = append(out, rr.String())
	}
	return out
}

func parseRRs(t *testing.T, ss []string, ttl uint32) []string {
	t.Helper()
	var rrs []dns.RR
	for _, s := range ss {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("record %q: %v", s, err)
		}
		rrs = append(rrs, rr)
	}
	return rrStrings(t, rrs, ttl)
}

// TestPinOwnsItsName is the reported case: shop pinned with only A records
// answered the pinned A and, for AAAA, the address learned while healthy, so
// a dual-stack client could reach an old IPv6 address. A pinned name (exact
// or wildcard) is answered by its pin alone in an outage, also at the end of
// a learned CNAME chain.
func TestPinOwnsItsName(t *testing.T) {
	t.Parallel()
	up := startZoneUpstream(t, map[string][]string{
		"shop.tickets.test./A":        {"shop.tickets.test. A 198.51.100.1"},
		"shop.tickets.test./AAAA":     {"shop.tickets.test. AAAA 2001:db8::bad"},
		"shop.tickets.test./TXT":      {`shop.tickets.test. TXT "v=old"`},
		"www.tickets.test./A":         {"www.tickets.test. CNAME shop.tickets.test.", "shop.tickets.test. A 198.51.100.1"},
		"www.tickets.test./AAAA":      {"www.tickets.test. CNAME shop.tickets.test.", "shop.tickets.test. AAAA 2001:db8::bad"},
		"x.cdn.tickets.test./TXT":     {`x.cdn.tickets.test. TXT "old"`},
		"x.cdn.tickets.test./AAAA":    {"x.cdn.tickets.test. AAAA 2001:db8::bad:1"},
		"edge.cdn.tickets.test./AAAA": {"edge.cdn.tickets.test. AAAA 2001:db8::bad:2"},
		"learned.tickets.test./A":     {"learned.tickets.test. A 198.51.100.9"},
	})
	r, addr := startResolver(t, pinownConfig(up.addr), nil)
	type q struct {
		name  string
		qtype uint16
	}
	asked := []q{{"shop.tickets.test", dns.TypeA}, {"shop.tickets.test", dns.TypeAAAA}, {"shop.tickets.test", dns.TypeTXT},
		{"www.tickets.test", dns.TypeA}, {"www.tickets.test", dns.TypeAAAA}, {"x.cdn.tickets.test", dns.TypeTXT},
		{"x.cdn.tickets.test", dns.TypeAAAA}, {"edge.cdn.tickets.test", dns.TypeAAAA}, {"learned.tickets.test", dns.TypeA}}
	for _, a := range asked { // healthy: live answers, learned
		if m := learnLive(t, addr, a.name, a.qtype); len(m.Answer) == 0 {
			t.Fatalf("healthy %s %s: %s; want the live answer", a.name, dns.TypeToString[a.qtype], describe(m))
		}
		if r.learned.get(dns.Fqdn(a.name), a.qtype, r.now(), r.cfg.Load().MaxStale) == nil {
			t.Fatalf("healthy %s %s: not learned, so this test proves nothing", a.name, dns.TypeToString[a.qtype])
		}
	}

	up.drop.Store(true)
	if m := ask(t, addr, "nobackup.tickets.test", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("upstream silent, no backup: %s; want SERVFAIL", describe(m))
	}
	waitState(t, r, StateOutage)

	for _, c := range []struct {
		name  string
		qtype uint16
		want  []string // answer records, TTL stale_ttl
		src   Source
	}{
		{"shop.tickets.test", dns.TypeA, []string{"shop.tickets.test. A 192.0.2.10", "shop.tickets.test. A 192.0.2.11"}, SourcePinned},
		{"shop.tickets.test", dns.TypeAAAA, nil, SourcePinned}, // the reported case
		{"Shop.Tickets.TEST", dns.TypeAAAA, nil, SourcePinned},
		{"shop.tickets.test", dns.TypeTXT, nil, SourcePinned},
		// learned chain into a pinned name: the pin owns shop's records
		{"www.tickets.test", dns.TypeA, []string{"www.tickets.test. CNAME shop.tickets.test.", "shop.tickets.test. A 192.0.2.10", "shop.tickets.test. A 192.0.2.11"}, SourcePinned},
		{"www.tickets.test", dns.TypeAAAA, []string{"www.tickets.test. CNAME shop.tickets.test."}, SourcePinned},
		// wildcard pin: types it does not list get no learned record
		{"x.cdn.tickets.test", dns.TypeTXT, nil, SourcePinned},
		{"x.cdn.tickets.test", dns.TypeAAAA, []string{"x.cdn.tickets.test. AAAA 2001:db8::20"}, SourcePinned},
		// an exact pin with A only owns its name against the wildcard's AAAA and the learned one
		{"edge.cdn.tickets.test", dns.TypeAAAA, nil, SourcePinned},
		// names without a pin keep their learned answers
		{"learned.tickets.test", dns.TypeA, []string{"learned.tickets.test. A 198.51.100.9"}, SourceLearned},
	} {
		m := ask(t, addr, c.name, c.qtype)
		got := rrStrings(t, m.Answer, 30)
		want := parseRRs(t, c.want, 30)
		if len(want) > 0 && c.name != strings.ToLower(c.name) {
			t.Fatal("test table: mixed-case names only for empty answers")
		}
		if m.Rcode != dns.RcodeSuccess || SourceFromEDE(m) != c.src || !slices.Equal(got, want) {
			t.Errorf("outage, %s %s: %s %q; want NOERROR from %s with %q", c.name, dns.TypeToString[c.qtype], describe(m), got, c.src, want)
		}
	}
}

// TestLearnOnlyOwnRecords: an answer teaches only the records owned by the
// asked name and its CNAME chain. The first case is the reported one:
// ponly1 answered with nothing but another name's address, which was then
// served for ponly1 in the outage.
func TestLearnOnlyOwnRecords(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string // asked for A
		upstr []string
		want  []string // learned and served in the outage; nil: nothing learned
	}{
		{"ponly1.tickets.test", []string{"bank.other.test. A 6.6.6.6"}, nil},
		{"mixed.tickets.test", []string{"bank.other.test. A 6.6.6.6", "mixed.tickets.test. A 198.51.100.2", "mixed.tickets.test. AAAA 2001:db8::2"},
			[]string{"mixed.tickets.test. A 198.51.100.2"}},
		{"chain.tickets.test", []string{ // out of order, with a stranger
			"edge.other.test. A 203.0.113.5", "bank.other.test. A 6.6.6.6",
			"a.cdn.other.test. CNAME edge.other.test.", "chain.tickets.test. CNAME a.cdn.other.test."},
			[]string{"chain.tickets.test. CNAME a.cdn.other.test.", "a.cdn.other.test. CNAME edge.other.test.", "edge.other.test. A 203.0.113.5"}},
		{"case.tickets.test", []string{"CASE.Tickets.TEST. CNAME Edge.Other.Test.", "EDGE.OTHER.TEST. A 203.0.113.6"},
			[]string{"case.tickets.test. CNAME edge.other.test.", "edge.other.test. A 203.0.113.6"}},
		{"www.old.tickets.test", []string{ // DNAME with the CNAME synthesized by the server (RFC 6672)
			"old.tickets.test. DNAME new.other.test.", "www.old.tickets.test. CNAME www.new.other.test.", "www.new.other.test. A 203.0.113.7"},
			[]string{"www.old.tickets.test. CNAME www.new.other.test.", "www.new.other.test. A 203.0.113.7"}},
		{"www.old2.tickets.test", []string{ // DNAME without it: synthesized here
			"old2.tickets.test. DNAME new.other.test.", "www.new.other.test. A 203.0.113.8"},
			[]string{"www.old2.tickets.test. CNAME www.new.other.test.", "www.new.other.test. A 203.0.113.8"}},
		{"evil.tickets.test", []string{"other.test. DNAME bank.other.test.", "bank.other.test. A 6.6.6.6"}, nil},
		{"dangle.tickets.test", []string{"dangle.tickets.test. CNAME nowhere.other.test.", "bank.other.test. A 6.6.6.6"}, nil},
		{"loop.tickets.test", []string{"loop.tickets.test. CNAME loop2.tickets.test.", "loop2.tickets.test. CNAME loop.tickets.test."}, nil},
		{"two.tickets.test", []string{"two.tickets.test. CNAME a.other.test.", "two.tickets.test. CNAME b.other.test.", "a.other.test. A 6.6.6.6", "b.other.test. A 6.6.6.7"}, nil},
		{"class.tickets.test", []string{"class.tickets.test. CH A 6.6.6.6"}, nil},
	}
	zone := map[string][]string{}
	for _, c := range cases {
		zone[c.name+"./A"] = c.upstr
	}
	up := startZoneUpstream(t, zone)
	r, addr := startResolver(t, pinownConfig(up.addr), nil)
	for _, c := range cases {
		if m := learnLive(t, addr, c.name, dns.TypeA); len(m.Answer) != len(c.upstr) {
			t.Fatalf("healthy %s: %s; want upstream's answer passed on as it is", c.name, describe(m))
		}
	}
	up.drop.Store(true)
	ask(t, addr, "nobackup.tickets.test", dns.TypeA)
	waitState(t, r, StateOutage)

	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	for i, m := range askAll(addr, names) {
		c := cases[i]
		if m == nil {
			t.Fatalf("outage, %s: no answer", c.name)
		}
		got := rrStrings(t, m.Answer, 30)
		if c.want == nil {
			if SourceFromEDE(m) == SourceLearned || len(m.Answer) != 0 || r.learned.known(c.name+".", r.now(), r.cfg.Load().MaxStale) {
				t.Errorf("outage, %s: %s %q; want nothing learned (no backup: SERVFAIL)", c.name, describe(m), got)
			}
			continue
		}
		want := parseRRs(t, c.want, 30)
		if SourceFromEDE(m) != SourceLearned || !slices.Equal(got, want) {
			t.Errorf("outage, %s: %s %q; want learned %q", c.name, describe(m), got, want)
		}
	}
	if s := r.Status(); !slices.Contains(s.NoBackup, "ponly1.tickets.test.") {
		t.Errorf("ponly1 has no backup but NoBackup is %v", s.NoBackup)
	}
}

// TestOwnRecordsTypes: the chain rule for other question types.
func TestOwnRecordsTypes(t *testing.T) {
	t.Parallel()
	rrs := func(ss ...string) []dns.RR {
		var out []dns.RR
		for _, s := range ss {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rr)
		}
		return out
	}
	for _, c := range []struct {
		qname   string
		qtype   uint16
		in      []dns.RR
		want    int // records kept; 0: nil
		dropped int
	}{
		{"a.t.", dns.TypeCNAME, rrs("a.t. CNAME b.t.", "b.t. A 192.0.2.1"), 1, 1},
		{"a.old.t.", dns.TypeCNAME, rrs("old.t. DNAME new.t."), 1, 1},
		{"old.t.", dns.TypeDNAME, rrs("old.t. DNAME new.t."), 1, 0},
		{"a.t.", dns.TypeTXT, rrs(`a.t. TXT "x"`, `b.t. TXT "y"`), 1, 1},
		{"a.t.", dns.TypeA, rrs("a.t. A 192.0.2.1", "a.t. RRSIG A 8 2 60 20300101000000 20200101000000 1 t. AAAA"), 1, 0},
		{"a.t.", dns.TypeA, rrs("a.t. 2147483648 A 192.0.2.1"), 0, 1},
		{"a.t.", dns.TypeA, rrs("a.t. CNAME a.t."), 0, 1},
	} {
		out, dropped := ownRecords(c.qname, c.qtype, c.in)
		if len(out) != c.want || dropped != c.dropped || (c.want == 0) != (out == nil) {
			t.Errorf("ownRecords(%s %s, %v) = %v, %d dropped; want %d kept, %d dropped", c.qname, dns.TypeToString[c.qtype], c.in, out, dropped, c.want, c.dropped)
		}
	}
}

// TestLearnedFileCheckedAtStart: a learned.json with the reported foreign
// record (as an older dnspin learned it), an entry dated a year ahead and a
// good entry; the resolver starts with upstream silent and serves only the
// good one.
func TestLearnedFileCheckedAtStart(t *testing.T) {
	t.Parallel()
	up := startZoneUpstream(t, nil)
	up.drop.Store(true)
	clock := newClock()
	dir := t.TempDir()
	at := clock.Now().Add(-time.Hour).Format(time.RFC3339)
	ahead := clock.Now().AddDate(1, 0, 0).Format(time.RFC3339)
	os.WriteFile(filepath.Join(dir, learnedFileName), []byte(`{"version":1,"answers":[
		{"name":"ponly1.tickets.test.","type":"A","at":"`+at+`","rrs":["bank.other.test. 60 IN A 6.6.6.6"]},
		{"name":"ahead.tickets.test.","type":"A","at":"`+ahead+`","rrs":["ahead.tickets.test. 60 IN A 6.6.6.7"]},
		{"name":"ok.tickets.test.","type":"A","at":"`+at+`","rrs":["ok.tickets.test. 60 IN A 198.51.100.1","bank.other.test. 60 IN A 6.6.6.6"]}]}`), 0o644)
	cfg := testConfig(up.addr)
	cfg.StateDir = dir
	cfg.Mode = ModePinned
	r, addr := startResolver(t, cfg, clock)
	if s := r.Status(); s.Learned != 1 {
		t.Errorf("%d learned names after start; want 1", s.Learned)
	}
	if m := ask(t, addr, "ok.tickets.test", dns.TypeA); SourceFromEDE(m) != SourceLearned || addrsOf(m) != "198.51.100.1" {
		t.Errorf("ok: %s; want learned 198.51.100.1 alone", describe(m))
	}
	for _, name := range []string{"ponly1.tickets.test", "ahead.tickets.test"} {
		if m := ask(t, addr, name, dns.TypeA); SourceFromEDE(m) == SourceLearned || len(m.Answer) != 0 {
			t.Errorf("%s: %s; want no learned answer (SERVFAIL: upstream silent)", name, describe(m))
		}
	}
}

// FuzzLearnable: whatever upstream sends, what is learned is a chain from
// the asked name: each record is owned by the name or a CNAME target before
// it, it ends in the asked type, and it fits the byte bound.
func FuzzLearnable(f *testing.F) {
	for _, ss := range [][]string{
		{"a.t. A 192.0.2.1"},
		{"a.t. CNAME b.t.", "b.t. A 192.0.2.1", "c.t. A 6.6.6.6"},
		{"o.t. DNAME n.t.", "a.o.t. A 6.6.6.6"},
		{"a.t. CNAME a.t."},
	} {
		m := new(dns.Msg)
		m.SetQuestion("a.t.", dns.TypeA)
		m.Response = true
		for _, s := range ss {
			rr, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		m := new(dns.Msg)
		if m.Unpack(pkt) != nil {
			return
		}
		out := learnable(m)
		if out == nil {
			return
		}
		q := m.Question[0]
		owners := map[string]bool{strings.ToLower(q.Name): true}
		for i, rr := range out {
			h := rr.Header()
			if !owners[h.Name] {
				t.Fatalf("record %d %v: owner not on the chain from %s in %v", i, rr, q.Name, out)
			}
			if c, ok := rr.(*dns.CNAME); ok && i < len(out)-1 {
				owners[c.Target] = true
			}
		}
		if last := out[len(out)-1].Header().Rrtype; last != q.Qtype || rrsLen(out) > maxLearnedRR {
			t.Fatalf("learned %v for %s %s", out, q.Name, dns.TypeToString[q.Qtype])
		}
	})
}
