package resolver

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// The cache keeps upstream answers packed, as they go on the wire, without
// their OPT record. A hit copies the bytes and patches the ID, the question
// name's case, the header flags and the TTLs: no unpacking or repacking on
// the hot path. Entries stay after they expire, for serving stale (RFC 8767),
// until evicted (see cache); past max_stale they are no longer served.

const (
	maxCacheTTL    = 24 * 60 * 60 // seconds; longer TTLs are capped
	ednsUDPSize    = 1232         // what we advertise and ask upstreams for (DNS flag day 2020)
	defaultEntries = 10000
	cacheShards    = 32
)

// key flags: the parts of a query besides name, type and class that change
// the upstream answer.
const (
	keyDO byte = 1 << iota
	keyCD
)

// appendKey appends the cache key: the lower-cased wire name, type, class
// and flags.
func appendKey(dst, wireName []byte, qtype, qclass uint16, flags byte) []byte {
	for _, c := range wireName {
		if 'A' <= c && c <= 'Z' { // length octets are < 64, never letters
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = binary.BigEndian.AppendUint16(dst, qtype)
	dst = binary.BigEndian.AppendUint16(dst, qclass)
	return append(dst, flags)
}

// entry is one packed answer: an upstream answer in the cache, or a
// pinned or learned answer in the backups (see backup). It is never changed
// after it is built, so readers use it without locks.
//
// One allocation holds the bytes: the packed reply (ID 0, no OPT), then the
// EDNS options our OPT record carries (backups: the EDE naming the source),
// then every record's TTL offset (2 bytes each, big-endian); the TTLs as
// received stay in the reply itself. Times are Unix nanoseconds of the
// resolver's clock. That keeps an entry at 64 bytes plus its bytes
// (BenchmarkCacheMemory; docs/benchmarks.md).
type entry struct {
	buf       []byte
	msgEnd    uint32 // buf[:msgEnd] is the reply
	optEnd    uint32 // buf[msgEnd:optEnd] the options, buf[optEnd:] the TTL offsets
	nameLen   uint16 // wire length of the question name at offset 12
	src       uint8  // index in sources: cacheIdx, or pinned/learned for backups
	protected bool   // name was protected when stored (fast path checks mode and state)
	stored    int64
	expires   int64
	gen       uint64 // backups: Resolver.backupGen when built
}

func (e *entry) fresh(now time.Time) bool { return now.UnixNano() < e.expires }

// expiresAt is when e stops being fresh.
func (e *entry) expiresAt() time.Time { return time.Unix(0, e.expires) }

// packEntry packs m (ID 0, no OPT) with opts for our OPT record.
func packEntry(m *dns.Msg, opts []byte) (*entry, error) {
	b, err := m.Pack()
	if err != nil {
		return nil, err
	}
	offs, nameLen, err := ttlOffsets(b)
	if err != nil {
		return nil, err
	}
	if len(b)+len(opts) > 0xFFFF {
		return nil, errMalformed
	}
	buf := make([]byte, len(b)+len(opts)+2*len(offs))
	n := copy(buf, b)
	n += copy(buf[n:], opts)
	for i, o := range offs {
		binary.BigEndian.PutUint16(buf[n+2*i:], o)
	}
	return &entry{buf: buf, msgEnd: uint32(len(b)), optEnd: uint32(len(b) + len(opts)), nameLen: uint16(nameLen)}, nil
}

// newEntry packs an upstream reply for the cache. It returns an entry with a
// zero lifetime when the reply must not be cached (no TTL, no SOA on a
// negative answer); such entries still serve the query that fetched them.
func newEntry(r *dns.Msg, now time.Time, protected bool) (*entry, error) {
	m := *r
	m.Id = 0
	m.Authoritative = false
	m.Truncated = false
	m.RecursionAvailable = true
	m.Compress = true
	m.Extra = nil
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
	if len(m.Question) != 1 {
		return nil, errors.New("reply without a question")
	}
	ttl := -1
	lower := func(v uint32) { // ttl = min(ttl, v, maxCacheTTL)
		v = min(v, maxCacheTTL)
		if ttl < 0 || int(v) < ttl {
			ttl = int(v)
		}
	}
	switch {
	case m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0:
		for _, rr := range m.Answer {
			lower(rr.Header().Ttl)
		}
	case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
		ns := make([]dns.RR, len(m.Ns))
		for i, rr := range m.Ns { // RFC 2308: negative TTL is min(SOA TTL, SOA MINIMUM)
			if soa, ok := rr.(*dns.SOA); ok {
				soa = dns.Copy(soa).(*dns.SOA)
				soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
				lower(soa.Hdr.Ttl)
				rr = soa
			}
			ns[i] = rr
		}
		m.Ns = ns
	}
	if ttl < 0 {
		ttl = 0
	}
	e, err := packEntry(&m, nil)
	if err != nil {
		return nil, err
	}
	e.src, e.protected = cacheIdx, protected
	e.stored = now.UnixNano()
	e.expires = now.Add(time.Duration(ttl) * time.Second).UnixNano()
	return e, nil
}

var errMalformed = errors.New("malformed message")

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(b []byte, off int) (int, error) {
	for {
		if off >= len(b) {
			return 0, errMalformed
		}
		c := int(b[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, nil
			}
			off += 1 + c
		case 0xC0:
			if off+2 > len(b) {
				return 0, errMalformed
			}
			return off + 2, nil
		default:
			return 0, errMalformed
		}
	}
}

// ttlOffsets finds every record's TTL in a packed message with one question.
// OPT records are skipped: their "TTL" holds flags.
func ttlOffsets(b []byte) (offs []uint16, nameLen int, err error) {
	if len(b) < 12 || binary.BigEndian.Uint16(b[4:]) != 1 {
		return nil, 0, errMalformed
	}
	off, err := skipName(b, 12)
	if err != nil {
		return nil, 0, err
	}
	nameLen = off - 12
	off += 4
	n := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	for range n {
		if off, err = skipName(b, off); err != nil {
			return nil, 0, err
		}
		if off+10 > len(b) || off > 0xFFFF-4 {
			return nil, 0, errMalformed
		}
		typ := binary.BigEndian.Uint16(b[off:])
		if typ != dns.TypeOPT {
			offs = append(offs, uint16(off+4))
		}
		off += 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	}
	if off > len(b) {
		return nil, 0, errMalformed
	}
	return offs, nameLen, nil
}

// wireQuery is what a reply needs from the client's query.
type wireQuery struct {
	id       uint16
	name     []byte // question name as the client wrote it (wire form)
	rd, cd   bool
	edns, do bool
	maxSize  int // largest reply the client takes over this transport
}

// setMaxSize sets maxSize from the client's EDNS UDP size (0: no EDNS) and
// the transport.
func (q *wireQuery) setMaxSize(udpSize uint16, tcp bool) {
	q.maxSize = max(dns.MinMsgSize, int(udpSize))
	if tcp {
		q.maxSize = dns.MaxMsgSize
	}
}

// keyFlags are the query's cache key flags.
func (q *wireQuery) keyFlags() byte {
	var flags byte
	if q.do {
		flags |= keyDO
	}
	if q.cd {
		flags |= keyCD
	}
	return flags
}

// appendReply writes e as the answer to q. ttl > 0 replaces every TTL (stale
// and backup answers); otherwise TTLs count down from when e was stored.
func (e *entry) appendReply(dst []byte, q *wireQuery, now time.Time, ttl uint32) []byte {
	msg := e.buf[:e.msgEnd]
	start := len(dst)
	dst = append(dst, msg...)
	b := dst[start:]
	binary.BigEndian.PutUint16(b, q.id)
	if len(q.name) == int(e.nameLen) {
		copy(b[12:], q.name) // the client's spelling (0x20 clients check it)
	}
	b[2] &^= 0x01
	if q.rd {
		b[2] |= 0x01
	}
	b[3] &^= 0x10
	if q.cd {
		b[3] |= 0x10
	}
	var age uint32
	if d := now.UnixNano() - e.stored; d > 0 && ttl == 0 {
		age = uint32(min(d/int64(time.Second), 1<<32-1))
	}
	offs := e.buf[e.optEnd:]
	for i := 0; i+1 < len(offs); i += 2 {
		off := binary.BigEndian.Uint16(offs[i:])
		v := ttl
		if v == 0 {
			if t := binary.BigEndian.Uint32(msg[off:]); t > age {
				v = t - age
			}
		}
		binary.BigEndian.PutUint32(b[off:], v)
	}
	if q.edns {
		dst = appendOPT(dst, q.do, e.buf[e.msgEnd:e.optEnd])
		b = dst[start:]
		binary.BigEndian.PutUint16(b[10:], binary.BigEndian.Uint16(b[10:])+1)
	}
	return dst
}

// appendOPT appends our OPT record: root name, our UDP size, DO as asked,
// and opts (packed EDNS options) as its data.
func appendOPT(dst []byte, do bool, opts []byte) []byte {
	var flags byte
	if do {
		flags = 0x80
	}
	dst = append(dst, 0, 0, byte(dns.TypeOPT), byte(ednsUDPSize>>8), byte(ednsUDPSize&0xFF), 0, 0, flags, 0, byte(len(opts)>>8), byte(len(opts)))
	return append(dst, opts...)
}

// cache is a sharded map with bounded size. When a shard is full, a new
// entry takes the place of the shard's oldest (first in, first out): a
// ring of the keys in the order they came makes that a few instructions,
// where sampling entries through map iteration cost 6 % of a miss with a
// full cache. A name asked often comes back after one lookup.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	max    int // per shard
}

type cacheShard struct {
	mu   sync.RWMutex
	m    map[string]*entry
	ring []string // m's keys, oldest first from hand on
	hand int
}

func newCache(entries int) *cache {
	if entries <= 0 {
		entries = defaultEntries
	}
	c := &cache{seed: maphash.MakeSeed(), max: max(1, (entries+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*entry)
	}
	return c
}

func (c *cache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

func (c *cache) get(key []byte) *entry {
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[string(key)]
	s.mu.RUnlock()
	return e
}

// put stores e under key (a string: the map keeps it).
func (c *cache) put(key string, e *entry) {
	s := &c.shards[maphash.String(c.seed, key)%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch _, ok := s.m[key]; {
	case ok:
	case len(s.ring) < c.max:
		s.ring = append(s.ring, key)
	default: // full: the oldest makes room
		delete(s.m, s.ring[s.hand])
		s.ring[s.hand] = key
		s.hand = (s.hand + 1) % len(s.ring)
	}
	s.m[key] = e
}

// len counts entries, for tests and status.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

func (c *cache) flush() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.m, s.ring, s.hand = make(map[string]*entry), nil, 0
		s.mu.Unlock()
	}
}
