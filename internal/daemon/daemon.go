// Package daemon is the long-running dnspin (`dnspin run`, in the foreground
// or as the OS service): crash recovery of the activation, the resolver, the
// control API, the signed-bundle fetcher and the resolv.conf watcher. Each
// part lives in its own package; this package only connects them and turns
// the config into their settings (settings.go). cmd/dnspin keeps the flags,
// the printing and the service wrapper.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/installer"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/check"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/resolver"
)

// reassertEvery is how often the service makes sure the OS still points at
// dnspin (a DHCP client or NetworkManager may rewrite resolv.conf).
const reassertEvery = 5 * time.Second

// daemon is what a running daemon is made of. Reload swaps cfg and
// fetcher; the resolver stays (it is reconfigured in place).
type daemon struct {
	control.Notifier // Changed for the control API's event stream

	log  *slog.Logger
	ring *control.LogRing   // recent log lines for support reports; may be nil
	act  activation.Options // the OS DNS activation seams
	res  *resolver.Resolver
	pins *pinChecker     // TLS verification of pinned addresses (pincheck.go)
	root context.Context // the daemon's lifetime; the fetcher runs under it

	reloadMu sync.Mutex     // one Reload at a time: each replaces the fetcher
	fetchers sync.WaitGroup // every fetcher started, until its Run returns

	mu           sync.Mutex
	cfg          *config.Config
	fetcher      *bundle.Fetcher
	stopFetcher  context.CancelFunc
	reloadListen []string // --listen overrides survive reloads
	version      string   // status.version
}

var _ control.Backend = (*daemon)(nil)

// Options are what the command line hands the daemon besides the config.
type Options struct {
	Logger *slog.Logger
	// Ring keeps recent log lines for support reports; may be nil.
	Ring *control.LogRing
	// Listen, when set, replaces the config's listen addresses (--listen),
	// also across reloads.
	Listen []string
	// Version is reported as status.version (the binary's build stamp);
	// "dev" when empty.
	Version string
	// Ready (tests) is called once everything answers.
	Ready func(*resolver.Resolver)
}

