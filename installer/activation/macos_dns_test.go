package activation_test

import (
	"context"
	"fmt"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/installer/activation/activationtest"
	"io/fs"
	"strings"
	"testing"
)

type macRig struct {
	tr *activationtest.Transcript
	fs *activationtest.FS
	ns *activationtest.Networksetup
	o  activation.Options
}

// newMacRig is a Mac with Wi-Fi on DHCP DNS, Ethernet with an explicit list,
// a disabled Bluetooth PAN, an existing resolver file of another program and
// resolv.conf showing the DHCP servers.
func newMacRig(t *testing.T) *macRig {
	tr := &activationtest.Transcript{}
	m := &macRig{tr: tr, fs: activationtest.NewFS(tr)}
	m.ns = &activationtest.Networksetup{
		Order:    []string{"Wi-Fi", "USB 10/100/1000 LAN", "Bluetooth PAN"},
		Disabled: map[string]bool{"Bluetooth PAN": true},
		DNS:      map[string][]string{"USB 10/100/1000 LAN": {"192.0.2.53", "2001:db8::53"}},
	}
	run := activationtest.NewScriptRunner(tr)
	run.Handler = m.ns.Handle
	m.fs.SeedFile("/etc/resolv.conf", "#\n# macOS Notice\n#\nnameserver 198.51.100.1\nnameserver 127.0.0.1\n", 0o644)
	m.fs.Mkdirs("/state", 0o755)
	m.o = activation.Options{FS: m.fs, Run: run.Run, StateDir: "/state"}
	return m
}

func (m *macRig) configurator() activation.Configurator { return activation.NewMacOSConfigurator(m.o) }

