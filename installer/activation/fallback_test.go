package activation_test

import (
	"context"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/installer/activation/activationtest"
	"strings"
	"testing"
)

func TestFallbackServers(t *testing.T) {
	for _, tc := range []struct {
		name           string
		recorded, self []string
		max            int
		want           string
	}{
		{"order kept, bounded", []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}, []string{"127.0.0.1"}, 3, "192.0.2.1 192.0.2.2 192.0.2.3"},
		{"loopback and dnspin dropped", []string{"127.0.0.1", "::1", "127.0.0.53", "192.0.2.1"}, []string{"127.0.0.1", "::1"}, 3, "192.0.2.1"},
		{"duplicates once", []string{"192.0.2.1", "192.0.2.1", "2001:db8::1", "2001:db8::1"}, nil, 3, "192.0.2.1 2001:db8::1"},
		{"port 53 form accepted, other ports and junk not", []string{"192.0.2.1:53", "192.0.2.2:5353", "not-an-ip", "0.0.0.0"}, nil, 3, "192.0.2.1"},
		{"nothing usable", []string{"127.0.0.1"}, []string{"127.0.0.1"}, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(activation.FallbackServers(tc.recorded, tc.self, tc.max), " "); got != tc.want {
				t.Errorf("activation.FallbackServers(%v, %v, %d) = %q, want %q", tc.recorded, tc.self, tc.max, got, tc.want)
			}
		})
	}
}

// Scoped NRPT rules: dnspin first, then the machine's original servers
// (deduplicated, loopback dropped, bounded), so Windows falls back to them
// while dnspin is down; restore puts the registry back value for value.
func TestWindowsScopedFallsBackToOriginals(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	// A second interface repeating a server and listing a loopback one
	// (another local resolver): neither may appear twice or at all.
	w.reg.Seed(activation.TcpipIfKey+`\{55555555-aaaa-4bbb-8ccc-000000000005}`, "NameServer", activation.SZ("127.0.0.1,192.0.2.53"))
	before := w.reg.Dump()
	p := activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: winPlanResolver}
	if err := w.configurator().Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	rule := activation.NRPTLocalKey + `\` + activation.NRPTRuleID("tickets.example")
	v, ok, _ := w.reg.GetValue(rule, activation.NRPTServers)
	if want := "127.0.0.1; ::1; 192.0.2.53; 192.0.2.54; 198.51.100.1"; !ok || v.String != want {
		t.Fatalf("GenericDNSServers = %q (present %v), want dnspin then three originals %q", v.String, ok, want)
	}
	// A re-apply by a new process (the interfaces now unchanged, the
	// journal holding the originals) writes the same list.
	if err := w.configurator().Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if v2, _, _ := w.reg.GetValue(rule, activation.NRPTServers); !v2.Equal(v) {
		t.Errorf("re-apply changed GenericDNSServers to %q", v2.String)
	}
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if after := w.reg.Dump(); after != before {
		t.Errorf("registry not restored exactly:\n%s", activationtest.LineDiff(before, after))
	}
	if ok, _ := w.reg.KeyExists(rule); ok {
		t.Error("the NRPT rule key dnspin created is still there after restore")
	}
}

// Scoped resolver files: dnspin, then the recorded originals (MAXNS 3 lines
// in all); on another port no fallback can be listed. A resolver file that
// was there before comes back byte for byte with its mode.
func TestMacOSScopedFallsBackToOriginals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		resolv   string
		resolver []string
		want     string
	}{
		{"port 53, dnspin then originals", "nameserver 127.0.0.1\nnameserver 198.51.100.1\nnameserver 198.51.100.1\nnameserver 2001:db8::53\nnameserver 203.0.113.9\n",
			[]string{"127.0.0.1:53", "[::1]:53"}, "nameserver 127.0.0.1\nnameserver 198.51.100.1\nnameserver 2001:db8::53\n"},
		{"no originals: dnspin's addresses only", "nameserver 127.0.0.1\n",
			[]string{"127.0.0.1:53", "[::1]:53"}, "nameserver 127.0.0.1\nnameserver ::1\n"},
		{"port 5353: the port line would apply to the originals too", "nameserver 198.51.100.1\n",
			[]string{"127.0.0.1:5353"}, "nameserver 127.0.0.1\nport 5353\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMacRig(t)
			m.fs.SeedFile("/etc/resolv.conf", tc.resolv, 0o644)
			const theirs = "# another program's file\nnameserver 10.8.0.1\n"
			m.fs.SeedFile("/etc/resolver/tickets.example", theirs, 0o600)
			before := m.fs.Dump("/state")
			if err := m.configurator().Apply(ctx, activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: tc.resolver}); err != nil {
				t.Fatal(err)
			}
			b, err := m.fs.ReadFile("/etc/resolver/tickets.example")
			if err != nil || string(b) != activation.Marker+"\n"+tc.want {
				t.Fatalf("resolver file = %q (%v), want %q", b, err, activation.Marker+"\n"+tc.want)
			}
			if err := m.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := m.fs.ReadFile("/etc/resolver/tickets.example"); string(got) != theirs {
				t.Errorf("restored file = %q, want %q", got, theirs)
			}
			if after := m.fs.Dump("/state"); after != before {
				t.Errorf("files not restored exactly:\n%s", activationtest.LineDiff(before, after))
			}
		})
	}
}