// Run runs dnspin until ctx ends, then stops it cleanly.
func Run(ctx context.Context, cfg *config.Config, o Options) error {
	log, ring, listen, ready := o.Logger, o.Ring, o.Listen, o.Ready
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if len(listen) > 0 {
		if err := cfg.SetListen(listen); err != nil {
			return err
		}
	}
	d := &daemon{log: log, ring: ring, cfg: cfg, reloadListen: listen, version: o.Version,
		act: activation.Options{FS: activation.OSFS{}, StateDir: cfg.StateDir, Logger: log}}

	// A journal left by a crash or reboot: put the original settings back
	// first, so "system" upstreams are the real ones, then re-apply below
	// once dnspin answers.
	wasActive, _, err := activation.Recover(ctx, d.act)
	if err != nil {
		log.Error("activation: could not restore the settings an earlier run left; run `dnspin deactivate` as administrator", "err", err)
	}

	rc := d.resolverConfig(ctx, cfg)
	d.res, err = resolver.New(rc, resolver.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("config %s: %w", cfg.Path, err)
	}
	if err := d.res.Start(ctx); err != nil {
		var le *resolver.ListenError
		if errors.As(err, &le) {
			if errors.Is(le.Err, os.ErrPermission) {
				return fmt.Errorf("%v: ports below 1024 need administrator rights (%s), or choose a port above 1023 with --listen or listen in %s", le, installer.AdminHint("run"), ConfigName(cfg))
			}
			holder := ""
			if h := activation.PortHolder(le.Net, le.Addr); h != "" {
				holder = " (held by " + h + ")"
			}
			return fmt.Errorf("%v%s: stop that program, or choose another address with --listen or listen in %s", le, holder, ConfigName(cfg))
		}
		return err
	}
	log.Info("dnspin answers", "listen", d.res.Addrs(), "upstreams", rc.Upstreams, "mode", rc.Mode)
	for _, w := range []string{cfg.Unprotected(), cfg.Exposure(d.res.Addrs())} {
		if w != "" {
			log.Warn(w)
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	d.root = ctx
	d.pins = newPinChecker(log, d.res, d.Notify)
	d.configurePinCheck(cfg, nil)
	// The fetcher applies a stored bundle (pins, CA and SPKI pins) at once;
	// the checker starts after it, so its first round uses them instead of
	// checking everything twice.
	d.startFetcher(cfg)
	wg.Add(1)
	go func() { defer wg.Done(); d.pins.run(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); d.followResolver(ctx) }()

	if ln, err := control.Listen(cfg.Control); err != nil {
		log.Warn("control API not available: `dnspin status` and the tray will not see this resolver", "address", cfg.Control, "err", err)
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := control.Serve(ctx, ln, d, control.ServerOptions{Logger: log, AdminGroup: control.AdminGroup}); err != nil {
				log.Error("control API stopped", "err", err)
			}
		}()
	}

	c, err := activation.NewConfigurator(ctx, d.act)
	if wasActive {
		d.reapply(ctx, c, err, cfg)
	}
	if err == nil {
		if r, ok := c.(activation.Reasserter); ok {
			t := time.NewTicker(reassertEvery)
			defer t.Stop()
			wg.Add(1)
			go func() {
				defer wg.Done()
				activation.Watch(ctx, r, t.C, func(changed bool, err error) {
					switch {
					case err != nil:
						log.Warn("activation: could not check the system DNS settings", "err", err)
					case changed:
						d.Notify()
						log.Warn("activation: the system DNS settings were replaced by another program; dnspin took the new settings as the original and put itself in front again")
					}
				})
			}()
		}
	}

	if ready != nil {
		ready(d.res)
	}
	<-ctx.Done()
	log.Info("stopping")
	cancel()
	d.stopFetcherAndWait()
	d.fetchers.Wait() // no fetcher may apply pins to a resolver shutting down
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	return d.res.Shutdown(sctx)
}

// resolverConfig expands "system" upstreams and turns cfg into the
// resolver's configuration.
func (d *daemon) resolverConfig(ctx context.Context, cfg *config.Config) resolver.Config {
	var system []string
	if slices.Contains(cfg.Upstreams, "system") {
		var err error
		system, err = activation.SystemResolvers(ctx, d.act, cfg.Listen)
		if err != nil {
			d.log.Warn("cannot read the system's resolvers; only explicit upstreams are used", "err", err)
		}
		if len(system) == 0 {
			d.log.Warn(`upstreams = ["system"] found no name server to forward to: add IP addresses to upstreams in the config`, "config", cfg.Path)
		}
	}
	return ResolverSettings(cfg, system)
}

// reapply points the OS at dnspin again after Recover restored the
// original settings of a run that was active; err is NewConfigurator's.
func (d *daemon) reapply(ctx context.Context, c activation.Configurator, err error, cfg *config.Config) {
	if err == nil {
		err = c.Apply(ctx, Plan(cfg))
	}
	if err != nil {
		d.log.Error("activation: could not point the system at dnspin again; the original settings are in place", "err", err)
		return
	}
	d.log.Info("activation: the system points at dnspin again after a restart")
}

// startFetcher starts the bundle fetcher for cfg. Without [bundle] there is
// none, and pins of an earlier bundle are withdrawn.
func (d *daemon) startFetcher(cfg *config.Config) {
	apply := func(pins []resolver.Pin) {
		d.res.SetBundlePins(pins)
		d.pins.trigger(checkNew)
		d.Notify()
	}
	f, err := newBundleFetcher(cfg, d.lookupHost, apply, d.pins.setTrust, d.log)
	if err != nil {
		d.log.Error("signed pin bundles are off", "err", err)
	}
	if f == nil {
		d.pins.setTrust(bundle.Trust{})
		apply(nil)
		return
	}
	fctx, cancel := context.WithCancel(d.root)
	done := make(chan struct{})
	d.fetchers.Add(1)
	go func() { defer d.fetchers.Done(); defer close(done); f.Run(fctx) }()
	d.mu.Lock()
	d.fetcher = f
	d.stopFetcher = func() { cancel(); <-done }
	d.mu.Unlock()
}

// stopFetcherAndWait stops the running fetcher, if any, and waits until it
// can no longer apply pins.
func (d *daemon) stopFetcherAndWait() {
	d.mu.Lock()
	stop := d.stopFetcher
	d.fetcher, d.stopFetcher = nil, nil
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// followResolver passes the resolver's state and mode changes on to the
// control API, and asks the fetcher for a fresh bundle as soon as the state
// leaves normal: that is when operators publish new addresses.
func (d *daemon) followResolver(ctx context.Context) {
	// Subscribe before reading the state: a change in between still wakes
	// the next round instead of being lost.
	ch := d.res.Changed()
	last := d.res.Status().State
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		ch = d.res.Changed()
		d.Notify()
		st := d.res.Status().State
		if st == resolver.StateOutage && last != resolver.StateOutage {
			// Once per declared outage, in the background: are the
			// backup addresses about to be served the platform's?
			d.pins.trigger(checkAll)
		}
		if last == resolver.StateNormal && st != resolver.StateNormal {
			d.mu.Lock()
			f := d.fetcher
			d.mu.Unlock()
			if f != nil {
				f.Trigger()
			}
		}
		last = st
	}
}

// lookupHost resolves a bundle mirror's name through dnspin itself, so
// mirrors under the platform's domains resolve from pins and learned
// answers while upstream DNS is down.
func (d *daemon) lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	var all []netip.Addr
	var firstErr error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, _, err := d.res.Lookup(ctx, host, t)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		all = append(all, a...)
	}
	if len(all) == 0 {
		if firstErr == nil {
			firstErr = fmt.Errorf("%s has no address", host)
		}
		return nil, firstErr
	}
	return all, nil
}

