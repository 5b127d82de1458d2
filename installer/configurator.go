package installer

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// Options are the seams every configurator takes.
type Options struct {
	FS       FS           // nil: the real filesystem
	Run      Runner       // nil: real commands
	StateDir string       // where the journal lives
	Logger   *slog.Logger // nil: discard
	// Now stamps the journal; nil: time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Run == nil {
		o.Run = ExecRunner
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// NewConfigurator returns this OS's configurator (see configurator_*.go).
func NewConfigurator(ctx context.Context, o Options) (Configurator, error) {
	return newConfigurator(ctx, o.withDefaults())
}

// SystemResolvers returns the name servers the OS had before dnspin: the
// ones recorded in the journal while dnspin is active, otherwise the ones the
// OS uses now. Addresses in self (dnspin's own listen addresses) and
// loopback addresses on dnspin's port are left out, so dnspin never forwards
// to itself.
func SystemResolvers(ctx context.Context, o Options, self []string) ([]string, error) {
	o = o.withDefaults()
	var ns []string
	j, err := ReadJournal(o.FS, o.StateDir)
	if err != nil {
		return nil, err
	}
	if j != nil && len(j.Nameservers) > 0 {
		ns = j.Nameservers
	} else if ns, err = currentResolvers(ctx, o); err != nil {
		return nil, err
	}
	return withoutSelf(ns, self), nil
}

func withoutSelf(ns, self []string) []string {
	skip := map[netip.AddrPort]bool{}
	for _, s := range self {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			skip[ap] = true
		}
	}
	var out []string
	for _, n := range ns {
		ap, err := netip.ParseAddrPort(n)
		if err != nil {
			a, err := netip.ParseAddr(n)
			if err != nil {
				continue
			}
			ap = netip.AddrPortFrom(a, 53)
		}
		if skip[ap] || (ap.Addr().IsUnspecified() && skip[netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port())]) {
			continue
		}
		out = append(out, ap.String())
	}
	return out
}
