package resolver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func aRR(name string, ip net.IP) []dns.RR {
	return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: ip}}
}

func TestLearnedBoundedAndPruned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	l, err := loadLearned(dir, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxLearned {
		l.put("n"+strconv.Itoa(i)+".tickets.test.", dns.TypeA, aRR("n"+strconv.Itoa(i)+".tickets.test.", net.IPv4(192, 0, 2, 1)), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.m); n > maxLearned {
		t.Fatalf("%d learned entries, bound %d", n, maxLearned)
	}
	newest := "n" + strconv.Itoa(3*maxLearned-1) + ".tickets.test."
	if l.get(newest, dns.TypeA, now, time.Hour) == nil {
		t.Fatal("the newest answer was evicted")
	}
	if err := l.save(now, time.Hour); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != learnedFileName {
		t.Fatalf("state dir holds %v; want only %s (no temp files)", ents, learnedFileName)
	}
	// Loaded two hours later with max_stale 1h: all too old.
	l2, err := loadLearned(dir, now.Add(2*time.Hour), time.Hour)
	if err != nil || len(l2.m) != 0 {
		t.Fatalf("stale entries loaded: %d, %v", len(l2.m), err)
	}
	l3, err := loadLearned(dir, now.Add(time.Minute), time.Hour)
	if err != nil || l3.get(newest, dns.TypeA, now.Add(time.Minute), time.Hour) == nil {
		t.Fatalf("fresh entries not loaded: %d, %v", len(l3.m), err)
	}
}

func TestLearnedDamagedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, learnedFileName)
	os.WriteFile(p, []byte("{not json"), 0o644)
	l, err := loadLearned(dir, time.Now(), time.Hour)
	if err == nil || !strings.Contains(err.Error(), p) || l == nil {
		t.Fatalf("damaged file: %v; want an error naming %s and an empty store", err, p)
	}
	// The resolver starts anyway.
	cfg := testConfig()
	cfg.StateDir = dir
	if _, err := New(cfg, Options{}); err != nil {
		t.Fatalf("New with a damaged learned file: %v", err)
	}
}

func TestLearnedUnchangedNotRewritten(t *testing.T) {
	t.Parallel()
	now := time.Now()
	l, _ := loadLearned(t.TempDir(), now, time.Hour)
	rrs := aRR("a.tickets.test.", net.IPv4(192, 0, 2, 1))
	l.put("a.tickets.test.", dns.TypeA, rrs, now)
	if err := l.save(now, time.Hour); err != nil {
		t.Fatal(err)
	}
	l.put("a.tickets.test.", dns.TypeA, rrs, now.Add(time.Minute))
	if l.dirty {
		t.Fatal("an unchanged answer made the file dirty")
	}
	two := append(aRR("a.tickets.test.", net.IPv4(192, 0, 2, 1)), aRR("a.tickets.test.", net.IPv4(192, 0, 2, 3))...)
	l.put("a.tickets.test.", dns.TypeA, two, now.Add(2*time.Minute))
	if !l.dirty {
		t.Fatal("a changed answer did not make the file dirty")
	}
	if err := l.save(now.Add(2*time.Minute), time.Hour); err != nil {
		t.Fatal(err)
	}
	l.put("a.tickets.test.", dns.TypeA, []dns.RR{two[1], two[0]}, now.Add(3*time.Minute)) // round robin
	if l.dirty {
		t.Fatal("the same records in another order made the file dirty")
	}
	l.put("a.tickets.test.", dns.TypeA, []dns.RR{two[1], two[1]}, now.Add(4*time.Minute))
	if !l.dirty {
		t.Fatal("a changed answer of the same length did not make the file dirty")
	}
}

// TestLearnedTypesWithoutName: types miekg/dns has no name for (private
// use, new ones) are kept apart and survive a save and load; they used to
// share one key, so one type's records answered another.
func TestLearnedTypesWithoutName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	l, _ := loadLearned(dir, now, time.Hour)
	const name = "app.tickets.test."
	rr, err := dns.NewRR(name + ` 60 IN TYPE65280 \# 2 0102`)
	if err != nil {
		t.Fatal(err)
	}
	l.put(name, 65280, []dns.RR{rr}, now)
	if got := l.get(name, 65281, now, time.Hour); got != nil {
		t.Fatalf("TYPE65281 answered with the records learned for TYPE65280: %v", got)
	}
	if err := l.save(now, time.Hour); err != nil {
		t.Fatal(err)
	}
	l2, err := loadLearned(dir, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.get(name, 65280, now, time.Hour); len(got) != 1 || got[0].Header().Rrtype != 65280 {
		t.Fatalf("TYPE65280 after save and load: %v", got)
	}
}

