package resolver

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// backupAsker asks a resolver without sockets, the way the UDP readers do:
// fastAnswer first, then the full path.
type backupAsker struct {
	t   *testing.T
	r   *Resolver
	key []byte
}

// query packs a query for name (spelled as given: 0x20 clients mix case).
func backupQuery(t *testing.T, name string, qtype uint16, id uint16, edns bool) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	if edns {
		m.SetEdns0(1232, false)
	}
	p, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fast answers pkt from the fast path only; nil when it passes.
func (a *backupAsker) fast(pkt []byte) (*dns.Msg, Source) {
	a.t.Helper()
	out, src := a.r.fastAnswer(nil, a.key, pkt, false, a.r.now())
	if out == nil {
		return nil, ""
	}
	return a.unpack(out), sources[src]
}

// slow answers pkt by the full path (unpacked query, decide).
func (a *backupAsker) slow(pkt []byte) *dns.Msg {
	a.t.Helper()
	out := a.r.slowAnswer(context.Background(), pkt, false)
	if out == nil {
		a.t.Fatal("no answer")
	}
	return a.unpack(out)
}

func (a *backupAsker) unpack(b []byte) *dns.Msg {
	a.t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		a.t.Fatalf("answer does not unpack: %v", err)
	}
	return m
}

func newBackupAsker(t *testing.T, cfg Config, clock *fakeClock) *backupAsker {
	t.Helper()
	r, err := New(cfg, Options{Logger: testLogger(t), Now: clock.Now, Upstreams: memUpstream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return &backupAsker{t: t, r: r, key: make([]byte, 0, 300)}
}

// answerStrings lists m's answer records as "name TYPE data TTL".
func answerStrings(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		h := *rr.Header()
		s := h.Name + " " + dns.TypeToString[h.Rrtype] + " "
		switch v := rr.(type) {
		case *dns.A:
			s += v.A.String()
		case *dns.AAAA:
			s += v.AAAA.String()
		case *dns.CNAME:
			s += v.Target
		}
		out = append(out, s+" ttl="+strconv.FormatUint(uint64(h.Ttl), 10))
	}
	return out
}

// TestPackedBackupAnswers: a pinned answer is packed at its first query
// and answered by the fast path from then on, byte for byte as the full
// path answers it: the client's ID, RD and name case (0x20), TTL
// stale_ttl, the "dnspin: pinned" EDE only when the client sent EDNS, and
// counted as pinned.
func TestPackedBackupAnswers(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := testConfig("192.0.2.53:53")
	cfg.Mode = ModePinned
	cfg.StaleTTL = 42 * time.Second
	a := newBackupAsker(t, cfg, clock)

	for _, edns := range []bool{true, false} {
		pkt := backupQuery(t, "ShOp.TiCkEtS.tEsT.", dns.TypeA, 0xBEEF, edns)
		if m, _ := a.fast(pkt); m != nil && edns {
			t.Fatalf("fast path answered before the backup was packed: %v", m)
		}
		slow := a.slow(pkt)
		fast, src := a.fast(pkt)
		if fast == nil {
			t.Fatalf("edns=%v: the packed pin is not answered by the fast path", edns)
		}
		if src != SourcePinned {
			t.Errorf("edns=%v: fast path counts the answer as %q, want pinned", edns, src)
		}
		sb, _ := slow.Pack()
		fb, _ := fast.Pack()
		if !bytes.Equal(sb, fb) {
			t.Errorf("edns=%v: fast and full path differ:\nfull %v\nfast %v", edns, slow, fast)
		}
		for _, m := range []*dns.Msg{slow, fast} {
			if m.Id != 0xBEEF || !m.RecursionDesired || !m.Response || !m.RecursionAvailable || m.Rcode != dns.RcodeSuccess {
				t.Errorf("edns=%v: header %+v; want ID 0xBEEF, RD, QR, RA, NOERROR", edns, m.MsgHdr)
			}
			if m.Question[0].Name != "ShOp.TiCkEtS.tEsT." {
				t.Errorf("edns=%v: question %q; want the client's spelling", edns, m.Question[0].Name)
			}
			want := []string{"ShOp.TiCkEtS.tEsT. A 192.0.2.10 ttl=42", "ShOp.TiCkEtS.tEsT. A 192.0.2.11 ttl=42"}
			if got := answerStrings(m); !slices.Equal(got, want) {
				t.Errorf("edns=%v: answer %q; want %q", edns, got, want)
			}
			if src := SourceFromEDE(m); edns && src != SourcePinned || !edns && m.IsEdns0() != nil {
				t.Errorf("edns=%v: OPT %v, source %q; want the pinned EDE only with EDNS", edns, m.IsEdns0(), src)
			}
		}
	}
	// Counted as pinned through servePacket, the UDP readers' path.
	before := a.r.Status().Answers[SourcePinned]
	pkt := backupQuery(t, "shop.tickets.test.", dns.TypeA, 7, true)
	if a.r.servePacket(context.Background(), nil, a.key, pkt, false) == nil {
		t.Fatal("no answer")
	}
	if got := a.r.Status().Answers[SourcePinned]; got != before+1 {
		t.Errorf("pinned answers %d after one more, before %d", got, before)
	}

	// In auto mode with upstream healthy the packed backup is not used:
	// live answers come first.
	a.r.SetMode(ModeAuto)
	if m, src := a.fast(pkt); m != nil {
		t.Errorf("auto mode, healthy: fast path answered %q %v; want the full path (live answer first)", src, m.Answer)
	}
	// An outage declared: backups again, from the same packed answer.
	a.r.health.set(StateOutage, "test")
	if m, src := a.fast(pkt); m == nil || src != SourcePinned {
		t.Errorf("outage declared: fast path %v %q; want the packed pin", m, src)
	}
	// Passthrough: never.
	a.r.SetMode(ModePassthrough)
	if m, src := a.fast(pkt); m != nil {
		t.Errorf("passthrough: fast path answered %q %v; want no backups", src, m.Answer)
	}
}

// TestPackedBackupsFollowChanges: a packed backup is built again when what
// it was built from changes: the config's pins, the bundle's, the TLS
// verification order of pinned addresses, learned answers and their age.
func TestPackedBackupsFollowChanges(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := testConfig("192.0.2.53:53")
	cfg.Mode = ModePinned
	a := newBackupAsker(t, cfg, clock)
	pkt := backupQuery(t, "shop.tickets.test.", dns.TypeA, 1, true)

	// answer asks the way the UDP readers do and returns the answer's
	// records and source.
	answer := func(what string) ([]string, Source) {
		t.Helper()
		if m, src := a.fast(pkt); m != nil {
			return answerStrings(m), src
		}
		m := a.slow(pkt)
		if f, _ := a.fast(pkt); f == nil {
			t.Fatalf("%s: not packed after the full path answered", what)
		}
		return answerStrings(m), SourceFromEDE(m)
	}
	expect := func(what string, want []string, src Source) {
		t.Helper()
		// Twice: the second answer comes from the packed backup.
		for range 2 {
			got, s := answer(what)
			if !slices.Equal(got, want) || s != src {
				t.Fatalf("%s: %q from %q; want %q from %q", what, got, s, want, src)
			}
		}
	}
	expect("config pins", []string{"shop.tickets.test. A 192.0.2.10 ttl=30", "shop.tickets.test. A 192.0.2.11 ttl=30"}, SourcePinned)

	cfg.Pins = slices.Clone(cfg.Pins)
	cfg.Pins[0].A = []netip.Addr{netip.MustParseAddr("192.0.2.12")}
	if err := a.r.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	expect("pin changed by reload", []string{"shop.tickets.test. A 192.0.2.12 ttl=30"}, SourcePinned)

	// A bundle pin for a name the config does not pin.
	bpkt := backupQuery(t, "box.tickets.test.", dns.TypeA, 2, true)
	if m := a.slow(bpkt); SourceFromEDE(m) == SourcePinned {
		t.Fatalf("box.tickets.test pinned before the bundle: %v", m)
	}
	a.r.SetBundlePins([]Pin{{Name: "box.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.77")}}})
	if m, _ := a.fast(bpkt); m != nil {
		t.Errorf("bundle pins changed: fast path still answers the old answer %v", m.Answer)
	}
	if m := a.slow(bpkt); !slices.Equal(answerStrings(m), []string{"box.tickets.test. A 192.0.2.77 ttl=30"}) {
		t.Errorf("bundle pin: %q", answerStrings(m))
	}

	// Verification: the first address failed, the second passed: the
	// failed one is left out, the verified one answered.
	cfg.Pins[0].A = []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}
	if err := a.r.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	expect("before verification", []string{"shop.tickets.test. A 192.0.2.10 ttl=30", "shop.tickets.test. A 192.0.2.11 ttl=30"}, SourcePinned)
	a.r.SetPinVerification(map[PinAddr]PinState{
		{Name: "shop.tickets.test", Addr: netip.MustParseAddr("192.0.2.10")}: PinFailed,
		{Name: "shop.tickets.test", Addr: netip.MustParseAddr("192.0.2.11")}: PinVerified,
	})
	expect("one failed, one verified", []string{"shop.tickets.test. A 192.0.2.11 ttl=30"}, SourcePinned)
	a.r.SetPinVerification(map[PinAddr]PinState{
		{Name: "shop.tickets.test", Addr: netip.MustParseAddr("192.0.2.10")}: PinVerified,
	})
	expect("the other verified", []string{"shop.tickets.test. A 192.0.2.10 ttl=30", "shop.tickets.test. A 192.0.2.11 ttl=30"}, SourcePinned)

	// Learned answers: served with TTL stale_ttl, replaced when learned
	// anew, and no longer once older than max_stale.
	pkt = backupQuery(t, "LeArNeD.tickets.test.", dns.TypeA, 3, true)
	learn := func(addr string) {
		rr := &dns.A{Hdr: dns.RR_Header{Name: "learned.tickets.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.ParseIP(addr)}
		a.r.learned.put("learned.tickets.test.", dns.TypeA, []dns.RR{rr}, clock.Now())
	}
	learn("198.51.100.1")
	expect("learned", []string{"LeArNeD.tickets.test. A 198.51.100.1 ttl=30"}, SourceLearned)
	learn("198.51.100.2")
	expect("learned anew", []string{"LeArNeD.tickets.test. A 198.51.100.2 ttl=30"}, SourceLearned)
	clock.Advance(cfg.MaxStale)
	expect("learned, max_stale old", []string{"LeArNeD.tickets.test. A 198.51.100.2 ttl=30"}, SourceLearned)
	clock.Advance(time.Second)
	if m, src := a.fast(pkt); m != nil {
		t.Fatalf("learned answer older than max_stale: fast path still answers %q from %q", answerStrings(m), src)
	}
	if m := a.slow(pkt); SourceFromEDE(m) == SourceLearned {
		t.Fatalf("learned answer older than max_stale still served: %q", answerStrings(m))
	}
}

// TestPackedBackupsOverUDP: over a real socket (the batched reader on
// Linux), pinned answers after the first come from the packed backup with
// the client's name case and TTL stale_ttl, and are counted as pinned, not
// as cache hits.
func TestPackedBackupsOverUDP(t *testing.T) {
	t.Parallel()
	cfg := testConfig("127.0.0.1:9") // never asked: pinned mode
	cfg.Mode = ModePinned
	cfg.StaleTTL = 42 * time.Second
	r, addr := startResolver(t, cfg, nil)
	const n = 20
	for i := range n {
		m := ask(t, addr, "sHoP.tickets.TEST", dns.TypeA)
		want := []string{"sHoP.tickets.TEST. A 192.0.2.10 ttl=42", "sHoP.tickets.TEST. A 192.0.2.11 ttl=42"}
		if got := answerStrings(m); !slices.Equal(got, want) || SourceFromEDE(m) != SourcePinned {
			t.Fatalf("query %d: %q from %q; want %q from pinned", i, got, SourceFromEDE(m), want)
		}
	}
	if f, _ := r.fastAnswer(nil, make([]byte, 0, 300), backupQuery(t, "shop.tickets.test.", dns.TypeA, 9, true), false, r.now()); f == nil {
		t.Fatal("the pinned answer is not packed after the queries")
	}
	st := r.Status()
	if st.Answers[SourcePinned] != n || st.Answers[SourceCache] != 0 {
		t.Errorf("answers pinned %d, cache %d; want %d and 0", st.Answers[SourcePinned], st.Answers[SourceCache], n)
	}
}
