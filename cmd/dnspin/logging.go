package main

import (
	"io"
	"log/slog"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/redact"
)

// LogFile is the service log's name inside the state directory.
const LogFile = "dnspin.log"

// fileLog returns the service's log writer: a file in the state dir that
// rotates at [log] max_size_mb and keeps max_files files in all, so the log
// can never fill the disk. A full disk makes writes fail; slog drops such
// records, so resolution never waits on logging.
func fileLog(cfg *config.Config) io.WriteCloser {
	return &lumberjack.Logger{
		Filename:   filepath.Join(cfg.StateDir, LogFile),
		MaxSize:    cfg.Log.MaxSizeMB,
		MaxBackups: cfg.Log.MaxFiles - 1, // max_files counts the live file too
	}
}

// newLogger returns a text logger on w, optionally teeing into extra.
// Every record is redacted first (internal/redact): the log file, stderr
// and the report's copy never carry mirror credentials or key material.
func newLogger(w io.Writer, extra ...slog.Handler) *slog.Logger {
	h := slog.Handler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(extra) > 0 {
		h = slog.NewMultiHandler(append([]slog.Handler{h}, extra...)...)
	}
	return slog.New(redact.Handler(h))
}
