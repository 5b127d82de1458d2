package resolver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/atomicfile"
)

// learnedFileName is the learned answers' file inside the state directory.
const learnedFileName = "learned.json"

const (
	maxLearned   = 4096             // entries (name+type); the file stays well under a few MB
	maxLearnedRR = 4096             // bytes of records per entry: 4096 × 4 KiB bounds the state at 16 MiB
	resaveAfter  = 10 * time.Minute // rewrite an unchanged answer's time at most this often
	learnedFmtV1 = 1
)

// learned remembers the last good upstream answer for each protected name
// and type, so that pins are not the only fallback and a restart during an
// outage still has answers. Only answers younger than max_stale are served.
type learned struct {
	path string // "" keeps answers in memory only

	mu    sync.Mutex
	m     map[string]*learnedEntry // key: name + "/" + type
	dirty bool
	// gen, when set, is counted up at every change of the answers (the
	// resolver's backupGen: packed backups of older answers are not used).
	gen *atomic.Uint64
}

type learnedEntry struct {
	name  string
	qtype uint16
	at    time.Time
	saved time.Time // at as last written to disk
	rrs   []dns.RR
}

func learnedKey(name string, qtype uint16) string {
	return name + "/" + dns.Type(qtype).String() // "TYPE65280" for types without a name
}

// parseType reads a type as dns.Type.String writes it.
func parseType(s string) (uint16, bool) {
	if t, ok := dns.StringToType[s]; ok {
		return t, true
	}
	if n, ok := strings.CutPrefix(s, "TYPE"); ok {
		if v, err := strconv.ParseUint(n, 10, 16); err == nil {
			return uint16(v), true
		}
	}
	return 0, false
}

// learnedFile is the JSON on disk.
type learnedFile struct {
	Version int           `json:"version"`
	Answers []learnedJSON `json:"answers"`
}

type learnedJSON struct {
	Name string    `json:"name"`
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	RRs  []string  `json:"rrs"`
}

// maxLearnedFile bounds what is read of learned.json: more than the file
// dnspin writes at its bounds (4096 entries of 4 KiB of records, written as
// text that is at most five times the wire size, plus JSON), so only a file
// that did not come from dnspin is refused for its size.
const maxLearnedFile = maxLearned * (5*maxLearnedRR + 1024)

// learnedSkew is how far in the future a learned answer's time may be (a
// clock stepped back a little since it was saved); later ones are dropped.
const learnedSkew = 5 * time.Minute

