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
	evictSample    = 8
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

// entry is one cached answer. It is never changed after it is built, so
// readers use it without locks.
type entry struct {
	msg       []byte   // packed reply, ID 0, no OPT
	ttlOffs   []uint16 // offsets of every record's TTL
	ttls      []uint32 // the TTLs as received (capped)
	nameLen   int      // wire length of the question name at offset 12
	stored    time.Time
	expires   time.Time
	protected bool // name was protected when stored (fast path checks mode and state)
}

func (e *entry) fresh(now time.Time) bool { return now.Before(e.expires) }

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
	b, err := m.Pack()
	if err != nil {
		return nil, err
	}
	offs, ttls, nameLen, err := ttlOffsets(b)
	if err != nil {
		return nil, err
	}
	return &entry{
		msg: b, ttlOffs: offs, ttls: ttls, nameLen: nameLen,
		stored: now, expires: now.Add(time.Duration(ttl) * time.Second),
		protected: protected,
	}, nil
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
func ttlOffsets(b []byte) (offs []uint16, ttls []uint32, nameLen int, err error) {
	if len(b) < 12 || binary.BigEndian.Uint16(b[4:]) != 1 {
		return nil, nil, 0, errMalformed
	}
	off, err := skipName(b, 12)
	if err != nil {
		return nil, nil, 0, err
	}
	nameLen = off - 12
	off += 4
	n := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	for range n {
		if off, err = skipName(b, off); err != nil {
			return nil, nil, 0, err
		}
		if off+10 > len(b) || off > 0xFFFF {
			return nil, nil, 0, errMalformed
		}
		typ := binary.BigEndian.Uint16(b[off:])
		if typ != dns.TypeOPT {
			offs = append(offs, uint16(off+4))
			ttls = append(ttls, binary.BigEndian.Uint32(b[off+4:]))
		}
		off += 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	}
	if off > len(b) {
		return nil, nil, 0, errMalformed
	}
	return offs, ttls, nameLen, nil
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
// answers); otherwise TTLs count down from when e was stored.
func (e *entry) appendReply(dst []byte, q *wireQuery, now time.Time, ttl uint32) []byte {
	start := len(dst)
	dst = append(dst, e.msg...)
	b := dst[start:]
	binary.BigEndian.PutUint16(b, q.id)
	if len(q.name) == e.nameLen {
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
	if d := now.Sub(e.stored); d > 0 {
		age = uint32(d / time.Second)
	}
	for i, off := range e.ttlOffs {
		v := ttl
		if v == 0 {
			if t := e.ttls[i]; t > age {
				v = t - age
			}
		}
		binary.BigEndian.PutUint32(b[off:], v)
	}
	if q.edns {
		dst = appendOPT(dst, q.do)
		b = dst[start:]
		binary.BigEndian.PutUint16(b[10:], binary.BigEndian.Uint16(b[10:])+1)
	}
	return dst
}

// appendOPT appends our OPT record: root name, our UDP size, DO as asked.
func appendOPT(dst []byte, do bool) []byte {
	var flags byte
	if do {
		flags = 0x80
	}
	return append(dst, 0, 0, byte(dns.TypeOPT), byte(ednsUDPSize>>8), byte(ednsUDPSize&0xFF), 0, 0, flags, 0, 0, 0)
}

// cache is a sharded map with bounded size. When full, it evicts the entry
// that expired earliest among a few sampled ones: cheap, and close enough to
// LRU for a desktop resolver.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	max    int // per shard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*entry
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

func (c *cache) put(key []byte, e *entry) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[string(key)]; !ok && len(s.m) >= c.max {
		var victim string
		var vexp time.Time
		n := 0
		for k, v := range s.m {
			if n == 0 || v.expires.Before(vexp) {
				victim, vexp = k, v.expires
			}
			if n++; n >= evictSample {
				break
			}
		}
		delete(s.m, victim)
	}
	s.m[string(key)] = e
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
		s.m = make(map[string]*entry)
		s.mu.Unlock()
	}
}
