// Package check answers the questions a support person asks first
// (`dnspin check`): does this computer send the platform's names to dnspin,
// do the platform's names resolve, and are the pinned addresses reachable
// (by TLS handshake and certificate when Inputs.Verify is set).
// Every result is one plain sentence a box office can read out on the phone.
//
// Everything that touches the system goes through the function fields of
// Inputs, so tests drive it with real servers on loopback.
package check

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/dnsname"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/resolver"
)

// Inputs are what Run checks and the seams it checks through.
type Inputs struct {
	Platform   string         // display name, e.g. "Example Tickets"; "" means "the platform"
	Domains    []string       // protected domains
	Pins       []resolver.Pin // their names are resolved, their addresses dialled
	Listen     []string       // dnspin's listen addresses
	Activation string         // "scoped" or "full"
	// Unprotected is config.Unprotected(): when set, a failed result, so a
	// config that protects nothing never passes as healthy.
	Unprotected string

	// Snapshot describes the OS DNS settings (activation.Configurator.Current).
	// nil: not consulted.
	Snapshot func(ctx context.Context) (activation.Snapshot, error)
	// Answered returns how many queries dnspin has answered so far (the sum
	// of the status "answers" counters). With it, Run proves the system path
	// reaches dnspin: it resolves a fresh name through the system and sees
	// the count rise. nil: only Snapshot is consulted.
	Answered func(ctx context.Context) (uint64, error)
	// Lookup resolves through the system's path. nil: net.DefaultResolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects for the reachability checks. nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds each lookup and connection; 0 means 2 s.
	Timeout time.Duration
	// Port is dialled on pinned addresses; 0 means 443.
	Port uint16
	// Now stamps the report; nil means time.Now.
	Now func() time.Time
	// Verify, when set, checks pinned addresses by TLS handshake
	// (internal/pinverify with the config's settings) instead of only
	// opening a connection: an address must prove it serves the name.
	Verify func(ctx context.Context, ts []pinverify.Target) []pinverify.Result
	// Learned is the service's last TLS checks of learned addresses
	// (status learned_checks). They are reported, not repeated: the
	// service checks a bounded number per round, and `check` must not turn
	// into thousands of handshakes. nil: nothing to report.
	Learned []control.PinCheck
	// ServicePins is the service's last TLS checks of pinned addresses
	// (status pin_checks). Those of pins the config does not hold (a
	// bundle's) are reported, not repeated, like Learned: `check` reads
	// only the config, the service also has the bundle.
	ServicePins []control.PinCheck
}

