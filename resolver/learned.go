package resolver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// loadLearned reads the state file. A missing file is an empty store; a
// damaged one is reported but also yields an empty store, because the
// resolver must start regardless.
func loadLearned(dir string, now time.Time, maxStale time.Duration) (*learned, error) {
	l := &learned{m: map[string]*learnedEntry{}}
	if dir == "" {
		return l, nil
	}
	l.path = filepath.Join(dir, learnedFileName)
	b, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("reading learned answers %s: %w (starting without them)", l.path, err)
	}
	var f learnedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return l, fmt.Errorf("learned answers %s are damaged: %v (starting without them; the file is rewritten on the next good answers)", l.path, err)
	}
	for _, a := range f.Answers {
		qt, ok := parseType(a.Type)
		if !ok || now.Sub(a.At) > maxStale || len(a.RRs) == 0 {
			continue
		}
		var rrs []dns.RR
		for _, s := range a.RRs {
			rr, err := dns.NewRR(s)
			if err != nil || rr == nil {
				rrs = nil
				break
			}
			rrs = append(rrs, rr)
		}
		if rrs == nil {
			continue
		}
		name := fqdnLower(a.Name)
		l.m[learnedKey(name, qt)] = &learnedEntry{name: name, qtype: qt, at: a.At, saved: a.At, rrs: rrs}
	}
	l.trim()
	return l, nil
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
	l.dirty = true
	l.trim()
}

// trim drops the oldest entries beyond maxLearned; mu held or not shared
// yet. It waits for a quarter more than the bound so that sorting is rare.
func (l *learned) trim() {
	if len(l.m) <= maxLearned+maxLearned/4 {
		return
	}
	es := make([]*learnedEntry, 0, len(l.m))
	for _, e := range l.m {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].at.After(es[j].at) })
	for _, e := range es[maxLearned:] {
		delete(l.m, learnedKey(e.name, e.qtype))
	}
}

func sameRRs(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !dns.IsDuplicate(a[i], b[i]) {
			return false
		}
	}
	return true
}

// get returns the learned answer for name and type if younger than maxStale.
func (l *learned) get(name string, qtype uint16, now time.Time, maxStale time.Duration) []dns.RR {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[learnedKey(name, qtype)]
	if e == nil || now.Sub(e.at) > maxStale {
		return nil
	}
	return e.rrs
}

// known tells whether name has a usable learned address (A or AAAA).
func (l *learned) known(name string, now time.Time, maxStale time.Duration) bool {
	return l.get(name, dns.TypeA, now, maxStale) != nil || l.get(name, dns.TypeAAAA, now, maxStale) != nil
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

// learnable picks the records worth remembering from a good answer: the
// answer section of a NOERROR reply that has at least one record, unless it
// is larger than maxLearnedRR (the addresses a box office needs are a few
// hundred bytes; the bound keeps the state dir small whatever upstream says).
func learnable(r *dns.Msg) []dns.RR {
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return nil
	}
	out := make([]dns.RR, 0, len(r.Answer))
	size := 0
	for _, rr := range r.Answer {
		if t := rr.Header().Rrtype; t == dns.TypeRRSIG || t == dns.TypeOPT {
			continue // signatures would not validate with rewritten TTLs
		}
		if size += dns.Len(rr); size > maxLearnedRR {
			return nil
		}
		rr = dns.Copy(rr)
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		out = append(out, rr)
	}
	return out
}