// loadLearned reads the state file. A missing file is an empty store. The
// file is checked entry by entry, as strictly as what learning keeps: the
// format version, the name and type, the time (not older than maxStale, not
// in the future), the records (they must parse, be owned by the name or its
// CNAME chain, fit maxLearnedRR) and the maxLearned bound, newest first.
// The error, if any, is one sentence naming the file and what was left out
// and why; the resolver starts regardless, with what was kept.
func loadLearned(dir string, now time.Time, maxStale time.Duration) (*learned, error) {
	l := &learned{m: map[string]*learnedEntry{}}
	if dir == "" {
		return l, nil
	}
	l.path = filepath.Join(dir, learnedFileName)
	fi, err := os.Stat(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	switch {
	case err != nil:
		return l, fmt.Errorf("reading learned answers %s: %w (starting without them)", l.path, err)
	case !fi.Mode().IsRegular(): // a FIFO would block the start for good
		return l, fmt.Errorf("learned answers %s are not a regular file (%s): starting without them (remove it)", l.path, fi.Mode().Type())
	case fi.Size() > maxLearnedFile:
		return l, fmt.Errorf("learned answers %s are %d bytes, more than dnspin ever writes (%d): starting without them (the file is replaced when answers are next learned)", l.path, fi.Size(), maxLearnedFile)
	}
	fh, err := os.Open(l.path)
	if err != nil {
		return l, fmt.Errorf("reading learned answers %s: %w (starting without them)", l.path, err)
	}
	defer fh.Close()
	var d learnedDrops
	m := map[string]*learnedEntry{}
	version, err := decodeLearned(io.LimitReader(fh, maxLearnedFile), func(a learnedJSON) {
		e, why := checkLearned(a, now, maxStale)
		if e == nil {
			d.add(why)
			return
		}
		d.foreignRRs += why.foreignRRs
		k := learnedKey(e.name, e.qtype)
		if old := m[k]; old != nil {
			d.duplicate++
			if !e.at.After(old.at) {
				return
			}
		}
		m[k] = e
		if len(m) > maxLearned+maxLearned/4 { // a larger file never holds more than this in memory
			d.overBound += trimTo(m, maxLearned)
		}
	})
	switch {
	case err != nil:
		return l, fmt.Errorf("learned answers %s are damaged: %v (starting without them; the file is rewritten on the next good answers)", l.path, err)
	case version != learnedFmtV1:
		return l, fmt.Errorf("learned answers %s have format version %d, this dnspin reads version %d: starting without them (the file is replaced when answers are next learned)", l.path, version, learnedFmtV1)
	}
	d.overBound += trimTo(m, maxLearned)
	l.m = m
	if !d.problems() {
		return l, nil
	}
	l.dirty = true // rewrite the file without what was dropped
	return l, fmt.Errorf("learned answers %s: kept %d, dropped %s", l.path, len(m), d)
}

// decodeLearned reads learned.json one answer at a time, so that memory
// holds what is kept, not the whole file. It returns the format version;
// answers are passed to visit as they come, which the caller discards when
// the version is not one it reads. An unknown version stops reading.
func decodeLearned(r io.Reader, visit func(learnedJSON)) (int, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return 0, err
	}
	version := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, err
		}
		switch t {
		case "version":
			if err := dec.Decode(&version); err != nil {
				return 0, err
			}
			if version != learnedFmtV1 {
				return version, nil
			}
		case "answers":
			t, err := dec.Token()
			if err != nil {
				return 0, err
			}
			if t == nil {
				continue // save writes null when nothing is left
			}
			if t != json.Delim('[') {
				return 0, fmt.Errorf("found %v where the list of answers belongs", t)
			}
			for dec.More() {
				var a learnedJSON
				if err := dec.Decode(&a); err != nil {
					return 0, err
				}
				visit(a)
			}
			if err := expectDelim(dec, ']'); err != nil {
				return 0, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return 0, err
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return 0, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, errors.New("data after the end of the JSON object")
	}
	return version, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("found %v where %q belongs", t, want)
	}
	return nil
}

// checkLearned turns one answer of the file into an entry, or says why not.
func checkLearned(a learnedJSON, now time.Time, maxStale time.Duration) (*learnedEntry, learnedDrops) {
	var d learnedDrops
	name := fqdnLower(a.Name)
	qt, ok := parseType(a.Type)
	switch {
	case a.Name == "":
		d.badName++
	case !validName(name):
		d.badName++
	case !ok || !learnableType(qt):
		d.badType++
	case a.At.Sub(now) > learnedSkew:
		d.future++
	case now.Sub(a.At) > maxStale:
		d.old++
	}
	if d != (learnedDrops{}) {
		return nil, d
	}
	rrs := make([]dns.RR, 0, len(a.RRs))
	for _, s := range a.RRs {
		rr, err := dns.NewRR(s)
		if err != nil || rr == nil {
			d.badRecord++
			return nil, d
		}
		rrs = append(rrs, rr)
	}
	own, dropped := ownRecords(name, qt, rrs)
	switch {
	case own == nil:
		d.foreign++
		return nil, d
	case rrsLen(own) > maxLearnedRR:
		d.tooLarge++
		return nil, d
	}
	d.foreignRRs = dropped
	at := a.At
	if at.After(now) {
		at = now // within the skew: as if learned now
	}
	return &learnedEntry{name: name, qtype: qt, at: at, saved: a.At, rrs: own}, d
}

// validName: a presentation-format FQDN a query could ask.
func validName(name string) bool {
	_, ok := dns.IsDomainName(name)
	return ok && len(name) <= 255 && !strings.Contains(name, "..")
}

