package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/dnsname"
)

// canary is the name browsers ask before turning on their own DNS over
// HTTPS; NXDOMAIN keeps them on the system path, where pins apply.
const canary = "use-application-dns.net."

// ServeDNS answers one query (dns.Handler): the TCP listeners use it, and
// so may tests. Queries that deserve no answer (replies) are dropped.
func (r *Resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	defer r.survive("query", func() {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	tcp := false
	if a := w.LocalAddr(); a != nil && a.Network() == "tcp" {
		tcp = true
	}
	if !r.cfg.Load().allows(w.RemoteAddr()) {
		if wq, _, _ := queryOf(req, tcp); !req.Response {
			w.Write(r.reply(req, &wq, dns.RcodeRefused, nil, nil))
			r.count(SourceLocal)
		}
		return
	}
	ctx, done := r.admit(r.ctx)
	defer done()
	if out, _ := r.answer(ctx, req, tcp); out != nil {
		w.Write(out)
	}
}

// servePacket answers one raw query the way the UDP listeners do (they
// split these steps between the reading goroutine and slowUDP to batch
// system calls; FuzzHandler and the benchmarks call it). Cache hits are
// answered from the packet without unpacking it; anything else goes to
// slowAnswer.
func (r *Resolver) servePacket(ctx context.Context, dst, keyBuf, pkt []byte, tcp bool) []byte {
	if out, src := r.fastAnswer(dst, keyBuf, pkt, tcp, r.now()); out != nil {
		r.counts[src].Add(1)
		return out
	}
	return r.slowAnswer(ctx, pkt, tcp)
}

// slowAnswer unpacks a raw query that is not a plain cache hit and answers
// it; unparseable queries get FORMERR when their header can be read.
func (r *Resolver) slowAnswer(ctx context.Context, pkt []byte, tcp bool) []byte {
	q := new(dns.Msg)
	if err := q.Unpack(pkt); err != nil {
		b := formerr(pkt)
		if b != nil {
			r.count(SourceLocal)
		}
		return b
	}
	out, _ := r.answer(ctx, q, tcp)
	return out
}

// answer is docs/architecture.md's "How a query is answered", top to bottom. It returns the
// packed reply (nil: drop the query) and where the answer came from.
func (r *Resolver) answer(ctx context.Context, q *dns.Msg, tcp bool) ([]byte, Source) {
	out, src := r.decide(ctx, q, tcp)
	if out != nil {
		r.count(src)
	}
	return out, src
}

func (r *Resolver) decide(ctx context.Context, q *dns.Msg, tcp bool) ([]byte, Source) {
	// Bad input first: never answer a reply (that is how reflection loops
	// start), refuse what a stub resolver has no business asking.
	if q.Response {
		return nil, ""
	}
	wq, key, err := queryOf(q, tcp)
	switch {
	case err != nil:
		return r.reply(q, &wq, dns.RcodeFormatError, nil, nil), SourceLocal
	case badOPT(q) != "":
		wq.edns = false // an OPT record we cannot trust is not echoed
		return r.reply(q, &wq, dns.RcodeFormatError, nil, nil), SourceLocal
	case q.Opcode == dns.OpcodeQuery && (len(q.Answer) > 0 || len(q.Ns) > 0):
		// RFC 1035 4.1.1: a standard query carries no answer or authority
		// records (unbound and BIND answer them with FORMERR too).
		return r.reply(q, &wq, dns.RcodeFormatError, nil, nil), SourceLocal
	case q.IsEdns0() != nil && q.IsEdns0().Version() != 0:
		return r.reply(q, &wq, dns.RcodeBadVers, nil, nil), SourceLocal
	case q.Opcode != dns.OpcodeQuery:
		return r.reply(q, &wq, dns.RcodeNotImplemented, nil, nil), SourceLocal
	}
	qq := q.Question[0]
	switch {
	case qq.Qclass != dns.ClassINET:
		return r.reply(q, &wq, dns.RcodeRefused, nil, nil), SourceLocal
	case qq.Qtype == dns.TypeANY: // RFC 8482: one small record instead of everything
		hinfo := &dns.HINFO{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600}, Cpu: "RFC8482"}
		return r.reply(q, &wq, dns.RcodeSuccess, []dns.RR{hinfo}, nil), SourceLocal
	case qq.Qtype == dns.TypeAXFR || qq.Qtype == dns.TypeIXFR:
		return r.reply(q, &wq, dns.RcodeRefused, nil, nil), SourceLocal
	case qq.Qtype == dns.TypeOPT || qq.Qtype == dns.TypeTSIG || qq.Qtype == dns.TypeTKEY:
		return r.reply(q, &wq, dns.RcodeFormatError, nil, nil), SourceLocal
	}
	name := strings.ToLower(qq.Name)
	if name == canary {
		return r.reply(q, &wq, dns.RcodeNameError, nil, ede(dns.ExtendedErrorCodeFiltered, SourceLocal)), SourceLocal
	}

	c := r.cfg.Load()
	mode := r.Mode()
	protected := dnsname.Under(name, c.domains)
	a := &asked{q: q, wq: &wq, key: key, name: name, qtype: qq.Qtype, protected: protected, c: c}

	// 1 and 4: names that are not protected, and passthrough mode: a plain
	// forwarder with serve-stale after client_timeout.
	if !protected || mode == ModePassthrough {
		return r.forward(ctx, a, c.ClientTimeout, r.stale)
	}
	switch r.protectedPath(mode) {
	case pathBackupOnly:
		// 3: outage declared, or pinned mode: pin or learned answer at
		// once, without asking upstream (probes decide when it is over).
		if out, src := r.backup(a); out != nil {
			return out, src
		}
		return r.forward(ctx, a, c.ClientTimeout, r.stale) // no backup: upstream is the only hope
	case pathBackupFirst:
		// 3: degraded (the platform's DNS failed lately or answers slower
		// than answer_budget): a fresh live answer from the cache, else the
		// backup at once while a live lookup refreshes cache and learned
		// answers in the background.
		now := r.now()
		if e := r.cache.get(key); e != nil && e.fresh(now) {
			return r.fromEntry(e, a.wq, now, 0, nil), SourceCache
		}
		if out, src := r.backup(a); out != nil {
			r.startFlight(ctx, a) // nil over capacity: the backup answers anyway
			return out, src
		}
	}
	// 2: auto mode, normal or recovering (and degraded names without a
	// backup): live answer within answer_budget, else pin, learned or stale.
	return r.forward(ctx, a, c.AnswerBudget, func(a *asked) ([]byte, Source) {
		if out, src := r.backup(a); out != nil {
			return out, src
		}
		return r.stale(a)
	})
}

// badOPT names what is wrong with q's OPT records ("" if nothing) that
// miekg/dns parses anyway: RFC 6891 6.1.1 allows one OPT record, in the
// additional section, owned by the root name ("more than one OPT RR: a
// FORMERR MUST be returned"). fastAnswer never takes such packets (it wants
// ANCOUNT = NSCOUNT = 0 and at most one root-owned OPT), so both paths agree.
func badOPT(q *dns.Msg) string {
	opts := 0
	for _, rr := range q.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
			if rr.Header().Name != "." {
				return "OPT record not owned by the root name"
			}
		}
	}
	if opts > 1 {
		return "more than one OPT record"
	}
	for _, sec := range [][]dns.RR{q.Answer, q.Ns} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				return "OPT record outside the additional section"
			}
		}
	}
	return ""
}