func TestMacOSActivation(t *testing.T) {
	for _, tc := range []struct {
		golden  string
		plans   []activation.Plan
		resolve bool // /etc/resolver already exists with another program's file
	}{
		{"macos_scoped", []activation.Plan{{Mode: "scoped", Domains: []string{"tickets.example", "cdn-tickets.example"}, Resolver: []string{"127.0.0.1:53", "[::1]:53"}}}, false},
		{"macos_scoped_existing_dir_port", []activation.Plan{{Mode: "scoped", Domains: []string{"tickets.example", "vpn.example"}, Resolver: []string{"127.0.0.1:5353"}}}, true},
		{"macos_full", []activation.Plan{{Mode: "full", Resolver: []string{"127.0.0.1:53", "[::1]:53"}}}, false},
		{"macos_full_then_scoped", []activation.Plan{
			{Mode: "full", Resolver: []string{"127.0.0.1:53"}},
			{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
		}, false},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			ctx := context.Background()
			m := newMacRig(t)
			if tc.resolve {
				m.fs.SeedFile("/etc/resolver/vpn.example", "nameserver 10.8.0.1\n", 0o600)
			}
			beforeFS, beforeNS := m.fs.Dump("/state"), m.ns.Dump()
			for _, p := range tc.plans {
				m.tr.Section("apply " + p.Mode)
				if err := m.configurator().Apply(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			m.tr.Section("apply again")
			if err := m.configurator().Apply(ctx, tc.plans[len(tc.plans)-1]); err != nil {
				t.Fatal(err)
			}
			m.tr.Section("current")
			s, err := m.configurator().Current(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Activated {
				t.Error("Current says not activated after Apply")
			}
			snapshotLines(m.tr, s)
			m.tr.Section("restore from the journal (a new process, as after a crash)")
			if err := m.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if after := m.fs.Dump("/state"); after != beforeFS {
				t.Errorf("files not restored exactly:\n%s", activationtest.LineDiff(beforeFS, after))
			}
			if after := m.ns.Dump(); after != beforeNS {
				t.Errorf("network services not restored exactly:\n%s", activationtest.LineDiff(beforeNS, after))
			}
			if _, err := m.fs.Stat("/state/" + activation.JournalFile); err == nil {
				t.Error("journal still there after restore")
			}
			activationtest.CheckGolden(t, tc.golden, m.tr.String())
		})
	}
}

func TestMacOSFullKeepsFallbacksAndEmpty(t *testing.T) {
	ctx := context.Background()
	m := newMacRig(t)
	if err := m.configurator().Apply(ctx, activation.Plan{Mode: "full", Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.ns.DNS["Wi-Fi"], " "); got != "127.0.0.1 198.51.100.1" {
		t.Errorf("Wi-Fi (DHCP) DNS while active = %q, want dnspin then the DHCP server", got)
	}
	if got := strings.Join(m.ns.DNS["USB 10/100/1000 LAN"], " "); got != "127.0.0.1 192.0.2.53 2001:db8::53" {
		t.Errorf("LAN DNS while active = %q", got)
	}
	if _, ok := m.ns.DNS["Bluetooth PAN"]; ok {
		t.Error("a disabled service was changed")
	}
	if err := m.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if l, ok := m.ns.DNS["Wi-Fi"]; !ok || l != nil {
		t.Errorf("Wi-Fi restored to %q, want Empty", l)
	}
	if got := strings.Join(m.ns.DNS["USB 10/100/1000 LAN"], " "); got != "192.0.2.53 2001:db8::53" {
		t.Errorf("LAN restored to %q", got)
	}
}

func TestMacOSResolverFilesCarryMarker(t *testing.T) {
	m := newMacRig(t)
	if err := m.configurator().Apply(context.Background(), activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	b, err := m.fs.ReadFile("/etc/resolver/tickets.example")
	if err != nil || !strings.HasPrefix(string(b), activation.Marker+"\n") || !strings.Contains(string(b), "nameserver 127.0.0.1\n") {
		t.Fatalf("resolver file %q %v", b, err)
	}
	st, _ := m.fs.Stat("/etc/resolver/tickets.example")
	if st.Mode() != fs.FileMode(0o644) {
		t.Errorf("resolver file mode %v", st.Mode())
	}
}

func TestMacOSNoChangeWithoutJournal(t *testing.T) {
	m := newMacRig(t)
	m.fs.FailWrite = "/state/" + activation.JournalFile
	beforeFS, beforeNS := m.fs.Dump("/state"), m.ns.Dump()
	for _, p := range []activation.Plan{
		{Mode: "full", Resolver: []string{"127.0.0.1:53"}},
		{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
	} {
		if err := m.configurator().Apply(context.Background(), p); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("Apply %s with an unwritable journal: %v", p.Mode, err)
		}
	}
	if m.fs.Dump("/state") != beforeFS || m.ns.Dump() != beforeNS {
		t.Fatal("changed although the journal could not be written")
	}
}

func TestMacOSInterruptedApply(t *testing.T) {
	ctx := context.Background()
	m := newMacRig(t)
	beforeFS, beforeNS := m.fs.Dump("/state"), m.ns.Dump()
	p := activation.Plan{Mode: "full", Resolver: []string{"127.0.0.1:53"}}
	sets := 0
	inner := m.ns.Handle
	run := activationtest.NewScriptRunner(m.tr)
	run.Handler = func(name string, args []string) (string, error) {
		if len(args) > 0 && args[0] == "-setdnsservers" {
			if sets++; sets == 2 {
				return "** Error: unable to commit changes to SCDynamicStore.\n", fmt.Errorf("exit status 1")
			}
		}
		return inner(name, args)
	}
	m.o.Run = run.Run
	if err := m.configurator().Apply(ctx, p); err == nil {
		t.Fatal("interrupted Apply succeeded")
	}
	if err := m.configurator().Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := m.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if m.fs.Dump("/state") != beforeFS || m.ns.Dump() != beforeNS {
		t.Errorf("not restored exactly after an interrupted apply:\n%s", activationtest.LineDiff(beforeNS, m.ns.Dump()))
	}
}
