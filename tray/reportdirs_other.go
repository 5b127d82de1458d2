//go:build !windows && !darwin

package tray

import (
	"os"
	"path/filepath"
)

// UserReportDirs is where "Save support report…" writes, in order: the
// desktop and Documents folders from the XDG user-dirs file (localised
// names, e.g. ~/Schreibtisch), then the home folder.
func UserReportDirs() []ReportDir {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		cfg = filepath.Join(home, ".config")
	}
	b, _ := os.ReadFile(filepath.Join(cfg, "user-dirs.dirs")) // absent: defaults
	return XDGUserDirs(home, b)
}
