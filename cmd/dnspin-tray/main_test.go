package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestControlAddress(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dnspin.toml")
	if err := os.WriteFile(cfg, []byte("control = \"/tmp/x/dnspin.sock\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := controlAddress("/flag.sock", cfg, log); got != "/flag.sock" {
		t.Errorf("flag: %s", got)
	}
	if got := controlAddress("", cfg, log); got != "/tmp/x/dnspin.sock" {
		t.Errorf("config: %s", got)
	}
	if got := controlAddress("", filepath.Join(dir, "missing.toml"), log); got == "" {
		t.Error("missing config gave no default")
	}
}

func TestOneInstance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	release, err := acquireInstance(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquireInstance(dir); err != errAlreadyRunning {
		t.Fatalf("second lock: %v, want errAlreadyRunning", err)
	}
	release()
	release2, err := acquireInstance(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release2()
}