// How protected names are answered, by mode and the platform's state.
const (
	pathLiveFirst   = iota // live within answer_budget, else the backup
	pathBackupFirst        // fresh cache, else the backup at once and a live refresh
	pathBackupOnly         // the backup at once, upstream not asked
)

func (r *Resolver) protectedPath(mode Mode) int {
	switch mode {
	case ModePinned:
		return pathBackupOnly
	case ModeAuto:
		switch r.health.current() {
		case StateOutage:
			return pathBackupOnly
		case StateDegraded:
			return pathBackupFirst
		}
	}
	return pathLiveFirst
}

// asked is one query on its way through the algorithm.
type asked struct {
	q         *dns.Msg
	wq        *wireQuery
	key       []byte
	name      string // lower-case FQDN
	qtype     uint16
	protected bool
	c         *settings
}

// forward answers from the cache, else from upstream. When upstream has not
// answered within budget, or failed, fallback gets its turn. When it has
// nothing, the query waits for upstream until client_timeout has passed in
// all, then gets SERVFAIL: never silence, and soon enough that a stub
// resolver still tries its next server. When every upstream is known not
// to answer at all, fallback and SERVFAIL come at once: waiting cannot
// help, and a stub resolver moves on sooner. Either way the upstream
// exchange goes on (resolveTimeout) and fills the cache for the next query.
func (r *Resolver) forward(ctx context.Context, a *asked, budget time.Duration, fallback func(*asked) ([]byte, Source)) ([]byte, Source) {
	now := r.now()
	if e := r.cache.get(a.key); e != nil && e.fresh(now) {
		return r.fromEntry(e, a.wq, now, 0, nil), SourceCache
	}
	f := r.startFlight(ctx, a)
	if f == nil { // over capacity: answer now with what we have
		if out, src := fallback(a); out != nil {
			return out, src
		}
		return r.servfail(a, errOverCapacity), SourceServfail
	}
	if a.c.upstreamsDown() {
		select {
		case <-f.done:
		default:
			if out, src := fallback(a); out != nil {
				return out, src
			}
			return r.servfail(a, errors.New("no upstream server answers (liveness checks unanswered)")), SourceServfail
		}
	}
	t := r.getTimer(budget)
	defer r.putTimer(t)
	select {
	case <-f.done:
	case <-t.C:
		if a.protected {
			r.health.miss(a.name + " " + dns.TypeToString[a.qtype] + ": no answer within " + budget.String())
		}
		if out, src := fallback(a); out != nil {
			return out, src
		}
		if rest := a.c.ClientTimeout - budget; rest > 0 {
			t.Reset(rest)
			select {
			case <-f.done:
			case <-t.C:
			case <-ctx.Done():
			}
		}
		select {
		case <-f.done:
		default:
			return r.servfail(a, fmt.Errorf("no answer from upstream within client_timeout (%v)", a.c.ClientTimeout)), SourceServfail
		}
	case <-ctx.Done():
		return r.servfail(a, ctx.Err()), SourceServfail
	}
	if f.err == nil { // as old as when it came: no clock read for the TTLs
		return r.fromEntry(f.e, a.wq, time.Unix(0, f.e.stored), 0, nil), SourceUpstream
	}
	if out, src := fallback(a); out != nil {
		return out, src
	}
	return r.servfail(a, f.err), SourceServfail
}

