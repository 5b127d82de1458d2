// Package activation points the operating system's DNS at dnspin and puts
// back exactly what was there, also after a crash: the Configurator of
// each OS (Linux: linux.go, the journal core, and one file per backend;
// Windows: windows_dns.go, nrpt.go; macOS: macos_dns.go), the plan, the
// journal written before the first change, recovery, the fallback servers
// listed after dnspin and the watcher that re-applies what the OS rewrote.
// It knows nothing about DNS packets. The per-OS logic has no build tags
// (only the files that touch the real system do: configurator_GOOS.go,
// the registry, file owners and locks, the port holder), so it compiles
// everywhere; the Windows and macOS tests run on any OS against fakes.
package activation

import (
	"context"
	"fmt"
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
// OS uses now. dnspin's own addresses are left out, so it never forwards to
// itself: those in self (its listen addresses), and on a port where it
// listens on a wildcard address, every loopback address.
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
	v4Any, anyAny := map[uint16]bool{}, map[uint16]bool{} // ports with 0.0.0.0, [::] (dual-stack)
	for _, s := range self {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			continue
		}
		skip[ap] = true
		switch {
		case ap.Addr() == netip.IPv4Unspecified():
			v4Any[ap.Port()] = true
		case ap.Addr() == netip.IPv6Unspecified():
			anyAny[ap.Port()] = true
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
		a, port := ap.Addr().Unmap(), ap.Port()
		local := a.IsLoopback() || a.IsUnspecified() // "0.0.0.0" as a server means this host
		switch {
		case skip[ap],
			a.IsUnspecified() && skip[netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)],
			local && anyAny[port],
			local && a.Is4() && v4Any[port]:
			continue
		}
		out = append(out, ap.String())
	}
	return out
}

// ownAddrs returns dnspin's listen addresses on port, in listen order, as
// the system is to name them: the one place that decides, for every OS.
// IPv4-mapped addresses are named as IPv4. A wildcard listen address
// (0.0.0.0, [::]) answers on loopback too: it is named wildcard (Windows
// and macOS: 127.0.0.1), or kept as it is when wildcard is the zero Addr
// (Linux: glibc reads "nameserver 0.0.0.0" as this host).
func ownAddrs(resolver []string, port uint16, wildcard netip.Addr) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, r := range resolver {
		ap, err := netip.ParseAddrPort(r)
		if err != nil {
			return nil, fmt.Errorf("listen address %q is not IP:port", r)
		}
		if ap.Port() != port {
			continue
		}
		a := ap.Addr().Unmap()
		if a.IsUnspecified() && wildcard.IsValid() {
			a = wildcard
		}
		out = append(out, a)
	}
	return out, nil
}

// loopback4 is how Windows and macOS name a wildcard listen address.
var loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
