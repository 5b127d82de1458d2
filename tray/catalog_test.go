package tray

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// TestCatalogsComplete: every key in every language, nothing empty, the
// same placeholders everywhere, and no key in a catalog that the code does
// not know.
func TestCatalogsComplete(t *testing.T) {
	t.Parallel()
	all := catalogs()
	keys := AllKeys()
	for _, lang := range Langs() {
		cat, ok := all[lang]
		if !ok {
			t.Fatalf("no catalog for %s", lang)
		}
		for _, k := range keys {
			s, ok := cat[k]
			if !ok {
				t.Errorf("%s: key %s missing", lang, k)
				continue
			}
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s: key %s is empty", lang, k)
			}
			want := placeholder.FindAllString(all[English][k], -1)
			got := placeholder.FindAllString(s, -1)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: key %s has placeholders %v, English has %v", lang, k, got, want)
			}
		}
		for k := range cat {
			if !slices.Contains(keys, k) {
				t.Errorf("%s: key %s is not in AllKeys", lang, k)
			}
		}
		if n := len(strings.Split(cat[KeyMonths], "|")); n != 12 {
			t.Errorf("%s: %d month names", lang, n)
		}
	}
	if len(all) != len(Langs()) {
		t.Errorf("%d catalogs, %d languages", len(all), len(Langs()))
	}
}

// TestNoJargon keeps technical words out of what box-office staff read.
func TestNoJargon(t *testing.T) {
	t.Parallel()
	jargon := regexp.MustCompile(`(?i)\b(dns|resolver|resolve|upstream|server|serveur|cache|ttl|query|queries|pin|pinned|servfail|nxdomain|socket|ip|bundle)\b`)
	for lang, cat := range catalogs() {
		for k, s := range cat {
			if m := jargon.FindString(strings.ReplaceAll(s, "dnspin", "")); m != "" {
				t.Errorf("%s %s: %q contains %q", lang, k, s, m)
			}
		}
	}
}

// TestFallback: a string missing in a language shows in English, and an
// unknown language gets English.
// TestFrenchSpacing: French puts a no-break space before : ; ? ! so the
// mark never starts a line of the menu on its own.
func TestFrenchSpacing(t *testing.T) {
	t.Parallel()
	bad := regexp.MustCompile(`[ \t][:;?!]|[^\x{00a0}\x{202f}][;?!]|[^\x{00a0}\x{202f}{]:`)
	for k, s := range catalogs()[French] {
		if m := bad.FindString(s); m != "" {
			t.Errorf("%s: %q has %q without a no-break space", k, s, m)
		}
	}
}

func TestFallback(t *testing.T) {
	t.Parallel()
	tx := TextsFor("it")
	if tx.Lang() != English || tx.Text(KeyQuit) != "Quit" {
		t.Errorf("unknown language: %s %q", tx.Lang(), tx.Text(KeyQuit))
	}
	tx = TextsFor(German)
	delete(tx.own, KeyQuit)
	if got := tx.Text(KeyQuit); got != "Quit" {
		t.Errorf("missing German string gave %q", got)
	}
}

func TestDates(t *testing.T) {
	t.Parallel()
	d := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for lang, want := range map[Lang]string{English: "1 March 2026", German: "1. März 2026", French: "1er mars 2026"} {
		if got := TextsFor(lang).Date(d); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
	if got := TextsFor(French).Date(d.AddDate(0, 5, 14)); got != "15 août 2026" {
		t.Errorf("fr: %q", got)
	}
}

// TestOneRegister: each language addresses the user one way. German uses
// "Sie" throughout: every request names the user ("Bitte versuchen Sie
// es …"), never a bare infinitive ("Bitte noch einmal versuchen") and
// never "du"; French uses "vous" (imperatives in -ez), never "tu".
func TestOneRegister(t *testing.T) {
	t.Parallel()
	sentence := regexp.MustCompile(`[^.!?…]+[.!?…]?`)
	// Word edges by hand: \b is ASCII-only, and "prêtes" would end in "tes".
	du := regexp.MustCompile(`(?i)(?:^|[\s(„])(du|dich|dir|dein\pL*)(?:$|[\s.,;:!?)“])`)
	for k, s := range catalogs()[German] {
		for _, sen := range sentence.FindAllString(s, -1) {
			if strings.Contains(sen, "Bitte") && !strings.Contains(sen, "Sie") {
				t.Errorf("de %s: %q asks without \"Sie\"", k, sen)
			}
		}
		if m := du.FindString(s); m != "" {
			t.Errorf("de %s: %q uses %q", k, s, m)
		}
	}
	tu := regexp.MustCompile(`(?i)(?:^|[\s(«])(tu|toi|ton|tes|réessayer)(?:$|[\s.,;:!?)»\x{00a0}])`)
	for k, s := range catalogs()[French] {
		if m := tu.FindString(s); m != "" {
			t.Errorf("fr %s: %q uses %q", k, s, m)
		}
	}
}