// getTimer is time.NewTimer(d) from r.timers, which the queries that wait
// on upstream reuse: a miss then costs no new timer. Since Go 1.23 a
// stopped or reset timer delivers no stale value, so a timer from the pool
// is as good as a new one. putTimer gives it back.
func (r *Resolver) getTimer(d time.Duration) *time.Timer {
	if t, ok := r.timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func (r *Resolver) putTimer(t *time.Timer) {
	t.Stop()
	r.timers.Put(t)
}

// backup is the answer from a pin, else a learned answer. A pinned name
// (exact or wildcard) is answered by its pin alone: a type the pin does not
// list gets NOERROR without records, never a record learned for the name,
// which may be an address the operators have since moved away from. A
// pinned or learned name asked for a type it has nothing for gets NOERROR
// without records at once, so clients move on to the other address family.
//
// The answer is packed once and kept in r.backups under the query's cache
// key, so the next one is copied and patched like a cache hit, also by
// fastAnswer while backups are all protected names get (pinned mode, or an
// outage). Each packed backup carries the backupGen it was built under:
// changes of pins, domains, pin verification or learned answers count it
// up, and older ones are built again.
func (r *Resolver) backup(a *asked) ([]byte, Source) {
	now := r.now()
	ttl := uint32(a.c.StaleTTL / time.Second)
	if e := r.backups.get(a.key); e != nil && r.backupValid(e, now) {
		return r.fromBackup(e, a.wq, now, ttl)
	}
	gen := r.backupGen.Load() // before reading what the answer is built from
	answer, src, until := r.buildBackup(a, now, ttl)
	if src == "" {
		r.noteNoBackup(a.name)
		return nil, ""
	}
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Opcode: dns.OpcodeQuery, RecursionAvailable: true},
		Compress: true,
		Question: []dns.Question{{Name: a.name, Qtype: a.qtype, Qclass: dns.ClassINET}},
		Answer:   answer,
	}
	// The EDE option (RFC 8914 2): code, length, info code, text.
	x := ede(dns.ExtendedErrorCodeStaleAnswer, src)
	opts := binary.BigEndian.AppendUint16(nil, dns.EDNS0EDE)
	opts = binary.BigEndian.AppendUint16(opts, uint16(2+len(x.ExtraText)))
	opts = binary.BigEndian.AppendUint16(opts, x.InfoCode)
	opts = append(opts, x.ExtraText...)
	e, err := packEntry(m, opts)
	if err != nil { // records we cannot pack are not answered from packed bytes
		return r.reply(a.q, a.wq, dns.RcodeSuccess, answer, ede(dns.ExtendedErrorCodeStaleAnswer, src)), src
	}
	e.src = uint8(sourceIdx(src))
	e.gen = gen
	e.expires = math.MaxInt64
	if !until.IsZero() {
		e.expires = until.UnixNano() + 1 // served while now <= until
	}
	if r.cfg.Load() == a.c { // built from the settings in effect: keep it
		r.backups.put(string(a.key), e)
	}
	return r.fromBackup(e, a.wq, now, ttl)
}

