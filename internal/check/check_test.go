package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// systemPath is a Go resolver whose every query goes to addr: the
// "system path" of the test.
func systemPath(addr string) func(ctx context.Context, host string) ([]netip.Addr, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return r.LookupNetIP(ctx, "ip4", host)
	}
}

func TestRunAllGood(t *testing.T) {
	t.Parallel()
	dnspin := resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{Answers: map[string]string{"shop.tickets.example": "127.0.0.1"}, TTL: 5})
	platform := pinverifytest.ServeAccept(t, "127.0.0.1:0")
	port := uint16(netip.MustParseAddrPort(platform).Port())
	in := Inputs{
		Platform: "Example Tickets", Domains: []string{"tickets.example"}, Activation: "full",
		Pins:     []resolver.Pin{{Name: "shop.tickets.example", A: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, {Name: "*.tickets.example"}},
		Answered: func(context.Context) (uint64, error) { return uint64(dnspin.Queries()), nil },
		Lookup:   systemPath(dnspin.Addr),
		Port:     port,
		Timeout:  20 * time.Second, // not the 2 s default: a loaded machine must not fail a good check
		Now:      func() time.Time { return time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC) },
	}
	rep := Run(context.Background(), in)
	if !rep.OK || rep.Time != "2026-11-26T00:00:00Z" {
		t.Fatalf("report not OK: %+v", rep)
	}
	var ids []string
	for _, r := range rep.Results {
		ids = append(ids, r.Name)
	}
	want := fmt.Sprintf("system-uses-dnspin system-uses-dnspin:all resolve:shop.tickets.example reach:127.0.0.1:%d", port)
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("results %s, want %s", got, want)
	}
	if d := rep.Results[0].Detail; d != "This computer sends Example Tickets's names to dnspin." {
		t.Fatalf("detail %q", d)
	}
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	dnspin := resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{}) // never asked
	other := resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{})  // the system asks someone else
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close() // nothing listens there now: connection refused
	rep := Run(context.Background(), Inputs{
		Platform: "Example Tickets", Domains: []string{"tickets.example"}, Activation: "scoped",
		Pins:     []resolver.Pin{{Name: "shop.tickets.example", A: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}},
		Answered: func(context.Context) (uint64, error) { return uint64(dnspin.Queries()), nil },
		Lookup:   systemPath(other.Addr),
		Port:     port,
		Timeout:  20 * time.Second, // a hang guard: every failure here is immediate
	})
	if rep.OK || len(rep.Results) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	for _, r := range rep.Results {
		if r.OK {
			t.Errorf("%s passed: %s", r.Name, r.Detail)
		}
	}
	for i, want := range []string{"does not send Example Tickets's names to dnspin", "shop.tickets.example does not resolve (no such name)", "does not accept connections on port"} {
		if !strings.Contains(rep.Results[i].Detail, want) {
			t.Errorf("result %d: %q lacks %q", i, rep.Results[i].Detail, want)
		}
	}
}

func TestSnapshotFallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		snap activation.Snapshot
		err  error
		ok   bool
		want string
	}{
		{activation.Snapshot{Backend: "resolv.conf", Activated: true, Nameservers: []string{"127.0.0.1", "192.0.2.1"}}, nil, true, "settings (resolv.conf) send"},
		{activation.Snapshot{Backend: "systemd-resolved", Activated: true, Nameservers: []string{"127.0.0.53"}}, nil, true, "in place (systemd-resolved)"},
		{activation.Snapshot{Backend: "resolv.conf", Nameservers: []string{"192.0.2.1"}}, nil, false, "run `dnspin activate`"},
		{activation.Snapshot{}, errors.New("permission denied"), false, "Could not read"},
	} {
		rep := Run(context.Background(), Inputs{
			Domains: []string{"tickets.example"}, Listen: []string{"127.0.0.1:53"},
			Snapshot: func(context.Context) (activation.Snapshot, error) { return tc.snap, tc.err },
			Lookup: func(context.Context, string) ([]netip.Addr, error) {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			},
		})
		r := rep.Results[0]
		if r.OK != tc.ok || !strings.Contains(r.Detail, tc.want) {
			t.Errorf("snapshot %+v: %+v, want ok=%v and %q", tc.snap, r, tc.ok, tc.want)
		}
	}
}

func TestAnsweredFrom(t *testing.T) {
	t.Parallel()
	f := AnsweredFrom(func(context.Context) (control.Status, error) {
		return control.Status{Answers: control.Answers{Upstream: 1, Cache: 2, Stale: 3, Pinned: 4, Learned: 5, Servfail: 6}}, nil
	})
	if n, err := f(context.Background()); n != 21 || err != nil {
		t.Fatalf("AnsweredFrom = %d, %v", n, err)
	}
}

