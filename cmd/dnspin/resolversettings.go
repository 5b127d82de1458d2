package main

import (
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/dnsname"
	"github.com/dnspin/dnspin/resolver"
)

// resolverSettings turns the file's settings into the resolver's
// configuration. It lives with the daemon, not in internal/config, so the
// config (which the tray reads for the control address) does not link the
// resolver. system is what "system" in upstreams expands to (the OS's own
// resolvers, as the installer recorded them); it may be empty.
func resolverSettings(c *config.Config, system []string) resolver.Config {
	return resolver.Config{
		Listen:        append([]string(nil), c.Listen...),
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
