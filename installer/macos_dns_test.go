package installer

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// fakeNetworksetup is networksetup's view of a Mac: services in order, a
// disabled one, and each service's explicit DNS list (nil = "Empty").
type fakeNetworksetup struct {
	order    []string
	disabled map[string]bool
	dns      map[string][]string
}

func (n *fakeNetworksetup) handle(name string, args []string) (string, error) {
	switch {
	case name == "networksetup" && len(args) == 1 && args[0] == "-listallnetworkservices":
		var b strings.Builder
		b.WriteString("An asterisk (*) denotes that a network service is disabled.\n")
		for _, s := range n.order {
			if n.disabled[s] {
				b.WriteString("*")
			}
			b.WriteString(s + "\n")
		}
		return b.String(), nil
	case name == "networksetup" && len(args) == 2 && args[0] == "-getdnsservers":
		l, ok := n.dns[args[1]]
		if !ok && !slices.Contains(n.order, args[1]) {
			return fmt.Sprintf("%s is not a recognized network service.\n", args[1]), fmt.Errorf("exit status 4")
		}
		if l == nil {
			return fmt.Sprintf("There aren't any DNS Servers set on %s.\n", args[1]), nil
		}
		return strings.Join(l, "\n") + "\n", nil
	case name == "networksetup" && len(args) >= 3 && args[0] == "-setdnsservers":
		if len(args) == 3 && args[2] == "Empty" {
			n.dns[args[1]] = nil
		} else {
			n.dns[args[1]] = slices.Clone(args[2:])
		}
		return "", nil
	case name == "dscacheutil" || name == "killall":
		return "", nil
	}
	return "", fmt.Errorf("unexpected command %s %v", name, args)
}

func (n *fakeNetworksetup) dump() string {
	var b strings.Builder
	for _, s := range n.order {
		fmt.Fprintf(&b, "%s disabled=%v dns=%q\n", s, n.disabled[s], n.dns[s])
	}
	return b.String()
}

type macRig struct {
	tr *wmTranscript
	fs *wmFS
	ns *fakeNetworksetup
	o  Options
}

// newMacRig is a Mac with Wi-Fi on DHCP DNS, Ethernet with an explicit list,
// a disabled Bluetooth PAN, an existing resolver file of another program and
// resolv.conf showing the DHCP servers.
func newMacRig(t *testing.T) *macRig {
	tr := &wmTranscript{}
	m := &macRig{tr: tr, fs: newWMFS(tr)}
	m.ns = &fakeNetworksetup{
		order:    []string{"Wi-Fi", "USB 10/100/1000 LAN", "Bluetooth PAN"},
		disabled: map[string]bool{"Bluetooth PAN": true},
		dns:      map[string][]string{"USB 10/100/1000 LAN": {"192.0.2.53", "2001:db8::53"}},
	}
	run := newScriptRunner(tr)
	run.handler = m.ns.handle
	m.fs.seedFile("/etc/resolv.conf", "#\n# macOS Notice\n#\nnameserver 198.51.100.1\nnameserver 127.0.0.1\n", 0o644)
	m.fs.mkdirs("/state", 0o755)
	m.o = Options{FS: m.fs, Run: run.run, StateDir: "/state"}
	return m
}

func (m *macRig) configurator() Configurator { return NewMacOSConfigurator(m.o) }

