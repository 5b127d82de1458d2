package tray

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestXDGUserDirs(t *testing.T) {
	t.Parallel()
	file := []byte(`# written by xdg-user-dirs-update
XDG_DESKTOP_DIR="$HOME/Schreibtisch"
XDG_DOWNLOAD_DIR="$HOME/Downloads"
XDG_DOCUMENTS_DIR="/srv/docs/kasse"
`)
	got := XDGUserDirs("/home/kasse", file)
	want := []ReportDir{{PlaceDesktop, "/home/kasse/Schreibtisch"}, {PlaceDocuments, "/srv/docs/kasse"}, {PlaceOther, "/home/kasse"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got = XDGUserDirs("/home/a", nil)
	want = []ReportDir{{PlaceDesktop, "/home/a/Desktop"}, {PlaceDocuments, "/home/a/Documents"}, {PlaceOther, "/home/a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults: got %v", got)
	}
	got = XDGUserDirs("/home/a", []byte(`XDG_DESKTOP_DIR="$HOME/"`))
	if got[0].Path != "" {
		t.Errorf("disabled desktop: %v", got[0])
	}
}

func TestReportName(t *testing.T) {
	t.Parallel()
	if got := ReportName(now); got != "dnspin-report-20261126-003000.txt" {
		t.Errorf("got %s", got)
	}
}

func TestSaveReportPicksFolder(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	docs := filepath.Join(home, "Documents")
	if err := os.Mkdir(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	dirs := []ReportDir{{PlaceDesktop, filepath.Join(home, "Desktop")}, {PlaceDocuments, docs}, {PlaceOther, home}}
	data := []byte("report one")
	place, file, err := SaveReport(dirs, data, now)
	if err != nil || place != PlaceDocuments || file != "dnspin-report-20261126-003000.txt" {
		t.Fatalf("no desktop: %v %q %v", place, file, err)
	}
	// Same second again: a second file, the first one kept.
	place, file, err = SaveReport(dirs, []byte("report two"), now)
	if err != nil || file != "dnspin-report-20261126-003000-2.txt" {
		t.Fatalf("second save: %v %q %v", place, file, err)
	}
	if b, _ := os.ReadFile(filepath.Join(docs, "dnspin-report-20261126-003000.txt")); string(b) != "report one" {
		t.Errorf("first report overwritten: %q", b)
	}
	// Only the home folder: the full path is returned.
	place, file, err = SaveReport([]ReportDir{{PlaceDesktop, filepath.Join(home, "nope")}, {PlaceOther, home}}, data, now)
	if err != nil || place != PlaceOther || file != filepath.Join(home, "dnspin-report-20261126-003000.txt") {
		t.Fatalf("home: %v %q %v", place, file, err)
	}
	if _, _, err := SaveReport(nil, data, now); err == nil {
		t.Error("no folders: no error")
	}
}
