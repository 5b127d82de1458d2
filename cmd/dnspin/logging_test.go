package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/config"
)

// The service log must stay bounded: max_files files of at most max_size_mb.
func TestFileLogIsBounded(t *testing.T) {
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.Log.MaxSizeMB, cfg.Log.MaxFiles = 1, 2
	w := fileLog(cfg)
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	for i := 0; i < 4*1024; i++ { // 4 MiB through a 1 MiB x 2 files log
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// lumberjack removes old backups asynchronously; wait for it by polling,
	// for up to 20 s (a hang guard for a loaded machine, not a timing claim).
	var total int64
	var n int
	for stop := time.Now().Add(20 * time.Second); time.Now().Before(stop); {
		ents, err := os.ReadDir(cfg.StateDir)
		if err != nil {
			t.Fatal(err)
		}
		total, n = 0, len(ents)
		for _, e := range ents {
			fi, _ := e.Info()
			total += fi.Size()
		}
		if n <= 2 {
			break
		}
		waitABit()
	}
	if n > 2 || total > 2<<20 {
		t.Fatalf("log dir holds %d files, %d bytes; want at most 2 files, 2 MiB", n, total)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, LogFile)); err != nil {
		t.Fatal(err)
	}
}

func waitABit() { <-time.After(10 * time.Millisecond) }
