package tray

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

// ReportDir is a folder a support report may be saved in.
type ReportDir struct {
	Place Place
	Path  string
}

// ReportName is the file name for a report made at now: the same as
// `dnspin report` writes, so support sees one kind of file.
func ReportName(now time.Time) string { return control.ReportFileName(now) }

// SaveReport writes data into the first of dirs that exists and accepts
// the file, never overwriting an existing file. It returns where it wrote:
// the place and, for the desktop and Documents, the file name (what the
// user looks for), otherwise the full path.
func SaveReport(dirs []ReportDir, data []byte, now time.Time) (Place, string, error) {
	name := ReportName(now)
	var errs []error
	for _, d := range dirs {
		if d.Path == "" {
			continue
		}
		if fi, err := os.Stat(d.Path); err != nil || !fi.IsDir() {
			continue
		}
		path, err := writeNew(d.Path, name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d.Place == PlaceOther {
			return d.Place, path, nil
		}
		return d.Place, filepath.Base(path), nil
	}
	if len(errs) == 0 {
		return PlaceOther, "", fmt.Errorf("no desktop, Documents or home folder to save the support report in: run `dnspin report -o FILE` instead")
	}
	return PlaceOther, "", fmt.Errorf("saving the support report: %w", errors.Join(errs...))
}

// writeNew creates dir/name (or dir/name-2 …) exclusively and syncs it.
func writeNew(dir, name string, data []byte) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; i <= 20; i++ {
		p := filepath.Join(dir, name)
		if i > 1 {
			p = filepath.Join(dir, fmt.Sprintf("%s-%d%s", base, i, ext))
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		_, werr := f.Write(data)
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			os.Remove(p)
			return "", fmt.Errorf("%s: %w", p, err)
		}
		return p, nil
	}
	return "", fmt.Errorf("%s: too many reports with the same name; delete old dnspin-report files", dir)
}

// XDGUserDirs reads the desktop and Documents folders from an XDG
// user-dirs.dirs file (lines like XDG_DESKTOP_DIR="$HOME/Schreibtisch";
// localised desktops use localised names). Missing entries fall back to
// ~/Desktop and ~/Documents; an entry equal to $HOME means "disabled".
func XDGUserDirs(home string, userDirs []byte) []ReportDir {
	found := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(userDirs))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch {
		case v == "$HOME" || v == "$HOME/":
			v = ""
		case strings.HasPrefix(v, "$HOME/"):
			v = filepath.Join(home, v[len("$HOME/"):])
		case !filepath.IsAbs(v):
			continue
		}
		found[strings.TrimSpace(k)] = v
	}
	get := func(key, def string) string {
		if v, ok := found[key]; ok {
			return v
		}
		return filepath.Join(home, def)
	}
	return []ReportDir{
		{PlaceDesktop, get("XDG_DESKTOP_DIR", "Desktop")},
		{PlaceDocuments, get("XDG_DOCUMENTS_DIR", "Documents")},
		{PlaceOther, home},
	}
}