// learnableType tells whether an answer of type t can be learned: not the
// meta types and question-only types (RFC 6895: 0, OPT, 128-255), not RRSIG
// (signatures would not validate with rewritten TTLs).
func learnableType(t uint16) bool {
	return t != 0 && t != dns.TypeOPT && t != dns.TypeRRSIG && (t < 128 || t > 255)
}

// learnedDrops counts what loading left out, by reason.
type learnedDrops struct {
	badName, badType, future, old, badRecord, foreign, tooLarge, duplicate, overBound int
	foreignRRs                                                                        int // records of other owners removed from entries that were kept
}

func (d *learnedDrops) add(o learnedDrops) {
	d.badName += o.badName
	d.badType += o.badType
	d.future += o.future
	d.old += o.old
	d.badRecord += o.badRecord
	d.foreign += o.foreign
	d.tooLarge += o.tooLarge
}

// problems tells whether anything other than age was left out: answers
// older than max_stale are dropped every day and deserve no warning.
func (d learnedDrops) problems() bool {
	o := d
	o.old = 0
	return o != (learnedDrops{})
}

func (d learnedDrops) String() string {
	var parts []string
	n := 0
	for _, c := range []struct {
		n    int
		what string
	}{
		{d.badName, "not a domain name"},
		{d.badType, "of a type that is unknown or cannot be learned"},
		{d.future, "dated more than " + learnedSkew.String() + " ahead of this clock"},
		{d.old, "older than max_stale"},
		{d.badRecord, "with records that do not parse"},
		{d.foreign, "without a usable record owned by the name or its CNAME chain"},
		{d.tooLarge, "with records larger than " + strconv.Itoa(maxLearnedRR) + " bytes"},
		{d.duplicate, "duplicate name and type (the newest kept)"},
		{d.overBound, "beyond the bound of " + strconv.Itoa(maxLearned) + " answers (the oldest)"},
	} {
		if c.n > 0 {
			n += c.n
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	s := strconv.Itoa(n) + " answers"
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	if d.foreignRRs > 0 {
		s += fmt.Sprintf("; removed %d records of other owners from answers kept", d.foreignRRs)
	}
	return s
}

// put remembers a good answer.
func (l *learned) put(name string, qtype uint16, rrs []dns.RR, now time.Time) {
	k := learnedKey(name, qtype)
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[k]
	if e != nil && sameRRs(e.rrs, rrs) {
		e.at = now
		if now.Sub(e.saved) > resaveAfter {
			l.dirty = true
		}
		return
	}
	l.m[k] = &learnedEntry{name: name, qtype: qtype, at: now, rrs: rrs}
	l.trim()
	l.changed()
}

// trim keeps the bound after a put; mu held. It cuts an eighth below
// the bound at once so that sorting is rare: the bound itself always holds.
func (l *learned) trim() {
	if len(l.m) > maxLearned {
		trimTo(l.m, maxLearned-maxLearned/8)
	}
}

// trimTo drops the oldest entries of m beyond n and returns how many.
func trimTo(m map[string]*learnedEntry, n int) int {
	if len(m) <= n {
		return 0
	}
	es := make([]*learnedEntry, 0, len(m))
	for _, e := range m {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].at.After(es[j].at) })
	for _, e := range es[n:] {
		delete(m, learnedKey(e.name, e.qtype))
	}
	return len(es) - n
}

