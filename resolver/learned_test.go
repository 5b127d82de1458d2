package resolver

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	if n := len(l.m); n > maxLearned+maxLearned/4 {
		t.Fatalf("%d learned entries, bound %d", n, maxLearned+maxLearned/4)
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
	l.put("a.tickets.test.", dns.TypeA, aRR("a.tickets.test.", net.IPv4(192, 0, 2, 2)), now.Add(2*time.Minute))
	if !l.dirty {
		t.Fatal("a changed answer did not make the file dirty")
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
