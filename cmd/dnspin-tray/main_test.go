package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// TestBadLangIsUsageError: a wrong --lang exits 2 before the tray takes its
// lock or creates its folder and log.
func TestBadLangIsUsageError(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)
	var stderr strings.Builder
	if code := run(context.Background(), []string{"--lang", "xx"}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--lang") {
		t.Fatalf("exit %d, stderr %q; want 2 and a word about --lang", code, stderr.String())
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 0 {
		t.Errorf("a usage error left %v in the cache folder", ents)
	}
}
