package resolver

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/miekg/dns"
)

// The miss path on the wire: the query to upstream is packed by hand, and
// its reply goes into the cache as the upstream sent it (header flags, TTLs
// and the OPT record aside), without unpacking it into records and packing
// them again. Only replies for protected names are unpacked, for the learned
// answers.

// appendUpQuery packs the query dnspin sends upstream: ID 0 (send writes its
// own), RD, CD as the client asked, one question (the client's spelling of
// the name) and our OPT record: ednsUDPSize, DO as the client asked.
func appendUpQuery(dst, name []byte, qtype uint16, cd, do bool) []byte {
	var flags3 byte
	if cd {
		flags3 = 0x10
	}
	dst = append(dst, 0, 0, 0x01, flags3, 0, 1, 0, 0, 0, 0, 0, 1)
	dst = append(dst, name...)
	dst = binary.BigEndian.AppendUint16(dst, qtype)
	dst = binary.BigEndian.AppendUint16(dst, dns.ClassINET)
	return appendOPT(dst, do, nil)
}

// questionEnd is the offset after the question of a packed query with one
// question whose name is not compressed.
func questionEnd(q []byte) (int, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return 0, errMalformed
	}
	off := 12
	for {
		if off >= len(q) {
			return 0, errMalformed
		}
		l := int(q[off])
		if l == 0 {
			break
		}
		if l > 63 {
			return 0, errMalformed
		}
		off += 1 + l
	}
	if off+5 > len(q) {
		return 0, errMalformed
	}
	return off + 5, nil
}

// replyMatches tells whether the packed reply b, whose ID is already known
// to be ours, answers the packed question q (name, type, class): the same
// question, the name's letter case aside, and a message sound to its end.
// A server that could not parse the question may return an error without
// it; that is accepted as an error.
func replyMatches(b, q []byte) bool {
	rc, err := replyRcode(b)
	if err != nil {
		return false
	}
	switch binary.BigEndian.Uint16(b[4:]) {
	case 0:
		return rc != dns.RcodeSuccess && rc != dns.RcodeNameError
	case 1:
	default:
		return false
	}
	if len(b) < 12+len(q) {
		return false
	}
	name, typeClass := q[:len(q)-4], q[len(q)-4:]
	for i, c := range name { // length octets are < 64, never letters: they must be equal
		if d := b[12+i]; c != d && lower(c) != lower(d) {
			return false
		}
	}
	return string(b[12+len(name):12+len(q)]) == string(typeClass)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// rrInfo is one record of a packed message, as walkRecords sees it.
type rrInfo struct {
	section int // 0 answer, 1 authority, 2 additional
	start   int // offset of its owner name
	typ     uint16
	ttlOff  int // offset of its TTL
	rdata   int // offset of its data
	end     int // offset after it
}

// walkRecords checks that every question and record of the packed message
// b lies within it and calls f for each record (f may be nil). It returns
// the offset after the question section.
func walkRecords(b []byte, f func(rrInfo)) (qEnd int, err error) {
	if len(b) < 12 {
		return 0, errMalformed
	}
	be := binary.BigEndian
	off := 12
	for range be.Uint16(b[4:]) {
		if off, err = skipName(b, off); err != nil {
			return 0, err
		}
		off += 4
	}
	if off > len(b) {
		return 0, errMalformed
	}
	qEnd = off
	for sec, n := range [3]uint16{be.Uint16(b[6:]), be.Uint16(b[8:]), be.Uint16(b[10:])} {
		for range n {
			start := off
			if off, err = skipName(b, off); err != nil {
				return 0, err
			}
			if off+10 > len(b) {
				return 0, errMalformed
			}
			rr := rrInfo{section: sec, start: start, typ: be.Uint16(b[off:]), ttlOff: off + 4, rdata: off + 10}
			rr.end = rr.rdata + int(be.Uint16(b[off+8:]))
			if rr.end > len(b) {
				return 0, errMalformed
			}
			if f != nil {
				f(rr)
			}
			off = rr.end
		}
	}
	return qEnd, nil
}

// replyRcode is the response code of the packed reply b, extended by its
// OPT record, if it has one; an error when b is not sound.
func replyRcode(b []byte) (int, error) {
	var ext int
	_, err := walkRecords(b, func(rr rrInfo) {
		if rr.typ == dns.TypeOPT {
			ext = int(b[rr.ttlOff]) // the TTL's first byte: the upper 8 bits of the code
		}
	})
	if err != nil {
		return 0, err
	}
	return ext<<4 | int(b[3]&0x0F), nil
}

// newEntryWire makes a cache entry from a packed upstream reply, as newEntry
// does from an unpacked one: the reply as it came, with ID 0, AA and TC
// cleared, RA set, no OPT record, and negative answers' SOA records with
// TTL min(TTL, MINIMUM) (RFC 2308). A reply whose OPT record is not its last
// record (or that has several) is unpacked and packed again (newEntry):
// cutting it out would move the records after it.
func newEntryWire(b []byte, now time.Time, protected bool) (*entry, error) {
	be := binary.BigEndian
	if len(b) < 12 || be.Uint16(b[4:]) != 1 {
		return nil, errors.New("reply without a question")
	}
	opts, optStart, optLast, recs := 0, len(b), false, 0
	qEnd, err := walkRecords(b, func(rr rrInfo) {
		recs++
		if rr.typ == dns.TypeOPT {
			opts++
			optStart, optLast = rr.start, rr.end == len(b)
		}
	})
	if err != nil {
		return nil, err
	}
	if opts > 1 || opts == 1 && !optLast {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return nil, err
		}
		return newEntry(m, now, protected)
	}
	msgLen := optStart
	if opts == 1 {
		recs--
	}
	if msgLen > 0xFFFF {
		return nil, errMalformed
	}
	buf := make([]byte, msgLen+2*recs)
	msg := buf[:msgLen]
	copy(msg, b)
	be.PutUint16(msg, 0)
	msg[2] &^= 0x04 | 0x02 // AA, TC
	msg[3] |= 0x80         // RA
	if opts == 1 {
		be.PutUint16(msg[10:], be.Uint16(msg[10:])-1)
	}
	rcode := int(msg[3] & 0x0F)
	positive := rcode == dns.RcodeSuccess && be.Uint16(msg[6:]) > 0
	negative := !positive && (rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError)
	ttl, i := -1, 0
	lowerTTL := func(v uint32) { // ttl = min(ttl, v, maxCacheTTL)
		v = min(v, maxCacheTTL)
		if ttl < 0 || int(v) < ttl {
			ttl = int(v)
		}
	}
	if _, err := walkRecords(msg, func(rr rrInfo) {
		be.PutUint16(buf[msgLen+2*i:], uint16(rr.ttlOff))
		i++
		t := be.Uint32(msg[rr.ttlOff:])
		switch {
		case positive && rr.section == 0:
			lowerTTL(t)
		case negative && rr.section == 1 && rr.typ == dns.TypeSOA && rr.end-rr.rdata >= 22:
			t = min(t, be.Uint32(msg[rr.end-4:])) // MINIMUM ends the SOA's data
			be.PutUint32(msg[rr.ttlOff:], t)
			lowerTTL(t)
		}
	}); err != nil {
		return nil, err
	}
	if ttl < 0 {
		ttl = 0
	}
	return &entry{
		buf: buf, msgEnd: uint32(msgLen), optEnd: uint32(msgLen), nameLen: uint16(qEnd - 4 - 12),
		src: cacheIdx, protected: protected,
		stored: now.UnixNano(), expires: now.Add(time.Duration(ttl) * time.Second).UnixNano(),
	}, nil
}
