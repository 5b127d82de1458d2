//go:build !windows && !darwin

package tray

import "os"

// DetectLang returns the user's language from the locale environment
// (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), falling back to English.
func DetectLang() Lang { return LangFromEnv(os.Getenv) }
