package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/resolver"
)

// newBundleFetcher builds the service's bundle fetcher from the config, or
// returns nil when [bundle] urls is empty. The service passes the resolver's
// own lookup (mirror names resolve through pins and learned answers while
// upstream DNS is down), its SetBundlePins and the pin checker's setTrust
// (the bundle's verify_ca and verify_spki; may be nil), then runs f.Run in a
// goroutine, calls f.Trigger when the state leaves normal, and reports
// f.Status() as status.bundle. NewFetcher applies the stored bundle at once.
func newBundleFetcher(c *config.Config, lookup func(ctx context.Context, host string) ([]netip.Addr, error), apply func([]resolver.Pin), applyTrust func(bundle.Trust), log *slog.Logger) (*bundle.Fetcher, error) {
	if len(c.Bundle.URLs) == 0 {
		return nil, nil
	}
	pub, err := bundle.ParsePublicKey(c.Bundle.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("config %s: bundle.public_key: %w", c.Path, err)
	}
	f, err := bundle.NewFetcher(bundle.FetcherOptions{
		URLs:       c.Bundle.URLs,
		PublicKey:  pub,
		Platform:   c.Platform.Name,
		Domains:    c.Platform.Domains,
		Refresh:    c.Bundle.Refresh.Duration,
		StateDir:   c.StateDir,
		LookupHost: lookup,
		Apply:      apply,
		ApplyTrust: applyTrust,
		Logger:     log,
	})
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", c.Path, err)
	}
	return f, nil
}
