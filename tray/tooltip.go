package tray

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxTooltip is how many UTF-16 code units a Windows notification-area
// tooltip holds: NOTIFYICONDATAW.szTip is 128 units including the
// terminating NUL. The systray library copies our UTF-16 into it without
// checking, so a longer text loses its NUL (Windows then reads past the
// field) and a cut by bytes or runes can leave half a surrogate pair: both
// show as garbage boxes. Other desktops show any length; one limit for all
// keeps the tooltip the same everywhere.
const maxTooltip = 127

// windowsTooltipUnits is how much of a tooltip Windows shows when set
// through fyne.io/systray v1.12.2: its NOTIFYICONDATAW has uTimeout and
// uVersion as two fields where Windows has a union, so cbSize (984 on
// amd64) matches no known version, and the shell falls back to the Windows
// 95 layout with a 64-unit szTip — the same under Wine (seen there:
// "… Bitten Si" and three garbage boxes, the text running past the 64 units
// with no NUL in them). 63 units plus the library's NUL fit. Upstream:
// fyne-io/systray issue 133; when that is fixed, this can go back to
// maxTooltip.
const windowsTooltipUnits = 63

// cutUTF16 returns s if it fits in max UTF-16 code units; otherwise the
// longest clean start of s that fits with a trailing "…". Clean means: never
// inside a surrogate pair (a rune is taken whole), never before a combining
// mark, zero-width joiner, variation selector or emoji modifier (they belong
// to the character before them), and at a word boundary when one lies in the
// last third of the room, so a word is not chopped where a whole one fits.
func cutUTF16(s string, max int) string {
	if utf16Len(s) <= max {
		return s
	}
	const ellipsis = '…' // one UTF-16 unit
	room := max - 1
	if max <= 0 {
		return ""
	}
	// Walk the runes, remembering the last offset that ends a whole
	// character (a cut point) and the last one before a space.
	n := 0           // UTF-16 units so far
	lastCut := 0     // byte offset of the last clean cut within room
	lastSpace := -1  // byte offset just before the last space within room
	spaceUnits := -1 // units at lastSpace
	ri := 0          // regional indicators in a row: a flag is two of them
	for i, r := range s {
		flagHalf := isRegional(r) && ri%2 == 1
		if isRegional(r) {
			ri++
		} else {
			ri = 0
		}
		if i > 0 && !extends(r) && !joins(s[:i]) && !flagHalf {
			lastCut = i
			if unicode.IsSpace(r) {
				lastSpace, spaceUnits = i, n
			}
		}
		w := utf16.RuneLen(r)
		if w < 0 {
			w = 1 // invalid rune: encoded as U+FFFD, one unit
		}
		if n+w > room {
			break
		}
		n += w
	}
	cut := lastCut
	if lastSpace > 0 && spaceUnits >= room*2/3 {
		cut = lastSpace
	}
	// No space or punctuation before the ellipsis looks like a sentence
	// torn off: "Bitten Sie …" reads worse than "Bitten Sie…".
	head := []rune(s[:cut])
	for len(head) > 0 && (unicode.IsSpace(head[len(head)-1]) || head[len(head)-1] == ',' || head[len(head)-1] == ':') {
		head = head[:len(head)-1]
	}
	return string(head) + string(ellipsis)
}

// extends reports whether r belongs to the character before it.
func extends(r rune) bool {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
		return true // combining marks; includes the variation selectors FE00–FE0F
	case r == 0x200D: // zero-width joiner: joined to the left
		return true
	case r >= 0x1F3FB && r <= 0x1F3FF: // emoji skin-tone modifiers
		return true
	case r >= 0xE0020 && r <= 0xE007F: // tag characters (flag subdivisions)
		return true
	}
	return false
}

// isRegional reports whether r is a regional indicator letter; two make a
// flag (🇩🇪), and one alone shows as a boxed letter.
func isRegional(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// joins reports whether the text before a cut ends in a zero-width joiner,
// which glues the next character to it (👩‍💻 is one picture).
func joins(before string) bool {
	r, _ := utf8.DecodeLastRuneInString(before)
	return r == 0x200D
}

// utf16Len is the length of s in UTF-16 code units, as Windows counts.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if w := utf16.RuneLen(r); w > 0 {
			n += w
		} else {
			n++
		}
	}
	return n
}