func (in *Inputs) defaults() {
	if in.Lookup == nil {
		in.Lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if in.Dial == nil {
		var d net.Dialer
		in.Dial = d.DialContext
	}
	if in.Timeout == 0 {
		in.Timeout = 2 * time.Second
	}
	if in.Port == 0 {
		in.Port = 443
	}
	if in.Now == nil {
		in.Now = time.Now
	}
	if in.Platform == "" {
		in.Platform = "the platform"
	}
}

// Run performs every check and returns the report; OK is true only if every
// result is OK.
func Run(ctx context.Context, in Inputs) control.CheckReport {
	in.defaults()
	rep := control.CheckReport{Time: in.Now().UTC().Format(time.RFC3339)}
	if in.Unprotected != "" {
		rep.Results = append(rep.Results, control.CheckResult{Name: "config-protects-names", Detail: in.Unprotected})
	}
	rep.Results = append(rep.Results, systemUsesDnspin(ctx, in)...)
	rep.Results = append(rep.Results, resolves(ctx, in)...)
	if in.Verify != nil {
		rep.Results = append(rep.Results, verified(ctx, in)...)
	} else {
		rep.Results = append(rep.Results, reachable(ctx, in)...)
	}
	rep.Results = append(rep.Results, serviceChecks(in.Port, "learned address", "learned:", "Pin the name's right addresses, or check what serves it.", in.Learned)...)
	rep.Results = append(rep.Results, serviceChecks(in.Port, "bundle's pinned address", "bundle:", "The bundle may be out of date: tell the platform's operators.", bundlePins(in))...)
	rep.OK = true
	for _, r := range rep.Results {
		rep.OK = rep.OK && r.OK
	}
	return rep
}

// probeName is a name nobody has asked before, so no cache on the way
// (systemd-resolved, nscd) can answer it without asking dnspin.
func probeName(parent string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "dnspin-check-" + hex.EncodeToString(b[:]) + "." + parent
}

func systemUsesDnspin(ctx context.Context, in Inputs) []control.CheckResult {
	type probe struct{ id, parent, what string }
	var probes []probe
	if len(in.Domains) > 0 {
		probes = append(probes, probe{"system-uses-dnspin", in.Domains[0], in.Platform + "'s names"})
	}
	if in.Activation == "full" {
		probes = append(probes, probe{"system-uses-dnspin:all", "example.com", "all other names"})
	}
	var out []control.CheckResult
	// Read the OS settings only when a probe cannot decide by counting:
	// on Linux that can mean running resolvectl and nmcli.
	snapshot := sync.OnceValues(func() (*activation.Snapshot, error) {
		if in.Snapshot == nil {
			return nil, nil
		}
		s, err := in.Snapshot(ctx)
		return &s, err
	})
	for _, p := range probes {
		r := control.CheckResult{Name: p.id}
		if in.Answered != nil {
			if ok, err := countedByDnspin(ctx, in, probeName(p.parent)); err == nil {
				r.OK = ok
				if ok {
					r.Detail = fmt.Sprintf("This computer sends %s to dnspin.", p.what)
				} else {
					r.Detail = fmt.Sprintf("This computer does not send %s to dnspin: run `dnspin activate` as administrator, or reinstall dnspin.", p.what)
				}
				out = append(out, r)
				continue
			}
		}
		snap, snapErr := snapshot()
		switch {
		case snap == nil:
			r.Detail = fmt.Sprintf("Could not tell whether this computer sends %s to dnspin: is the dnspin service running?", p.what)
		case snapErr != nil:
			r.Detail = fmt.Sprintf("Could not read this computer's DNS settings (%v).", snapErr)
		case snap.Activated && pointsAtDnspin(*snap, in.Listen):
			r.OK = true
			r.Detail = fmt.Sprintf("This computer's DNS settings (%s) send %s to dnspin.", snap.Backend, p.what)
		case snap.Activated:
			r.OK = true
			r.Detail = fmt.Sprintf("dnspin's DNS settings are in place (%s) for %s.", snap.Backend, p.what)
		default:
			r.Detail = fmt.Sprintf("This computer's DNS settings (%s) do not send %s to dnspin: run `dnspin activate` as administrator.", snap.Backend, p.what)
		}
		out = append(out, r)
	}
	return out
}

// countedByDnspin resolves name through the system and reports whether
// dnspin's answer count rose meanwhile. The answer itself does not matter
// (it is usually "no such name").
func countedByDnspin(ctx context.Context, in Inputs, name string) (bool, error) {
	before, err := in.Answered(ctx)
	if err != nil {
		return false, err
	}
	lctx, cancel := context.WithTimeout(ctx, in.Timeout)
	_, _ = in.Lookup(lctx, name)
	cancel()
	after, err := in.Answered(ctx)
	if err != nil {
		return false, err
	}
	return after > before, nil
}

func pointsAtDnspin(s activation.Snapshot, listen []string) bool {
	if len(s.Nameservers) == 0 {
		return false
	}
	for _, l := range listen {
		if ap, err := netip.ParseAddrPort(l); err == nil && ap.Addr().String() == s.Nameservers[0] {
			return true
		}
	}
	return false
}

// names returns the exact pinned names, or the domains themselves when no
// exact pin exists.
func names(in Inputs) []string {
	var ns []string
	for _, p := range in.Pins {
		if !strings.HasPrefix(p.Name, "*.") && !slices.Contains(ns, p.Name) {
			ns = append(ns, p.Name)
		}
	}
	if len(ns) == 0 {
		ns = append(ns, in.Domains...)
	}
	return ns
}

func resolves(ctx context.Context, in Inputs) []control.CheckResult {
	ns := names(in)
	out := make([]control.CheckResult, len(ns))
	parallel(len(ns), func(i int) {
		n := ns[i]
		lctx, cancel := context.WithTimeout(ctx, in.Timeout)
		defer cancel()
		addrs, err := in.Lookup(lctx, n)
		r := control.CheckResult{Name: "resolve:" + n}
		if err != nil || len(addrs) == 0 {
			why := "no address"
			if err != nil {
				why = plainLookupError(err)
			}
			r.Detail = fmt.Sprintf("%s does not resolve (%s): this computer cannot find %s by name.", n, why, in.Platform)
		} else {
			r.OK = true
			r.Detail = fmt.Sprintf("%s resolves to %s.", n, joinAddrs(addrs))
		}
		out[i] = r
	})
	return out
}

func plainLookupError(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			return "no such name"
		case de.IsTimeout:
			return "no answer in time"
		}
	}
	return err.Error()
}

func joinAddrs(a []netip.Addr) string {
	var s []string
	for _, x := range a {
		s = append(s, x.String())
	}
	return strings.Join(s, ", ")
}

func reachable(ctx context.Context, in Inputs) []control.CheckResult {
	type target struct {
		addr netip.Addr
		name string
	}
	var ts []target
	seen := map[netip.Addr]bool{}
	for _, p := range in.Pins {
		for _, a := range append(append([]netip.Addr(nil), p.A...), p.AAAA...) {
			if !seen[a] {
				seen[a] = true
				ts = append(ts, target{a, p.Name})
			}
		}
	}
	out := make([]control.CheckResult, len(ts))
	parallel(len(ts), func(i int) {
		t := ts[i]
		ap := netip.AddrPortFrom(t.addr, in.Port).String()
		r := control.CheckResult{Name: "reach:" + ap}
		dctx, cancel := context.WithTimeout(ctx, in.Timeout)
		defer cancel()
		c, err := in.Dial(dctx, "tcp", ap)
		if err != nil {
			r.Detail = fmt.Sprintf("The pinned address %s of %s does not accept connections on port %d (within %s): the pin may be out of date, or a firewall blocks it.", t.addr, t.name, in.Port, in.Timeout)
		} else {
			c.Close()
			r.OK = true
			r.Detail = fmt.Sprintf("The pinned address %s of %s accepts connections on port %d.", t.addr, t.name, in.Port)
		}
		out[i] = r
	})
	return out
}

