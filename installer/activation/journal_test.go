package activation

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestJournalRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if j, err := ReadJournal(OSFS{}, dir); j != nil || err != nil {
		t.Fatalf("no journal yet: got %v, %v", j, err)
	}
	in := &Journal{Backend: "resolv.conf", Active: true, Plan: Plan{Mode: "full"},
		Records: []Record{{Kind: "file", Key: "/etc/resolv.conf", Existed: true, Data: []byte("nameserver 192.0.2.1\n"), Mode: 0o644}}}
	if err := WriteJournal(OSFS{}, dir, in); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, JournalFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode: %v %v", st, err)
	}
	out, err := ReadJournal(OSFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := out.Find("file", "/etc/resolv.conf")
	if !ok || !bytes.Equal(r.Data, in.Records[0].Data) || r.Mode != 0o644 || !out.Active || out.Version != 1 {
		t.Fatalf("round trip lost data: %+v", out)
	}
	if err := RemoveJournal(OSFS{}, dir); err != nil {
		t.Fatal(err)
	}
	if err := RemoveJournal(OSFS{}, dir); err != nil {
		t.Fatalf("second remove should be a no-op: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, JournalFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadJournal(OSFS{}, dir); err == nil {
		t.Fatal("damaged journal must be an error")
	}
}
