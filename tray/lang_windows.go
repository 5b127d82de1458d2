package tray

import (
	"os"

	"golang.org/x/sys/windows"
)

// DetectLang returns the user's Windows display language (the user's
// preferred UI languages, in order), falling back to the locale
// environment and then English.
func DetectLang() Lang {
	prefs, err := windows.GetUserPreferredUILanguages(windows.MUI_LANGUAGE_NAME)
	if err == nil {
		for _, p := range prefs {
			if l, ok := ParseLocale(p); ok {
				return l
			}
		}
	}
	return LangFromEnv(os.Getenv)
}