// sameRRs tells whether a and b hold the same records in any order: an
// upstream that rotates its addresses (round robin) has not changed its
// answer, and must not make the file be rewritten at every save.
func sameRRs(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	i := 0
	for i < len(a) && dns.IsDuplicate(a[i], b[i]) {
		i++
	}
	if i == len(a) {
		return true
	}
	used := make([]bool, len(b))
next:
	for _, x := range a[i:] {
		for j := i; j < len(b); j++ {
			if !used[j] && dns.IsDuplicate(x, b[j]) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

// get returns the learned answer for name and type if younger than maxStale.
func (l *learned) get(name string, qtype uint16, now time.Time, maxStale time.Duration) []dns.RR {
	rrs, _ := l.getUntil(name, qtype, now, maxStale)
	return rrs
}

// getUntil is get, and the last moment the answer may be served (unless it
// is learned again meanwhile): packed backups answer until then.
func (l *learned) getUntil(name string, qtype uint16, now time.Time, maxStale time.Duration) ([]dns.RR, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[learnedKey(name, qtype)]
	if e == nil || now.Sub(e.at) > maxStale {
		return nil, time.Time{}
	}
	return e.rrs, e.at.Add(maxStale)
}

// known tells whether name has a usable learned address (A or AAAA).
func (l *learned) known(name string, now time.Time, maxStale time.Duration) bool {
	_, ok := l.knownUntil(name, now, maxStale)
	return ok
}

// knownUntil is known, and until when the later of the two stays usable.
func (l *learned) knownUntil(name string, now time.Time, maxStale time.Duration) (time.Time, bool) {
	a, ua := l.getUntil(name, dns.TypeA, now, maxStale)
	aaaa, u6 := l.getUntil(name, dns.TypeAAAA, now, maxStale)
	if a == nil && aaaa == nil {
		return time.Time{}, false
	}
	if ua.After(u6) {
		return ua, true
	}
	return u6, true
}

// changed tells the resolver that answers were added, replaced or dropped,
// so that backups packed from the old ones are no longer used; mu held.
func (l *learned) changed() {
	l.dirty = true
	if l.gen != nil {
		l.gen.Add(1)
	}
}

// names counts the names with a learned answer still usable.
func (l *learned) names(now time.Time, maxStale time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range l.m {
		if now.Sub(e.at) <= maxStale {
			seen[e.name] = true
		}
	}
	return len(seen)
}

// save writes the answers atomically (temp file, fsync, rename) when they
// changed, dropping those older than maxStale. A full disk fails the save,
// never resolution.
func (l *learned) save(now time.Time, maxStale time.Duration) error {
	l.mu.Lock()
	if l.path == "" || !l.dirty {
		l.mu.Unlock()
		return nil
	}
	f := learnedFile{Version: learnedFmtV1}
	for k, e := range l.m {
		if now.Sub(e.at) > maxStale {
			delete(l.m, k)
			if l.gen != nil {
				l.gen.Add(1)
			}
			continue
		}
		a := learnedJSON{Name: e.name, Type: dns.Type(e.qtype).String(), At: e.at}
		for _, rr := range e.rrs {
			a.RRs = append(a.RRs, rr.String())
		}
		f.Answers = append(f.Answers, a)
		e.saved = e.at
	}
	l.dirty = false
	l.mu.Unlock()
	sort.Slice(f.Answers, func(i, j int) bool {
		a, b := f.Answers[i], f.Answers[j]
		return a.Name < b.Name || (a.Name == b.Name && a.Type < b.Type)
	})
	b, err := json.MarshalIndent(f, "", " ")
	if err == nil {
		err = writeAtomic(l.path, b)
	}
	if err != nil {
		l.mu.Lock()
		l.dirty = true
		l.mu.Unlock()
		return fmt.Errorf("saving learned answers to %s: %w (check free space and permissions of the state dir)", l.path, err)
	}
	return nil
}

// writeAtomic replaces path durably: a crash leaves the old or the new file.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// learnable picks the records worth remembering from a good answer to
// r's question: the records that answer it (see ownRecords), unless they are
// more than maxLearnedRR bytes (the addresses a box office needs are a few
// hundred bytes; the bound keeps the state dir small whatever upstream
// says). The exchange accepts only replies whose question matches the query
// (case-insensitively), so r's question is the asked name and type.
func learnable(r *dns.Msg) []dns.RR {
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || len(r.Question) != 1 {
		return nil
	}
	q := r.Question[0]
	out, _ := ownRecords(strings.ToLower(q.Name), q.Qtype, r.Answer)
	if out == nil || rrsLen(out) > maxLearnedRR {
		return nil
	}
	return out
}

// maxChain bounds the CNAME chain followed for one answer; recursive
// resolvers give up at about the same depth.
const maxChain = 16

// ownRecords keeps from rrs the records that answer qname (lower-case FQDN)
// and qtype: the CNAMEs from qname along its chain, then the records of
// qtype owned by the chain's last name (for qtype CNAME, qname's CNAME
// only). Anything else — another owner's addresses slipped into the answer
// section, a DNAME (its owner is an ancestor; the CNAME synthesized from it
// carries the answer, and is synthesized here if a server left it out), an
// RRSIG that would not validate with our TTLs, another class, a TTL with the
// top bit set — is left out; dropped counts those records (RRSIGs aside).
// Names compare case-insensitively and come back lower-cased, in chain
// order. The result is nil when nothing of qtype remains (a chain that ends
// nowhere or loops): a partial answer is not worth keeping.
func ownRecords(qname string, qtype uint16, rrs []dns.RR) (out []dns.RR, dropped int) {
	by := map[string][]dns.RR{} // lower-case owner -> its records
	var dnames []*dns.DNAME
	considered := 0
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG {
			continue
		}
		considered++
		if h.Class != dns.ClassINET || h.Ttl > math.MaxInt32 || h.Rrtype == dns.TypeOPT {
			continue
		}
		if d, ok := rr.(*dns.DNAME); ok {
			dnames = append(dnames, d)
		}
		n := strings.ToLower(h.Name)
		by[n] = append(by[n], rr)
	}
	taken := 0
	keep := func(rr dns.RR, fromInput bool) {
		rr = dns.Copy(rr)
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		if c, ok := rr.(*dns.CNAME); ok {
			c.Target = strings.ToLower(c.Target)
		}
		out = append(out, rr)
		if fromInput {
			taken++
		}
	}
	ofType := func(name string, t uint16) []dns.RR {
		var s []dns.RR
		for _, rr := range by[name] {
			if rr.Header().Rrtype == t {
				s = append(s, rr)
			}
		}
		return s
	}
	name := qname
	seen := map[string]bool{name: true}
	for hop := 0; ; hop++ {
		if final := ofType(name, qtype); len(final) > 0 {
			for _, rr := range final {
				keep(rr, true)
			}
			break
		}
		cn, fromInput := ofType(name, dns.TypeCNAME), true
		if len(cn) == 0 {
			if c := synthesize(name, dnames); c != nil {
				cn, fromInput = []dns.RR{c}, false
			}
		}
		if qtype == dns.TypeCNAME && len(cn) == 1 && !fromInput {
			keep(cn[0], false) // asked for the CNAME a DNAME stands for
			break
		}
		// A name has one CNAME at most; two are a broken answer, and a
		// chain that ends without records of qtype, loops or never ends
		// answers nothing.
		if len(cn) != 1 || hop >= maxChain {
			return nil, considered
		}
		c, ok := cn[0].(*dns.CNAME)
		if !ok {
			return nil, considered
		}
		keep(c, fromInput)
		name = strings.ToLower(c.Target)
		if seen[name] {
			return nil, considered
		}
		seen[name] = true
	}
	return out, considered - taken
}

// synthesize builds the CNAME a DNAME above name stands for (RFC 6672
// 3.1), from the closest such DNAME; nil when there is none or the result
// is not a valid name.
func synthesize(name string, dnames []*dns.DNAME) dns.RR {
	var best *dns.DNAME
	for _, d := range dnames {
		owner := strings.ToLower(d.Hdr.Name)
		if len(name) > len(owner) && strings.HasSuffix(name, owner) && (owner == "." || name[len(name)-len(owner)-1] == '.') &&
			(best == nil || len(owner) > len(best.Hdr.Name)) {
			best = d
		}
	}
	if best == nil {
		return nil
	}
	owner := strings.ToLower(best.Hdr.Name)
	prefix := name[:len(name)-len(owner)] // "www." of www.old.example. under old.example.
	if owner == "." {
		prefix = name
	}
	target := strings.ToLower(best.Target)
	if target == "." {
		target = ""
	}
	t := prefix + target
	if _, ok := dns.IsDomainName(t); !ok || len(t) > 255 || !strings.HasSuffix(t, ".") {
		return nil
	}
	return &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: best.Hdr.Ttl}, Target: t}
}

func rrsLen(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		n += dns.Len(rr)
	}
	return n
}