func (d *daemon) config() (*config.Config, *bundle.Fetcher) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg, d.fetcher
}

// Status is the status JSON (docs/support.md, "Status JSON") from the running parts.
func (d *daemon) Status(ctx context.Context) control.Status {
	cfg, f := d.config()
	s := d.res.Status()
	st := control.Status{
		Version:     d.version,
		Mode:        string(s.Mode),
		State:       string(s.State),
		StateSince:  s.StateSince.UTC().Format(time.RFC3339),
		StateReason: s.StateReason,
		Activation:  cfg.Activation,
		Listen:      s.Listen,
		Upstreams:   []control.Upstream{},
		Platform: control.Platform{
			Name: cfg.Platform.Name, Domains: cfg.Platform.Domains,
			Pins: s.Pins, Learned: s.Learned,
		},
		Answers: control.Answers{
			Upstream: s.Answers[resolver.SourceUpstream], Cache: s.Answers[resolver.SourceCache],
			Stale: s.Answers[resolver.SourceStale], Pinned: s.Answers[resolver.SourcePinned],
			Learned: s.Answers[resolver.SourceLearned], Servfail: s.Answers[resolver.SourceServfail],
		},
	}
	for _, n := range s.NoBackup {
		st.Unprotected = append(st.Unprotected, strings.TrimSuffix(n, "."))
	}
	if st.Platform.Domains == nil {
		st.Platform.Domains = []string{}
	}
	for _, u := range s.Upstreams {
		st.Upstreams = append(st.Upstreams, control.Upstream{
			Address: u.Address, Healthy: u.Healthy, RTTMs: float64(u.RTT.Microseconds()) / 1000,
		})
	}
	st.PinChecks, st.Platform.Verification = d.pins.status()
	st.LearnedChecks = d.pins.learnedStatus()
	if j, err := activation.ReadJournal(d.act.FS, d.act.StateDir); err == nil && j != nil {
		st.Activated = j.Active
	}
	if f != nil {
		b := f.Status()
		st.Bundle = &b
	}
	return st
}

// SetMode switches the resolver's mode (already validated by the server).
func (d *daemon) SetMode(ctx context.Context, mode string) error {
	m, err := resolver.ParseMode(mode)
	if err != nil {
		return err
	}
	d.res.SetMode(m)
	return nil
}