// buildBackup finds the backup records for a: source "" when there are
// none. until is the last moment they may be served (zero: no end, pins).
func (r *Resolver) buildBackup(a *asked, now time.Time, ttl uint32) (answer []dns.RR, src Source, until time.Time) {
	c := a.c
	if p := c.pins.match(a.name); p != nil {
		return pinnedRRs(a.name, a.qtype, r.orderedPinAddrs(p, a.qtype), ttl), SourcePinned, time.Time{}
	}
	if rrs, u := r.learned.getUntil(a.name, a.qtype, now, c.MaxStale); rrs != nil {
		ans, src := r.learnedAnswer(c.pins, a, a.name, rrs, ttl)
		return ans, src, u
	}
	if u, ok := r.learned.knownUntil(a.name, now, c.MaxStale); ok {
		// Learned for another type only: no records rather than a wait, as
		// for pins (getaddrinfo waits for both families).
		return nil, SourceLearned, u
	}
	return nil, "", time.Time{}
}

// backupValid tells whether a packed backup may answer now.
func (r *Resolver) backupValid(e *entry, now time.Time) bool {
	return e.gen == r.backupGen.Load() && e.fresh(now)
}

// fromBackup answers from a packed backup: TTL stale_ttl, the EDE naming
// its source.
func (r *Resolver) fromBackup(e *entry, wq *wireQuery, now time.Time, ttl uint32) ([]byte, Source) {
	src := sources[e.src]
	out := e.appendReply(nil, wq, now, ttl)
	if len(out) > wq.maxSize { // too big for the client: truncate the slow way
		plain := *wq
		plain.edns = false
		m := new(dns.Msg)
		if err := m.Unpack(e.appendReply(nil, &plain, now, ttl)); err != nil {
			m = &dns.Msg{MsgHdr: dns.MsgHdr{Id: wq.id, Response: true, Rcode: dns.RcodeServerFailure}}
		}
		out = pack(m, wq, ede(dns.ExtendedErrorCodeStaleAnswer, src))
	}
	return out, src
}