func TestMacOSActivation(t *testing.T) {
	for _, tc := range []struct {
		golden  string
		plans   []Plan
		resolve bool // /etc/resolver already exists with another program's file
	}{
		{"macos_scoped", []Plan{{Mode: "scoped", Domains: []string{"tickets.example", "cdn-tickets.example"}, Resolver: []string{"127.0.0.1:53", "[::1]:53"}}}, false},
		{"macos_scoped_existing_dir_port", []Plan{{Mode: "scoped", Domains: []string{"tickets.example", "vpn.example"}, Resolver: []string{"127.0.0.1:5353"}}}, true},
		{"macos_full", []Plan{{Mode: "full", Resolver: []string{"127.0.0.1:53", "[::1]:53"}}}, false},
		{"macos_full_then_scoped", []Plan{
			{Mode: "full", Resolver: []string{"127.0.0.1:53"}},
			{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
		}, false},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			ctx := context.Background()
			m := newMacRig(t)
			if tc.resolve {
				m.fs.seedFile("/etc/resolver/vpn.example", "nameserver 10.8.0.1\n", 0o600)
			}
			beforeFS, beforeNS := m.fs.dump("/state"), m.ns.dump()
			for _, p := range tc.plans {
				m.tr.section("apply " + p.Mode)
				if err := m.configurator().Apply(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			m.tr.section("apply again")
			if err := m.configurator().Apply(ctx, tc.plans[len(tc.plans)-1]); err != nil {
				t.Fatal(err)
			}
			m.tr.section("current")
			s, err := m.configurator().Current(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Activated {
				t.Error("Current says not activated after Apply")
			}
			snapshotLines(m.tr, s)
			m.tr.section("restore from the journal (a new process, as after a crash)")
			if err := m.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if after := m.fs.dump("/state"); after != beforeFS {
				t.Errorf("files not restored exactly:\n%s", wmLineDiff(beforeFS, after))
			}
			if after := m.ns.dump(); after != beforeNS {
				t.Errorf("network services not restored exactly:\n%s", wmLineDiff(beforeNS, after))
			}
			if _, err := m.fs.Stat("/state/" + JournalFile); err == nil {
				t.Error("journal still there after restore")
			}
			checkWMGolden(t, tc.golden, m.tr.String())
		})
	}
}

func TestMacOSFullKeepsFallbacksAndEmpty(t *testing.T) {
	ctx := context.Background()
	m := newMacRig(t)
	if err := m.configurator().Apply(ctx, Plan{Mode: "full", Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.ns.dns["Wi-Fi"], " "); got != "127.0.0.1 198.51.100.1" {
		t.Errorf("Wi-Fi (DHCP) DNS while active = %q, want dnspin then the DHCP server", got)
	}
	if got := strings.Join(m.ns.dns["USB 10/100/1000 LAN"], " "); got != "127.0.0.1 192.0.2.53 2001:db8::53" {
		t.Errorf("LAN DNS while active = %q", got)
	}
	if _, ok := m.ns.dns["Bluetooth PAN"]; ok {
		t.Error("a disabled service was changed")
	}
	if err := m.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if l, ok := m.ns.dns["Wi-Fi"]; !ok || l != nil {
		t.Errorf("Wi-Fi restored to %q, want Empty", l)
	}
	if got := strings.Join(m.ns.dns["USB 10/100/1000 LAN"], " "); got != "192.0.2.53 2001:db8::53" {
		t.Errorf("LAN restored to %q", got)
	}
}

func TestMacOSResolverFilesCarryMarker(t *testing.T) {
	m := newMacRig(t)
	if err := m.configurator().Apply(context.Background(), Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	b, err := m.fs.ReadFile("/etc/resolver/tickets.example")
	if err != nil || !strings.HasPrefix(string(b), Marker+"\n") || !strings.Contains(string(b), "nameserver 127.0.0.1\n") {
		t.Fatalf("resolver file %q %v", b, err)
	}
	st, _ := m.fs.Stat("/etc/resolver/tickets.example")
	if st.Mode() != fs.FileMode(0o644) {
		t.Errorf("resolver file mode %v", st.Mode())
	}
}

func TestMacOSNoChangeWithoutJournal(t *testing.T) {
	m := newMacRig(t)
	m.fs.failWrite = "/state/" + JournalFile
	beforeFS, beforeNS := m.fs.dump("/state"), m.ns.dump()
	for _, p := range []Plan{
		{Mode: "full", Resolver: []string{"127.0.0.1:53"}},
		{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
	} {
		if err := m.configurator().Apply(context.Background(), p); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("Apply %s with an unwritable journal: %v", p.Mode, err)
		}
	}
	if m.fs.dump("/state") != beforeFS || m.ns.dump() != beforeNS {
		t.Fatal("changed although the journal could not be written")
	}
}

func TestMacOSInterruptedApply(t *testing.T) {
	ctx := context.Background()
	m := newMacRig(t)
	beforeFS, beforeNS := m.fs.dump("/state"), m.ns.dump()
	p := Plan{Mode: "full", Resolver: []string{"127.0.0.1:53"}}
	sets := 0
	inner := m.ns.handle
	run := newScriptRunner(m.tr)
	run.handler = func(name string, args []string) (string, error) {
		if len(args) > 0 && args[0] == "-setdnsservers" {
			if sets++; sets == 2 {
				return "** Error: unable to commit changes to SCDynamicStore.\n", fmt.Errorf("exit status 1")
			}
		}
		return inner(name, args)
	}
	m.o.Run = run.run
	if err := m.configurator().Apply(ctx, p); err == nil {
		t.Fatal("interrupted Apply succeeded")
	}
	if err := m.configurator().Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := m.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if m.fs.dump("/state") != beforeFS || m.ns.dump() != beforeNS {
		t.Errorf("not restored exactly after an interrupted apply:\n%s", wmLineDiff(beforeNS, m.ns.dump()))
	}
}