// An answer too large to be an address list a box office needs is not
// learned, so the learned file stays bounded in bytes, not only entries.
func TestLearnableBoundedInBytes(t *testing.T) {
	small := new(dns.Msg)
	small.SetQuestion("shop.tickets.test.", dns.TypeA)
	small.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "Shop.Tickets.Test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 10)}}
	if got := learnable(small); len(got) != 1 || got[0].Header().Name != "shop.tickets.test." {
		t.Fatalf("small answer: learned %v, want the A record (lower-cased)", got)
	}
	big := new(dns.Msg)
	big.SetQuestion("txt.tickets.test.", dns.TypeTXT)
	for range 20 { // 20 × ~270 bytes > maxLearnedRR
		big.Answer = append(big.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: "txt.tickets.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{strings.Repeat("x", 250)}})
	}
	if got := learnable(big); got != nil {
		t.Fatalf("answer of %d bytes learned; want nothing over %d", big.Len(), maxLearnedRR)
	}
}

// TestLoadLearnedChecks: learned.json is checked entry by entry on load;
// what is left out is said in one error naming the file, with counts and
// reasons. Files are crafted as a hand edit, an old bug or a newer dnspin
// would leave them.
func TestLoadLearnedChecks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return `"` + now.Add(d).Format(time.RFC3339Nano) + `"` }
	ok := `{"name":"shop.tickets.test.","type":"A","at":` + at(-time.Hour) + `,"rrs":["shop.tickets.test.\t60\tIN\tA\t198.51.100.1"]}`
	entry := func(name, typ string, when time.Duration, rrs ...string) string {
		q := make([]string, len(rrs))
		for i, s := range rrs {
			q[i] = strconv.Quote(s)
		}
		return `{"name":` + strconv.Quote(name) + `,"type":` + strconv.Quote(typ) + `,"at":` + at(when) + `,"rrs":[` + strings.Join(q, ",") + `]}`
	}
	file := func(version string, entries ...string) string {
		return `{"version":` + version + `,"answers":[` + strings.Join(entries, ",") + `]}`
	}
	big := make([]string, 20)
	for i := range big {
		big[i] = `big.tickets.test. 60 IN TXT "` + strings.Repeat("x", 250) + `"`
	}
	for _, c := range []struct {
		name string
		file string
		keep []string // keys kept: name/TYPE
		errs []string // in the error; none: no error
	}{
		{"valid", file("1", ok), []string{"shop.tickets.test./A"}, nil},
		{"version unknown", file("2", ok), nil, []string{"format version 2", "starting without them"}},
		{"version missing", `{"answers":[` + ok + `]}`, nil, []string{"format version 0"}},
		{"version after answers", `{"answers":[` + ok + `],"version":1}`, []string{"shop.tickets.test./A"}, nil},
		{"unknown version after answers", `{"answers":[` + ok + `],"version":7}`, nil, []string{"format version 7"}},
		{"unknown keys skipped", `{"version":1,"x":{"y":[1,2]},"answers":[` + ok + `]}`, []string{"shop.tickets.test./A"}, nil},
		{"damaged", `{"version":1,"answers":[` + ok, nil, []string{"damaged"}},
		{"no answers (save writes null)", `{"version":1,"answers":null}`, nil, nil},
		{"answers not a list", `{"version":1,"answers":{}}`, nil, []string{"damaged"}},
		{"trailing data", file("1", ok) + "{}", nil, []string{"damaged"}},
		{"foreign owner only (the reported ponly1)", file("1", ok, entry("ponly1.tickets.test.", "A", -time.Hour, "bank.other.test. 60 IN A 6.6.6.6")),
			[]string{"shop.tickets.test./A"}, []string{"kept 1, dropped 1 answers: 1 without a usable record owned by the name or its CNAME chain"}},
		{"foreign owner beside own records", file("1", entry("mixed.tickets.test.", "A", -time.Hour, "bank.other.test. 60 IN A 6.6.6.6", "mixed.tickets.test. 60 IN A 198.51.100.2")),
			[]string{"mixed.tickets.test./A"}, []string{"kept 1, dropped 0 answers; removed 1 records of other owners"}},
		{"chain kept", file("1", entry("www.tickets.test.", "AAAA", -time.Hour, "www.tickets.test. 60 IN CNAME edge.other.test.", "edge.other.test. 60 IN AAAA 2001:db8::1")),
			[]string{"www.tickets.test./AAAA"}, nil},
		{"future beyond skew", file("1", ok, entry("f.tickets.test.", "A", time.Hour, "f.tickets.test. 60 IN A 198.51.100.3")),
			[]string{"shop.tickets.test./A"}, []string{"1 dated more than 5m0s ahead"}},
		{"future within skew", file("1", entry("f.tickets.test.", "A", time.Minute, "f.tickets.test. 60 IN A 198.51.100.3")),
			[]string{"f.tickets.test./A"}, nil},
		{"too old: no warning", file("1", ok, entry("o.tickets.test.", "A", -100*time.Hour, "o.tickets.test. 60 IN A 198.51.100.3")),
			[]string{"shop.tickets.test./A"}, nil},
		{"types", file("1", ok,
			entry("t.tickets.test.", "OPT", -time.Hour, "t.tickets.test. 60 IN A 198.51.100.3"),
			entry("t.tickets.test.", "ANY", -time.Hour, "t.tickets.test. 60 IN A 198.51.100.3"),
			entry("t.tickets.test.", "TYPE0", -time.Hour, "t.tickets.test. 60 IN A 198.51.100.3"),
			entry("t.tickets.test.", "BOGUS", -time.Hour, "t.tickets.test. 60 IN A 198.51.100.3"),
			entry("t.tickets.test.", "RRSIG", -time.Hour, "t.tickets.test. 60 IN A 198.51.100.3"),
			entry("t.tickets.test.", "TYPE65280", -time.Hour, `t.tickets.test. 60 IN TYPE65280 \# 2 0102`)),
			[]string{"shop.tickets.test./A", "t.tickets.test./TYPE65280"}, []string{"5 of a type that is unknown or cannot be learned"}},
		{"record type differs from the key's", file("1", entry("t.tickets.test.", "AAAA", -time.Hour, "t.tickets.test. 60 IN A 198.51.100.3")),
			nil, []string{"1 without a usable record"}},
		{"records", file("1", ok,
			entry("r.tickets.test.", "A", -time.Hour, "not a record"),
			entry("r2.tickets.test.", "A", -time.Hour),
			entry("r3.tickets.test.", "A", -time.Hour, "r3.tickets.test. 60 CH A 198.51.100.3"),
			entry("r4.tickets.test.", "A", -time.Hour, "r4.tickets.test. 4294967295 IN A 198.51.100.3"),
			entry("r5.tickets.test.", "A", -time.Hour, "r5 60 IN A 198.51.100.3")), // relative owner: "r5."
			[]string{"shop.tickets.test./A"}, []string{"1 with records that do not parse", "4 without a usable record owned"}},
		{"names", file("1", ok,
			entry("", "A", -time.Hour, ". 60 IN A 198.51.100.3"),
			entry("a..b.tickets.test.", "A", -time.Hour, "x.tickets.test. 60 IN A 198.51.100.3"),
			entry(strings.Repeat("a", 64)+".tickets.test.", "A", -time.Hour, "x.tickets.test. 60 IN A 198.51.100.3")),
			[]string{"shop.tickets.test./A"}, []string{"3 not a domain name"}},
		{"case and duplicates: the newest wins", file("1", ok,
			entry("SHOP.Tickets.Test", "A", -time.Minute, "Shop.TICKETS.test. 60 IN A 198.51.100.7")),
			[]string{"shop.tickets.test./A"}, []string{"1 duplicate name and type"}},
		{"larger than a learned answer may be", file("1", ok, entry("big.tickets.test.", "TXT", -time.Hour, big...)),
			[]string{"shop.tickets.test./A"}, []string{"1 with records larger than 4096 bytes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, learnedFileName)
			if err := os.WriteFile(p, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := loadLearned(dir, now, 72*time.Hour)
			var keys []string
			for k := range l.m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, c.keep) {
				t.Errorf("kept %v; want %v", keys, c.keep)
			}
			if len(c.errs) == 0 {
				if err != nil {
					t.Errorf("error %v; want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v; want one naming %s", err, p)
			}
			for _, s := range c.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
	// The duplicate case kept the newer answer, lower-cased.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, learnedFileName), []byte(file("1", entry("SHOP.Tickets.Test", "A", -time.Minute, "Shop.TICKETS.test. 60 IN A 198.51.100.7"), ok)), 0o644)
	l, _ := loadLearned(dir, now, 72*time.Hour)
	if got := l.get("shop.tickets.test.", dns.TypeA, now, time.Hour); len(got) != 1 || got[0].String() != "shop.tickets.test.\t60\tIN\tA\t198.51.100.7" {
		t.Errorf("duplicates: kept %v; want the newer, lower-cased", got)
	}
}

// TestLoadLearnedBound: a file with more answers than the bound (a hand
// edit, another tool) is cut to the newest maxLearned on load, and the
// runtime bound is the documented one, not a quarter more.
func TestLoadLearnedBound(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	f := learnedFile{Version: learnedFmtV1}
	n := 3*maxLearned + 7
	for i := range n {
		name := "n" + strconv.Itoa(i) + ".tickets.test."
		f.Answers = append(f.Answers, learnedJSON{Name: name, Type: "A", At: now.Add(-time.Duration(n-i) * time.Second),
			RRs: []string{name + " 60 IN A 192.0.2.1"}})
	}
	b, _ := json.Marshal(f)
	os.WriteFile(filepath.Join(dir, learnedFileName), b, 0o644)
	l, err := loadLearned(dir, now, 72*time.Hour)
	if len(l.m) != maxLearned {
		t.Fatalf("%d answers loaded from a file of %d; want the bound %d", len(l.m), n, maxLearned)
	}
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(n-maxLearned)+" beyond the bound of 4096") {
		t.Errorf("error %v; want the count beyond the bound", err)
	}
	if l.get("n"+strconv.Itoa(n-1)+".tickets.test.", dns.TypeA, now, time.Hour) == nil ||
		l.get("n"+strconv.Itoa(n-maxLearned-1)+".tickets.test.", dns.TypeA, now, 72*time.Hour) != nil {
		t.Error("the bound kept other than the newest answers")
	}
	for i := range maxLearned {
		l.put("new"+strconv.Itoa(i)+".tickets.test.", dns.TypeA, aRR("new"+strconv.Itoa(i)+".tickets.test.", net.IPv4(192, 0, 2, 1)), now.Add(time.Duration(i)))
		if len(l.m) > maxLearned {
			t.Fatalf("%d answers held at run time; the bound is %d", len(l.m), maxLearned)
		}
	}
	// The cleaned file is what gets saved.
	if err := l.save(now.Add(time.Hour), 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	if l2, err := loadLearned(dir, now.Add(time.Hour), 72*time.Hour); err != nil || len(l2.m) != len(l.m) {
		t.Fatalf("reloaded %d answers (%v); want the %d saved, without warning", len(l2.m), err, len(l.m))
	}
}

// TestLoadLearnedOneWarning: New logs what loading left out in one warning
// line that names the file.
func TestLoadLearnedOneWarning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := filepath.Join(dir, learnedFileName)
	os.WriteFile(p, []byte(`{"version":1,"answers":[
		{"name":"ponly1.tickets.test.","type":"A","at":"2026-11-25T11:00:00Z","rrs":["bank.other.test. 60 IN A 6.6.6.6"]},
		{"name":"f.tickets.test.","type":"A","at":"2027-11-25T11:00:00Z","rrs":["f.tickets.test. 60 IN A 6.6.6.6"]},
		{"name":"t.tickets.test.","type":"OPT","at":"2026-11-25T11:00:00Z","rrs":["t.tickets.test. 60 IN A 6.6.6.6"]},
		{"name":"ok.tickets.test.","type":"A","at":"2026-11-25T11:00:00Z","rrs":["ok.tickets.test. 60 IN A 198.51.100.1"]}]}`), 0o644)
	var log logLines
	cfg := testConfig("127.0.0.1:9")
	cfg.StateDir = dir
	if _, err := New(cfg, Options{Logger: slog.New(&log), Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	warns := log.at(slog.LevelWarn)
	if len(warns) != 1 || !strings.Contains(warns[0], p) ||
		!strings.Contains(warns[0], "kept 1, dropped 3 answers: 1 of a type that is unknown or cannot be learned, 1 dated more than 5m0s ahead of this clock, 1 without a usable record") {
		t.Fatalf("warnings %q; want one line naming %s with what was dropped and why", warns, p)
	}
}

// logLines is a slog.Handler that keeps each record as one text line.
type logLines struct {
	mu    sync.Mutex
	lines map[slog.Level][]string
}

func (h *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (h *logLines) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logLines) WithGroup(string) slog.Handler            { return h }
func (h *logLines) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lines == nil {
		h.lines = map[slog.Level][]string{}
	}
	h.lines[r.Level] = append(h.lines[r.Level], s)
	return nil
}

func (h *logLines) at(l slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.lines[l])
}

// FuzzLoadLearned: whatever learned.json holds, loading neither panics nor
// keeps more than the bounds, and every kept answer passes the rules for
// learning again unchanged (owned by its name or chain, within 4 KiB).
func FuzzLoadLearned(f *testing.F) {
	f.Add(`{"version":1,"answers":[{"name":"a.t.","type":"A","at":"2026-11-25T11:00:00Z","rrs":["a.t. 60 IN A 192.0.2.1"]}]}`)
	f.Add(`{"version":1,"answers":[{"name":"a.t.","type":"A","at":"2026-11-25T11:00:00Z","rrs":["a.t. 60 IN CNAME b.t.","b.t. 60 IN A 192.0.2.1","c.t. 60 IN A 6.6.6.6"]}]}`)
	f.Add(`{"version":1,"answers":[{"name":"w.o.t.","type":"A","at":"2026-11-25T11:00:00Z","rrs":["o.t. 60 IN DNAME n.t.","w.n.t. 60 IN A 192.0.2.1"]}]}`)
	f.Add(`{"answers":[],"version":2}`)
	f.Add(`{"version":1,"answers":null}`)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, learnedFileName), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		l, _ := loadLearned(dir, now, 72*time.Hour)
		if len(l.m) > maxLearned {
			t.Fatalf("%d answers kept", len(l.m))
		}
		for k, e := range l.m {
			again, dropped := ownRecords(e.name, e.qtype, e.rrs)
			if k != learnedKey(e.name, e.qtype) || dropped != 0 || !sameRRs(again, e.rrs) || rrsLen(e.rrs) > maxLearnedRR || e.at.After(now) {
				t.Fatalf("kept %s: %v (again: %v, %d dropped)", k, e.rrs, again, dropped)
			}
		}
	})
}