// learnedAnswer copies learned records (in chain order) for the client:
// TTL stale_ttl, records of the asked name owned by qname (backup passes
// the lower-case name and packs the answer once; the client's spelling is
// patched into the copy each client gets). When the CNAME
// chain leads to a pinned name, the pin owns that name's records too: the
// chain is cut there and the pinned addresses follow (source pinned).
func (r *Resolver) learnedAnswer(pins *pinSet, a *asked, qname string, rrs []dns.RR, ttl uint32) ([]dns.RR, Source) {
	ans := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		rr = dns.Copy(rr)
		rr.Header().Ttl = ttl
		if rr.Header().Name == a.name {
			rr.Header().Name = qname
		}
		ans = append(ans, rr)
		if cn, ok := rr.(*dns.CNAME); ok && a.qtype != dns.TypeCNAME {
			if p := pins.match(cn.Target); p != nil {
				return append(ans, pinnedRRs(cn.Target, a.qtype, r.orderedPinAddrs(p, a.qtype), ttl)...), SourcePinned
			}
		}
	}
	return r.learnedVerdicts.Load().orderLearned(a.name, ans), SourceLearned
}

// stale answers from an expired cache entry younger than max_stale, with
// TTL stale_ttl (RFC 8767).
func (r *Resolver) stale(a *asked) ([]byte, Source) {
	e := r.cache.get(a.key)
	now := r.now()
	if e == nil || now.Sub(e.expiresAt()) > a.c.MaxStale {
		return nil, ""
	}
	if e.fresh(now) { // another query refreshed it meanwhile
		return r.fromEntry(e, a.wq, now, 0, nil), SourceCache
	}
	return r.fromEntry(e, a.wq, now, uint32(a.c.StaleTTL/time.Second), ede(dns.ExtendedErrorCodeStaleAnswer, SourceStale)), SourceStale
}

func (r *Resolver) servfail(a *asked, err error) []byte {
	r.log.Debug("SERVFAIL", "name", a.name, "type", dns.TypeToString[a.qtype], "err", err)
	text := "upstream failed"
	if err != nil {
		text = err.Error()
	}
	e := &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeNoReachableAuthority, ExtraText: "dnspin: servfail: " + trim(text, 200)}
	return r.reply(a.q, a.wq, dns.RcodeServerFailure, nil, e)
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ede is the Extended DNS Error (RFC 8914) that tells a client where an
// answer came from; `dnspin query` reads the source back from its text.
func ede(code uint16, src Source) *dns.EDNS0_EDE {
	return &dns.EDNS0_EDE{InfoCode: code, ExtraText: "dnspin: " + string(src)}
}

// SourceFromEDE reads the source back from an answer's Extended DNS Error,
// as `dnspin query` does. It returns "" when the answer carries none.
func SourceFromEDE(m *dns.Msg) Source {
	opt := m.IsEdns0()
	if opt == nil {
		return ""
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok && strings.HasPrefix(e.ExtraText, "dnspin: ") {
			s, _, _ := strings.Cut(strings.TrimPrefix(e.ExtraText, "dnspin: "), ":")
			return Source(s)
		}
	}
	return ""
}

// reply builds and packs an answer to q.
func (r *Resolver) reply(q *dns.Msg, wq *wireQuery, rcode int, answer []dns.RR, e *dns.EDNS0_EDE) []byte {
	m := &dns.Msg{
		MsgHdr: dns.MsgHdr{
			Id: q.Id, Response: true, Opcode: q.Opcode, Rcode: rcode,
			RecursionDesired: q.RecursionDesired, RecursionAvailable: true, CheckingDisabled: q.CheckingDisabled,
		},
		Answer: answer,
	}
	if len(q.Question) == 1 {
		m.Question = q.Question
	}
	return pack(m, wq, e)
}

