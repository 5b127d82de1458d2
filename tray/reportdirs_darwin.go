package tray

import (
	"os"
	"path/filepath"
)

// UserReportDirs is where "Save support report…" writes, in order:
// ~/Desktop, ~/Documents (Finder shows them localised, the paths are
// not), then the home folder.
func UserReportDirs() []ReportDir {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	return []ReportDir{
		{PlaceDesktop, filepath.Join(home, "Desktop")},
		{PlaceDocuments, filepath.Join(home, "Documents")},
		{PlaceOther, home},
	}
}