// The OS settings are read only when counting answers cannot decide (on
// Linux that runs resolvectl and nmcli), and then once for all probes.
func TestSnapshotReadOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	dnspin := resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{})
	for _, tc := range []struct {
		name     string
		answered func(context.Context) (uint64, error)
		reads    int32
	}{
		{"counting decides", func(context.Context) (uint64, error) { return uint64(dnspin.Queries()), nil }, 0},
		{"no status", func(context.Context) (uint64, error) { return 0, errors.New("no service") }, 1},
	} {
		var reads atomic.Int32
		rep := Run(context.Background(), Inputs{
			Domains: []string{"tickets.example"}, Activation: "full", Listen: []string{"127.0.0.1:53"},
			Answered: tc.answered,
			Snapshot: func(context.Context) (activation.Snapshot, error) {
				reads.Add(1)
				return activation.Snapshot{Backend: "resolv.conf", Activated: true}, nil
			},
			Lookup:  systemPath(dnspin.Addr),
			Timeout: 20 * time.Second, // a hang guard
		})
		if n := reads.Load(); n != tc.reads {
			t.Errorf("%s: Snapshot read %d times, want %d", tc.name, n, tc.reads)
		}
		if len(rep.Results) < 2 || !rep.Results[0].OK || !rep.Results[1].OK {
			t.Errorf("%s: %+v", tc.name, rep.Results)
		}
	}
}

// TestUnprotectedConfigFails: a config that protects no names is a failed
// check, with the sentence that says what to add.
func TestUnprotectedConfigFails(t *testing.T) {
	msg := "dnspin.toml protects no names: add them under [platform]"
	rep := Run(context.Background(), Inputs{Unprotected: msg, Activation: "scoped"})
	if rep.OK || len(rep.Results) != 1 || rep.Results[0].OK || rep.Results[0].Detail != msg {
		t.Fatalf("report %+v; want one failed result saying %q", rep, msg)
	}
}

// TestServiceChecksReported: the service's last checks of a bundle's pins
// and of learned addresses are reported, not repeated; the config's own
// pins are left to check's own dial (the service's line for them would
// say the same twice); a failed address that would still be answered
// fails the report, one left out does not.
func TestServiceChecksReported(t *testing.T) {
	t.Parallel()
	dnspin := resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{Answers: map[string]string{"shop.tickets.example": "127.0.0.1"}, TTL: 5})
	platform := pinverifytest.ServeAccept(t, "127.0.0.1:0")
	port := uint16(netip.MustParseAddrPort(platform).Port())
	base := Inputs{
		Platform: "Example Tickets", Domains: []string{"tickets.example"}, Activation: "full",
		Pins:     []resolver.Pin{{Name: "shop.tickets.example", A: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}},
		Answered: func(context.Context) (uint64, error) { return uint64(dnspin.Queries()), nil },
		Lookup:   systemPath(dnspin.Addr),
		Port:     port,
		Timeout:  20 * time.Second,
	}
	service := []control.PinCheck{
		{Name: "Shop.Tickets.Example.", Address: "127.0.0.1", State: "failed", Error: "x509: stale"}, // the config's pin: not repeated
		{Name: "box.tickets.example", Address: "192.0.2.1", State: "verified", Time: "2026-12-05T10:00:00Z"},
		{Name: "box.tickets.example", Address: "192.0.2.2", State: "failed", Error: "x509: other name", LeftOut: true},
		{Name: "new.tickets.example", Address: "192.0.2.3", State: "unknown"},
	}
	learned := []control.PinCheck{{Name: "api.tickets.example", Address: "198.51.100.9", State: "verified"}}

	in := base
	in.ServicePins, in.Learned = service, learned
	rep := Run(context.Background(), in)
	var ids []string
	for _, r := range rep.Results {
		ids = append(ids, r.Name)
	}
	want := fmt.Sprintf("system-uses-dnspin system-uses-dnspin:all resolve:shop.tickets.example reach:127.0.0.1:%d learned:api.tickets.example@198.51.100.9 bundle:box.tickets.example@192.0.2.1 bundle:box.tickets.example@192.0.2.2 bundle:new.tickets.example@192.0.2.3", port)
	if got := strings.Join(ids, " "); got != want || !rep.OK {
		t.Fatalf("results %s (ok %v), want %s, ok", got, rep.OK, want)
	}
	if d := rep.Results[len(rep.Results)-2].Detail; !strings.Contains(d, "bundle's pinned address 192.0.2.2") || !strings.Contains(d, "left out of backup answers") {
		t.Fatalf("left-out detail %q", d)
	}

	in = base
	in.ServicePins = []control.PinCheck{{Name: "box.tickets.example", Address: "192.0.2.2", State: "failed", Error: "x509: other name"}}
	rep = Run(context.Background(), in)
	last := rep.Results[len(rep.Results)-1]
	if rep.OK || last.OK || !strings.Contains(last.Detail, "would still be answered") || !strings.Contains(last.Detail, "tell the platform's operators") {
		t.Fatalf("a failed bundle pin that is still answered: report ok %v, %+v", rep.OK, last)
	}
}
