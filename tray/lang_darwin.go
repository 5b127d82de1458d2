package tray

import (
	"context"
	"os"
	"os/exec"
	"time"
)

// DetectLang returns the user's macOS language order (AppleLanguages),
// falling back to the locale environment and then English. Apps started
// from Finder get no LANG, which is why the defaults database comes first.
func DetectLang() Lang {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "defaults", "read", "-g", "AppleLanguages").Output()
	if err == nil {
		for _, p := range ParseAppleLanguages(string(out)) {
			if l, ok := ParseLocale(p); ok {
				return l
			}
		}
	}
	return LangFromEnv(os.Getenv)
}