// pack adds our OPT record when the client sent one, fits the reply to
// the client's size (TC set when records had to go) and packs it.
func pack(m *dns.Msg, wq *wireQuery, e *dns.EDNS0_EDE) []byte {
	if wq.edns {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(ednsUDPSize)
		opt.SetDo(wq.do)
		if e != nil {
			opt.Option = append(opt.Option, e)
		}
		m.Extra = append(m.Extra, opt)
	} else if m.Rcode > 0xF {
		m.Rcode = dns.RcodeFormatError // extended codes need an OPT record
	}
	m.Compress = true
	m.Truncate(wq.maxSize)
	b, err := m.Pack()
	if err != nil { // cannot happen for what we build; still never stay silent
		b = make([]byte, 12)
		binary.BigEndian.PutUint16(b, m.Id)
		b[2], b[3] = 0x80, 0x80|byte(dns.RcodeServerFailure)
	}
	return b
}

// fromEntry answers from a cached entry; ttl > 0 replaces its TTLs (stale).
func (r *Resolver) fromEntry(e *entry, wq *wireQuery, now time.Time, ttl uint32, ed *dns.EDNS0_EDE) []byte {
	if ed == nil {
		out := e.appendReply(nil, wq, now, ttl)
		if len(out) <= wq.maxSize {
			return out
		}
	}
	// too big for the client, or needs an EDE option: the slow way
	plain := *wq
	plain.edns = false
	m := new(dns.Msg)
	if err := m.Unpack(e.appendReply(nil, &plain, now, ttl)); err != nil {
		m = &dns.Msg{MsgHdr: dns.MsgHdr{Id: wq.id, Response: true, Rcode: dns.RcodeServerFailure}}
	}
	return pack(m, wq, ed)
}

// formerr answers a packet that could not be parsed, if its header at least
// is a query's.
func formerr(pkt []byte) []byte {
	if len(pkt) < 12 || pkt[2]&0x80 != 0 {
		return nil
	}
	b := make([]byte, 12)
	copy(b, pkt[:2])
	b[2] = 0x80 | pkt[2]&0x79 // QR, opcode and RD as asked
	b[3] = byte(dns.RcodeFormatError)
	return b
}

// queryOf extracts what the answer needs from a parsed query.
func queryOf(q *dns.Msg, tcp bool) (wireQuery, []byte, error) {
	wq := wireQuery{id: q.Id, rd: q.RecursionDesired, cd: q.CheckingDisabled}
	var udpSize uint16
	if opt := q.IsEdns0(); opt != nil {
		wq.edns, wq.do, udpSize = true, opt.Do(), opt.UDPSize()
	}
	wq.setMaxSize(udpSize, tcp)
	if len(q.Question) != 1 {
		return wq, nil, errors.New("not exactly one question")
	}
	qq := q.Question[0]
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(qq.Name, buf, 0, nil, false)
	if err != nil {
		return wq, nil, err
	}
	wq.name = buf[:n]
	return wq, appendKey(make([]byte, 0, n+5), wq.name, qq.Qtype, qq.Qclass, wq.keyFlags()), nil
}

