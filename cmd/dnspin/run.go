package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/dnspin/dnspin/installer"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/daemon"
)

var cmdRun = command{
	name:    "run",
	args:    "[--config F] [--listen ADDR]... [--service]",
	summary: "run the resolver in the foreground; logs to stderr, Ctrl-C stops it",
	run: func(ctx context.Context, e *env, args []string) error {
		fs, cfgPath := flagSet(e)
		var listen multiFlag
		fs.Var(&listen, "listen", "listen address IP:port, repeatable (default: listen from the config)")
		asService := fs.Bool("service", false, "run as the OS service: log to a bounded file in the state dir (set by dnspin install)")
		if err := parseNoArgs(fs, args); err != nil {
			return err
		}
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		ring := control.NewLogRing(reportLogLines, slog.LevelInfo)
		if !*asService {
			return runDaemon(ctx, newLogger(e.stderr, ring), ring, cfg, listen)
		}
		return runService(ctx, e, cfg, ring, listen)
	},
}

// runDaemon runs the daemon with this binary's version in its status.
func runDaemon(ctx context.Context, log *slog.Logger, ring *control.LogRing, cfg *config.Config, listen []string) error {
	v, _, _ := buildInfo()
	return daemon.Run(ctx, cfg, daemon.Options{Logger: log, Ring: ring, Listen: listen, Version: v})
}

// reportLogLines is how many recent log lines a support report carries.
const reportLogLines = 300

// runService is `run --service`: the config must be admin-only, the log
// goes to a bounded file, and the OS service manager drives start and stop.
func runService(ctx context.Context, e *env, cfg *config.Config, ring *control.LogRing, listen []string) error {
	if err := installer.CheckConfigPermissions(cfg.Path); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("state_dir %s: %w: make it writable for the service, or set state_dir in %s to a folder that is", cfg.StateDir, err, daemon.ConfigName(cfg))
	}
	lf := fileLog(cfg)
	defer lf.Close()
	log := newLogger(lf, ring)
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	spec := installer.ServiceSpec{Executable: exe, ConfigPath: cfg.Path}
	err = installer.RunService(ctx, spec, func(ctx context.Context) error {
		err := runDaemon(ctx, log, ring, cfg, listen)
		if err != nil {
			log.Error("dnspin stopped", "err", err)
		}
		return err
	}, os.Exit)
	return err
}
