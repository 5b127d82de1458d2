package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dnspin/dnspin/installer"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/resolver"
)

var cmdRun = command{
	name:    "run",
	args:    "[--config F] [--listen ADDR]...",
	summary: "run the resolver in the foreground; logs to stderr, Ctrl-C stops it",
	run: func(ctx context.Context, e *env, args []string) error {
		fs, cfgPath := flagSet(e)
		var listen multiFlag
		fs.Var(&listen, "listen", "listen address IP:port, repeatable (default: listen from the config)")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("unexpected argument %q", pos[0])
		}
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		return serve(ctx, newLogger(e.stderr), cfg, listen, nil)
	},
}

// serve runs the resolver for cfg until ctx ends, then stops it cleanly.
// listen, when set, replaces the config's listen addresses. ready is called
// once the resolver answers (the service adds its control server there).
func serve(ctx context.Context, log *slog.Logger, cfg *config.Config, listen []string, ready func(*resolver.Resolver)) error {
	if len(listen) > 0 {
		cfg.Listen = listen
	}
	var system []string
	if hasSystem(cfg.Upstreams) {
		var err error
		system, err = installer.SystemResolvers(ctx, installer.Options{StateDir: cfg.StateDir, Logger: log}, cfg.Listen)
		if err != nil {
			log.Warn("cannot read the system's resolvers; only explicit upstreams are used", "err", err)
		}
		if len(system) == 0 {
			log.Warn("upstreams = [\"system\"] found no name server to forward to: add IP addresses to upstreams in the config")
		}
	}
	r, err := resolver.New(cfg.Resolver(system), resolver.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("config %s: %w", cfg.Path, err)
	}
	if err := r.Start(ctx); err != nil {
		var le *resolver.ListenError
		if errors.As(err, &le) {
			return fmt.Errorf("%v: another DNS server may be using it; stop it or choose another address with --listen or listen in the config", le)
		}
		return err
	}
	if ready != nil {
		ready(r)
	}
	<-ctx.Done()
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Shutdown(sctx)
}

func hasSystem(ups []string) bool {
	for _, u := range ups {
		if u == "system" {
			return true
		}
	}
	return false
}