// fastAnswer answers a cache hit, or a packed backup while protected names
// get only backups, straight from the query packet: it parses only the
// header, the question and an OPT record, copies the packed answer and
// patches ID, name case, flags and TTLs. Anything unusual returns nil and
// takes the full path. The caller passes the time (one clock read per batch
// of packets: on some virtual machines reading it costs more than the rest
// of a hit) and counts the answer: src is its index in sources.
func (r *Resolver) fastAnswer(dst, keyBuf, pkt []byte, tcp bool, now time.Time) ([]byte, int) {
	if len(pkt) < 17 || pkt[2]&0xFA != 0 { // QR, opcode, TC: not a plain query
		return nil, 0
	}
	be := binary.BigEndian
	if be.Uint16(pkt[4:]) != 1 || be.Uint16(pkt[6:]) != 0 || be.Uint16(pkt[8:]) != 0 {
		return nil, 0
	}
	ar := be.Uint16(pkt[10:])
	if ar > 1 {
		return nil, 0
	}
	off := 12
	for {
		l := int(pkt[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 { // compression in a question: leave it to the full parser
			return nil, 0
		}
		off += 1 + l
		if off >= len(pkt) {
			return nil, 0
		}
	}
	nameEnd := off
	if off+4 > len(pkt) {
		return nil, 0
	}
	qtype, qclass := be.Uint16(pkt[off:]), be.Uint16(pkt[off+2:])
	off += 4
	wq := wireQuery{id: be.Uint16(pkt), name: pkt[12:nameEnd], rd: pkt[2]&0x01 != 0, cd: pkt[3]&0x10 != 0}
	var udpSize uint16
	if ar == 1 {
		if off+11 > len(pkt) || pkt[off] != 0 || be.Uint16(pkt[off+1:]) != dns.TypeOPT || pkt[off+6] != 0 ||
			off+11+int(be.Uint16(pkt[off+9:])) != len(pkt) {
			return nil, 0
		}
		wq.edns, wq.do, udpSize = true, pkt[off+7]&0x80 != 0, be.Uint16(pkt[off+3:])
	} else if off != len(pkt) {
		return nil, 0
	}
	wq.setMaxSize(udpSize, tcp)
	key := appendKey(keyBuf[:0], wq.name, qtype, qclass, wq.keyFlags())
	var out []byte
	src := cacheIdx
	e := r.cache.get(key)
	if e != nil && !e.fresh(now) {
		e = nil
	}
	switch {
	case e != nil && !e.protected:
		out = e.appendReply(dst[:0], &wq, now, 0)
	case r.protectedPath(r.Mode()) != pathBackupOnly:
		if e == nil {
			return nil, 0
		}
		out = e.appendReply(dst[:0], &wq, now, 0)
	default:
		// Protected names get only backups (pinned mode, or an outage): a
		// packed pinned or learned answer. One exists only for a name that
		// was protected under the settings it was built with (backupGen).
		b := r.backups.get(key)
		if b == nil || !r.backupValid(b, now) {
			return nil, 0
		}
		out = b.appendReply(dst[:0], &wq, now, uint32(r.cfg.Load().StaleTTL/time.Second))
		src = int(b.src)
	}
	if len(out) > wq.maxSize {
		return nil, 0
	}
	return out, src
}

// Lookup answers name and qtype (A or AAAA) by the same algorithm as a query
// on the wire, without sockets and without counting an answer: the bundle
// fetcher resolves its mirrors through it while DNS is down.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) ([]netip.Addr, Source, error) {
	fq := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fq); !ok {
		return nil, "", fmt.Errorf("%q is not a domain name", name)
	}
	q := new(dns.Msg)
	q.SetQuestion(fq, qtype)
	q.SetEdns0(ednsUDPSize, false) // so a failure carries its reason (EDE)
	// decide, not answer: dnspin's own lookups are not client answers, and
	// `dnspin check` proves the system path by the answer counters rising.
	ctx, done := r.admit(ctx)
	defer done()
	out, src := r.decide(ctx, q, true)
	m := new(dns.Msg)
	if out == nil || m.Unpack(out) != nil {
		return nil, src, fmt.Errorf("lookup %s: no answer", name)
	}
	if m.Rcode != dns.RcodeSuccess {
		msg := dns.RcodeToString[m.Rcode]
		if opt := m.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if e, ok := o.(*dns.EDNS0_EDE); ok && e.ExtraText != "" {
					msg += " (" + e.ExtraText + ")"
				}
			}
		}
		return nil, src, fmt.Errorf("lookup %s %s: %s", name, dns.TypeToString[qtype], msg)
	}
	var addrs []netip.Addr
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A); ok && qtype == dns.TypeA {
				addrs = append(addrs, a.Unmap())
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok && qtype == dns.TypeAAAA {
				addrs = append(addrs, a)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, src, fmt.Errorf("lookup %s: no %s records", name, dns.TypeToString[qtype])
	}
	return addrs, src, nil
}
