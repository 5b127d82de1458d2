package tray

import "strings"

// Lang is a user interface language dnspin's tray speaks.
type Lang string

// The languages with a complete catalog. English is the fallback.
const (
	English Lang = "en"
	German  Lang = "de"
	French  Lang = "fr"
)

// Langs lists every supported language, fallback first.
func Langs() []Lang { return []Lang{English, German, French} }

// ParseLocale maps one locale or language tag ("de_DE.UTF-8", "fr-CH",
// "en", "C") to a supported language; ok is false when the tag names a
// language without a catalog.
func ParseLocale(tag string) (Lang, bool) {
	tag = strings.TrimSpace(strings.Trim(strings.TrimSpace(tag), `"`))
	// Strip encoding and modifier: "de_DE.UTF-8@euro" -> "de_DE".
	if i := strings.IndexAny(tag, ".@"); i >= 0 {
		tag = tag[:i]
	}
	if i := strings.IndexAny(tag, "_-"); i >= 0 {
		tag = tag[:i]
	}
	switch strings.ToLower(tag) {
	case "en":
		return English, true
	case "de":
		return German, true
	case "fr":
		return French, true
	}
	return English, false
}

// PickLang returns the first supported language in the user's preference
// order, or English when none is supported.
func PickLang(prefs []string) Lang {
	for _, p := range prefs {
		if l, ok := ParseLocale(p); ok {
			return l
		}
	}
	return English
}

// LangFromEnv applies POSIX/GNU precedence to locale variables: LANGUAGE (a
// colon-separated preference list, ignored when the locale is "C"), then
// LC_ALL, LC_MESSAGES and LANG — the first one that is set decides.
func LangFromEnv(getenv func(string) string) Lang {
	locale := ""
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := getenv(k); v != "" {
			locale = v
			break
		}
	}
	if locale == "C" || locale == "POSIX" || strings.HasPrefix(locale, "C.") {
		return English
	}
	var prefs []string
	if l := getenv("LANGUAGE"); l != "" && locale != "" {
		prefs = append(prefs, strings.Split(l, ":")...)
	}
	if locale != "" {
		prefs = append(prefs, locale)
	}
	return PickLang(prefs)
}

// ParseAppleLanguages reads the output of `defaults read -g AppleLanguages`,
// a property list array such as
//
//	(
//	    "de-DE",
//	    en
//	)
//
// and returns the tags in preference order.
func ParseAppleLanguages(out string) []string {
	var tags []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimSuffix(line, ",")
		line = strings.Trim(line, `"`)
		if line == "" || line == "(" || line == ")" {
			continue
		}
		tags = append(tags, line)
	}
	return tags
}
