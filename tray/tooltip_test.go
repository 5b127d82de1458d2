package tray

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// checkCut asserts what every cut must be: within max UTF-16 units, valid
// UTF-8 that survives a UTF-16 round trip (no half surrogate pair), the
// input unchanged when it fits, and otherwise a start of the input ending
// at a clean place, followed by "…".
func checkCut(t *testing.T, in string, max int) string {
	t.Helper()
	got := cutUTF16(in, max)
	u := utf16.Encode([]rune(got))
	if len(u) > max {
		t.Errorf("cut(%q) = %q: %d UTF-16 units, more than %d", in, got, len(u), max)
	}
	if !utf8.ValidString(got) || string(utf16.Decode(u)) != got {
		t.Errorf("cut(%q) = %q: not clean UTF-16", in, got)
	}
	if len(utf16.Encode([]rune(in))) <= max {
		if got != in {
			t.Errorf("cut(%q) = %q, but it fits", in, got)
		}
		return got
	}
	head, ok := strings.CutSuffix(got, "…")
	if !ok || !strings.HasPrefix(in, head) {
		t.Fatalf("cut(%q) = %q: not a start of the input plus …", in, got)
	}
	rest := in[len(head):]
	next, _ := utf8.DecodeRuneInString(rest)
	if extends(next) || joins(head) {
		t.Errorf("cut(%q) = %q: cut inside a character (next %U)", in, got, next)
	}
	if strings.HasSuffix(head, " ") {
		t.Errorf("cut(%q) = %q: space before the …", in, got)
	}
	return got
}

// TestTooltipCatalog puts every sentence of every language in the tooltip
// as Update does, with and without a platform name; a long platform name
// forces the cut.
func TestTooltipCatalog(t *testing.T) {
	t.Parallel()
	for _, lang := range Langs() {
		tx := TextsFor(lang)
		for _, k := range AllKeys() {
			s := tx.Text(k, "n", "12", "file", "dnspin-report-2026-12-05.zip", "version", "1.4.0",
				"serial", "42", "date", "1 December 2026")
			plain := checkCut(t, tx.Text(KeyTooltip, "status", s), maxTooltip)
			if !strings.HasSuffix(plain, "…") && !strings.Contains(plain, s) {
				t.Errorf("%s %s: tooltip %q lost the sentence", lang, k, plain)
			}
			for _, name := range []string{"Example Tickets", strings.Repeat("Théâtre municipal de Saint-Étienne ", 3)} {
				tip := checkCut(t, tx.Text(KeyTooltip, "status", tx.Text(KeyStatusWithName, "platform", name, "status", s)), maxTooltip)
				// What the Windows binding then cuts it to (fyne.io/systray's
				// 64-unit field): cut again, still clean.
				checkCut(t, tip, windowsTooltipUnits)
			}
			checkCut(t, plain, windowsTooltipUnits)
		}
	}
}

func TestCutUTF16(t *testing.T) {
	t.Parallel()
	a := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"fits", "Alles funktioniert normal.", 127, "Alles funktioniert normal."},
		{"exactly max", a(127), 127, a(127)},
		{"one over, no space", a(128), 127, a(126) + "…"},
		// The text: at a word, not "Bitten Si".
		{"word boundary", "dnspin – dnspin ist auf diesem Computer ausgeschaltet. Bitten Sie den Support, es einzuschalten.", 64,
			"dnspin – dnspin ist auf diesem Computer ausgeschaltet. Bitten…"},
		{"comma dropped before …", "aaaa bbbb cccc, dddd", 16, "aaaa bbbb cccc…"},
		// 😀 is two UTF-16 units: with room for 5 units, "aaaa" + half of it would fit by units.
		{"emoji at the edge", a(4) + "😀😀", 6, a(4) + "…"},
		{"emoji whole", a(3) + "😀😀", 6, a(3) + "😀…"},
		// e + U+0301 (combining acute): the e is not left bare.
		{"combining mark", a(4) + "e\u0301e\u0301", 6, a(4) + "…"},
		{"combining mark whole", a(3) + "e\u0301x", 5, a(3) + "…"},
		{"two combining marks", "xxx" + "o\u0308\u0301" + "yy", 6, "xxx…"},
		// 👩‍💻 = 👩 ZWJ 💻: not 👩 alone, not 👩+ZWJ.
		{"zwj sequence", "ab" + "👩\u200d💻" + "cdef", 5, "ab…"},
		{"zwj sequence whole", "ab" + "👩\u200d💻" + "cdef", 8, "ab👩\u200d💻…"},
		{"skin tone", "ab" + "👍🏽" + "cdef", 5, "ab…"},
		{"variation selector", "ab" + "❤\ufe0f" + "cdef", 3, "ab…"},
		// 🇩🇪🇫🇷: each flag is two regional indicators of two units each.
		{"flag pair", "🇩🇪🇫🇷" + "xyz", 7, "🇩🇪…"},
		{"tiny", "abcdef", 1, "…"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkCut(t, c.in, c.max)
			if got != c.want {
				t.Errorf("cutUTF16(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
			}
		})
	}
}
