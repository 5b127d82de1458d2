// Command dnspin-tray is the tray app box-office staff see: an icon whose
// colour says whether the ticket platform is protected, one sentence, and
// a short menu. It talks to the dnspin service over the control API and
// holds no logic of its own: this package only wires the tray package to
// the control client, the user's language, a per-user lock and a log file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/paths"
	"github.com/dnspin/dnspin/internal/redact"
	"github.com/dnspin/dnspin/tray"
)

// Set by the release build, like cmd/dnspin: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process exit, so tests can drive it.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("dnspin-tray", flag.ContinueOnError)
	fs.SetOutput(stderr)
	controlAddr := fs.String("control", "", "control socket or pipe of the dnspin service (default: from --config, else "+paths.Default().Control+")")
	cfgPath := fs.String("config", "", "dnspin config to read the control address from (default: "+paths.Default().Config+")")
	lang := fs.String("lang", "", "language: en, de or fr (default: the user's language)")
	logPath := fs.String("log", "", "log file (default: tray.log in the user's cache folder, dnspin subfolder)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stderr, "dnspin-tray %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	l := tray.DetectLang()
	if *lang != "" { // a usage error before the lock and the log are touched
		var ok bool
		if l, ok = tray.ParseLocale(*lang); !ok {
			fmt.Fprintf(stderr, "dnspin-tray: --lang %q: use en, de or fr\n", *lang)
			return 2
		}
	}

	cache, err := os.UserCacheDir()
	if err != nil {
		fmt.Fprintf(stderr, "dnspin-tray: %v: set HOME (or XDG_CACHE_HOME) so the tray has a folder for its lock and log\n", err)
		return 1
	}
	dir := filepath.Join(cache, "dnspin")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintf(stderr, "dnspin-tray: %v: check the permissions of %s\n", err, cache)
		return 1
	}
	release, err := acquireInstance(dir)
	if errors.Is(err, errAlreadyRunning) {
		fmt.Fprintln(stderr, "dnspin-tray is already running for this user; look for the shield icon in the notification area")
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dnspin-tray: %v\n", err)
		return 1
	}
	defer release()

	if *logPath == "" {
		*logPath = filepath.Join(dir, "tray.log")
	}
	logFile := &lumberjack.Logger{Filename: *logPath, MaxSize: 1, MaxBackups: 1}
	defer logFile.Close()
	out := io.MultiWriter(logFile, stderr)
	log := slog.New(redact.Handler(slog.NewTextHandler(out, nil)))
	// The systray library reports problems (no session bus, no panel to
	// register with) through the standard logger: keep them in tray.log.
	stdlog.SetOutput(out)

	addr := controlAddress(*controlAddr, *cfgPath, log)
	log.Info("dnspin-tray starting", "version", version, "control", addr, "lang", l)

	err = tray.Run(ctx, tray.Config{
		Client:  control.NewClient(addr),
		Lang:    l,
		Version: version,
		Logger:  log,
	})
	if err != nil {
		log.Error("dnspin-tray stopped", "err", err)
		return 1
	}
	return 0
}

// controlAddress is --control, else the config's control key, else the OS
// default. A config the tray cannot read (admin-only, or broken) is not
// fatal: the service logs config errors; the tray falls back to the default.
func controlAddress(flagValue, cfgPath string, log *slog.Logger) string {
	if flagValue != "" {
		return flagValue
	}
	if cfgPath == "" {
		cfgPath = paths.Default().Config
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		log.Info("using the default control address", "reason", err)
		return paths.Default().Control
	}
	return cfg.Control
}
