package tray

import (
	"os"

	"golang.org/x/sys/windows"
)

// UserReportDirs is where "Save support report…" writes, in order: the
// user's Desktop and Documents known folders (which may be redirected, e.g.
// to OneDrive), then the profile folder.
func UserReportDirs() []ReportDir {
	var dirs []ReportDir
	if p, err := windows.KnownFolderPath(windows.FOLDERID_Desktop, 0); err == nil {
		dirs = append(dirs, ReportDir{PlaceDesktop, p})
	}
	if p, err := windows.KnownFolderPath(windows.FOLDERID_Documents, 0); err == nil {
		dirs = append(dirs, ReportDir{PlaceDocuments, p})
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, ReportDir{PlaceOther, home})
	}
	return dirs
}