// Check runs `dnspin check` inside the service; it proves the system path
// reaches dnspin by watching this resolver's own answer counters.
func (d *daemon) Check(ctx context.Context) control.CheckReport {
	cfg, _ := d.config()
	in := CheckInputs(ctx, cfg, d.act)
	if in.Verify != nil {
		// With the bundle's CA and SPKI pins, as the scheduled checks.
		o := d.pins.options()
		in.Verify = func(ctx context.Context, ts []pinverify.Target) []pinverify.Result {
			return pinverify.Verify(ctx, ts, o)
		}
	}
	in.Learned = d.pins.learnedStatus()
	in.Answered = func(context.Context) (uint64, error) {
		var n uint64
		for _, v := range d.res.Status().Answers {
			n += v
		}
		return n, nil
	}
	return check.Run(ctx, in)
}

// Reload re-reads the config file and applies it without dropping a query:
// pins, domains, upstreams, mode and outage timings change in place; the
// bundle fetcher is rebuilt. A mode chosen at run time stays unless the file
// changed its mode. Listen addresses and the state dir need a restart, and
// Reload says so.
func (d *daemon) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cur, _ := d.config()
	if cur.Path == "" {
		return errors.New("this dnspin runs without a config file; there is nothing to reload")
	}
	next, err := config.Load(cur.Path)
	if err != nil {
		return err
	}
	if len(d.reloadListen) > 0 {
		if err := next.SetListen(d.reloadListen); err != nil {
			return err // checked at start; only allow_remote can have changed
		}
	}
	rc := d.resolverConfig(ctx, next)
	if next.Mode == cur.Mode {
		// The file did not change the mode: keep what a user chose at
		// run time (e.g. "Use backup addresses now" in the tray).
		rc.Mode = d.res.Mode()
	}
	if err := d.res.Reconfigure(rc); err != nil {
		return fmt.Errorf("config %s: %w", next.Path, err)
	}
	d.mu.Lock()
	d.cfg = next
	d.mu.Unlock()
	d.configurePinCheck(next, cur)
	d.stopFetcherAndWait()
	d.startFetcher(next)
	d.Notify()
	d.log.Info("config reloaded", "config", next.Path)
	return nil
}

// ReportInputs gathers a support report's parts.
func (d *daemon) ReportInputs(ctx context.Context) control.ReportInputs {
	cfg, _ := d.config()
	in := control.ReportInputs{ConfigPath: cfg.Path}
	if cfg.Path != "" {
		if b, err := os.ReadFile(cfg.Path); err == nil {
			in.ConfigText = string(b)
		} else {
			in.Notes = append(in.Notes, "config: "+err.Error())
		}
	}
	if d.ring != nil {
		in.LogLines = d.ring.Lines()
	}
	if c, err := activation.NewConfigurator(ctx, d.act); err != nil {
		in.Notes = append(in.Notes, "OS DNS settings: "+err.Error())
	} else if snap, err := c.Current(ctx); err != nil {
		in.Notes = append(in.Notes, "OS DNS settings: "+err.Error())
	} else {
		in.OSDNS = snap
	}
	return in
}

// configurePinCheck applies cfg's pin verification settings. Unchanged
// settings (a reload) only check pins that are new; changed ones check
// every pin again.
func (d *daemon) configurePinCheck(cfg, prev *config.Config) {
	if prev != nil && prev.Platform.VerifyPort == cfg.Platform.VerifyPort && prev.Platform.VerifyCA == cfg.Platform.VerifyCA &&
		slices.Equal(prev.Platform.VerifySPKI, cfg.Platform.VerifySPKI) && prev.Platform.VerifyInterval == cfg.Platform.VerifyInterval {
		d.pins.trigger(checkNew)
		return
	}
	o, warn, err := cfg.PinVerify()
	if warn != nil {
		d.log.Warn("pin verification", "err", warn)
	}
	if err != nil { // validated at load; the CA file may have gone since
		d.log.Error("pin verification is off", "err", err)
		d.pins.configure(o, 0)
		return
	}
	d.pins.configure(o, cfg.Platform.VerifyInterval.Duration)
}