// verified checks every exact pin's addresses by TLS handshake; wildcard
// pins have no one name to check and are only dialled.
func verified(ctx context.Context, in Inputs) []control.CheckResult {
	var out []control.CheckResult
	for _, r := range in.Verify(ctx, pinverify.Targets(in.Pins)) {
		ap := netip.AddrPortFrom(r.Addr, in.Port).String()
		c := control.CheckResult{Name: "verify:" + r.Name + "@" + ap}
		switch r.State {
		case pinverify.Verified:
			c.OK = true
			c.Detail = fmt.Sprintf("The pinned address %s of %s is genuine: it shows a valid certificate for %s on port %d.", r.Addr, r.Name, r.Name, in.Port)
		case pinverify.Failed:
			c.Detail = fmt.Sprintf("The pinned address %s of %s failed the certificate check on port %d (%s): the pin may be out of date, or a firewall or proxy is in the way.", r.Addr, r.Name, in.Port, r.Error)
		default:
			c.Detail = fmt.Sprintf("The pinned address %s of %s could not be checked (%s).", r.Addr, r.Name, r.Error)
		}
		out = append(out, c)
	}
	var wild []resolver.Pin
	for _, p := range in.Pins {
		if strings.HasPrefix(p.Name, "*.") {
			wild = append(wild, p)
		}
	}
	if len(wild) > 0 {
		w := in
		w.Pins = wild
		out = append(out, reachable(ctx, w)...)
	}
	return out
}

// bundlePins are the service's pin checks of addresses the config does not
// pin (they came with a bundle); the config's own pins were just checked.
func bundlePins(in Inputs) []control.PinCheck {
	key := func(name string, a netip.Addr) pinverify.Target {
		return pinverify.Target{Name: dnsname.FQDN(name), Addr: a.Unmap()}
	}
	own := map[pinverify.Target]bool{}
	for _, t := range pinverify.Targets(in.Pins) {
		own[key(t.Name, t.Addr)] = true
	}
	var out []control.PinCheck
	for _, p := range in.ServicePins {
		a, err := netip.ParseAddr(p.Address)
		if err == nil && own[key(p.Name, a)] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// serviceChecks reports the service's last checks of addresses of one kind
// ("learned address"). A failed address is a problem only while it would
// be served: when another address of the name verified it is left out, and
// the result says so; else fix says what to do.
func serviceChecks(port uint16, kind, prefix, fix string, checks []control.PinCheck) []control.CheckResult {
	out := make([]control.CheckResult, 0, len(checks))
	for _, l := range checks {
		c := control.CheckResult{Name: prefix + l.Name + "@" + l.Address}
		at := ""
		if l.Time != "" {
			at = " at " + l.Time
		}
		switch {
		case l.State == string(pinverify.Verified):
			c.OK = true
			c.Detail = fmt.Sprintf("The %s %s of %s is genuine: it showed a valid certificate for %s on port %d%s.", kind, l.Address, l.Name, l.Name, port, at)
		case l.State == string(pinverify.Failed) && l.LeftOut:
			c.OK = true
			c.Detail = fmt.Sprintf("The %s %s of %s failed the certificate check%s (%s); it is left out of backup answers because another address of the name passed.", kind, l.Address, l.Name, at, l.Error)
		case l.State == string(pinverify.Failed):
			c.Detail = fmt.Sprintf("The %s %s of %s failed the certificate check%s (%s) and no other address of the name passed: during an outage it would still be answered. %s", kind, l.Address, l.Name, at, l.Error, fix)
		default:
			c.OK = true
			c.Detail = fmt.Sprintf("The %s %s of %s has not been checked yet.", kind, l.Address, l.Name)
		}
		out = append(out, c)
	}
	return out
}

// parallel runs f(0..n-1) with at most 8 at a time.
func parallel(n int, f func(i int)) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// AnsweredFrom makes Inputs.Answered from a status source (the control
// API's GET /v1/status): the sum of every answer counter.
func AnsweredFrom(status func(ctx context.Context) (control.Status, error)) func(ctx context.Context) (uint64, error) {
	return func(ctx context.Context) (uint64, error) {
		s, err := status(ctx)
		if err != nil {
			return 0, err
		}
		a := s.Answers
		return a.Upstream + a.Cache + a.Stale + a.Pinned + a.Learned + a.Servfail, nil
	}
}