// TestLoadLearnedNotAFile: a directory where learned.json belongs (or a FIFO,
// which would block the start) is reported and skipped.
func TestLoadLearnedNotAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, learnedFileName)
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if l, err := loadLearned(dir, time.Now(), time.Hour); err == nil || !strings.Contains(err.Error(), p) || len(l.m) != 0 {
		t.Fatalf("directory as learned.json: %v", err)
	}
}

// BenchmarkLoadLearned: start-up cost of the largest file dnspin writes
// (4096 answers of 4 KiB of TXT records each, about 20 MB of JSON) and of
// one three times as large (cut to the newest 4096 while it is read).
func BenchmarkLoadLearned(b *testing.B) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, n := range []int{maxLearned, 3 * maxLearned} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			f := learnedFile{Version: learnedFmtV1}
			for i := range n {
				name := "n" + strconv.Itoa(i) + ".tickets.test."
				a := learnedJSON{Name: name, Type: "TXT", At: now.Add(-time.Duration(n-i) * time.Second)}
				for range 14 { // 14 × ~280 bytes: just under 4 KiB
					a.RRs = append(a.RRs, name+` 60 IN TXT "`+strings.Repeat("x", 250)+`"`)
				}
				f.Answers = append(f.Answers, a)
			}
			data, _ := json.Marshal(f)
			os.WriteFile(filepath.Join(dir, learnedFileName), data, 0o644)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				l, _ := loadLearned(dir, now, 72*time.Hour)
				if len(l.m) != maxLearned {
					b.Fatalf("%d loaded", len(l.m))
				}
			}
		})
	}
}

// BenchmarkLoadLearnedTypical: start-up cost of a full file of the answers
// a platform typically has (4096 answers of two A records each). It runs
// in New, before the first answer (docs/benchmarks.md, "Backups and
// start-up").
func BenchmarkLoadLearnedTypical(b *testing.B) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	dir := b.TempDir()
	f := learnedFile{Version: learnedFmtV1}
	for i := range maxLearned {
		name := "n" + strconv.Itoa(i) + ".tickets.test."
		a := learnedJSON{Name: name, Type: "A", At: now.Add(-time.Duration(i) * time.Second)}
		a.RRs = []string{name + "\t300\tIN\tA\t198.51.100.1", name + "\t300\tIN\tA\t198.51.100.2"}
		f.Answers = append(f.Answers, a)
	}
	data, _ := json.Marshal(f)
	os.WriteFile(filepath.Join(dir, learnedFileName), data, 0o644)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if l, _ := loadLearned(dir, now, 72*time.Hour); len(l.m) != maxLearned {
			b.Fatalf("%d loaded", len(l.m))
		}
	}
}
