package daemon

// settings.go is the one place the config is turned into other packages'
// settings: the resolver's configuration, the activation plan and the
// inputs of `dnspin check`.

import (
	"context"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/check"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/dnsname"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/resolver"
)

// ResolverSettings turns the file's settings into the resolver's
// configuration. It lives with the daemon, not in internal/config, so the
// config (which the tray reads for the control address) does not link the
// resolver. system is what "system" in upstreams expands to (the OS's own
// resolvers, as activation recorded them); it may be empty.
func ResolverSettings(c *config.Config, system []string) resolver.Config {
	return resolver.Config{
		Listen:        c.ListenAddrs(),
		AllowRemote:   c.AllowRemote,
		AllowClients:  c.ClientNetworks(),
		Upstreams:     c.UpstreamAddrs(system),
		Domains:       append([]string(nil), c.Platform.Domains...),
		Pins:          append([]dnsname.Pin(nil), c.Pins...),
		Mode:          resolver.Mode(c.Mode),
		AnswerBudget:  c.Outage.AnswerBudget.Duration,
		ClientTimeout: c.Outage.ClientTimeout.Duration,
		StaleTTL:      c.Outage.StaleTTL.Duration,
		MaxStale:      c.Outage.MaxStale.Duration,
		ProbeInterval: c.Outage.ProbeInterval.Duration,
		RecoverAfter:  c.Outage.RecoverAfter,
		StateDir:      c.StateDir,
		CacheSize:     c.CacheSize,
	}
}

// Plan turns the config into an activation plan: the OS is pointed at the
// listen addresses for the platform's domains (or everything).
func Plan(cfg *config.Config) activation.Plan {
	return activation.Plan{
		Mode:     cfg.Activation,
		Domains:  append([]string(nil), cfg.Platform.Domains...),
		Resolver: append([]string(nil), cfg.Listen...),
	}
}

// CheckInputs are the checks for cfg, with the OS DNS settings read through
// this OS's configurator; the caller adds how to count dnspin's answers.
func CheckInputs(ctx context.Context, cfg *config.Config, o activation.Options) check.Inputs {
	in := check.Inputs{
		Platform:    cfg.Platform.Name,
		Domains:     cfg.Platform.Domains,
		Pins:        cfg.Pins,
		Listen:      cfg.Listen,
		Activation:  cfg.Activation,
		Unprotected: cfg.Unprotected(),
	}
	if c, err := activation.NewConfigurator(ctx, o); err == nil {
		in.Snapshot = c.Current
	}
	if cfg.Platform.VerifyInterval.Duration > 0 {
		// The same TLS check the service runs on its schedule; a CA file
		// that went away since the config was read falls back to dialling.
		if vo, _, err := cfg.PinVerify(); err == nil {
			in.Port = uint16(vo.Port)
			in.Verify = func(ctx context.Context, ts []pinverify.Target) []pinverify.Result {
				return pinverify.Verify(ctx, ts, vo)
			}
		}
	}
	return in
}

// ConfigName names cfg's file in messages that tell the user what to change.
func ConfigName(cfg *config.Config) string {
	if cfg.Path == "" {
		return "the config"
	}
	return cfg.Path
}
