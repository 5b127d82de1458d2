package installer

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const (
	ifStatic = `{11111111-aaaa-4bbb-8ccc-000000000001}`
	ifDHCP   = `{22222222-aaaa-4bbb-8ccc-000000000002}`
	ifAbsent = `{33333333-aaaa-4bbb-8ccc-000000000003}` // DHCP, NameServer value never written
	ifDown   = `{44444444-aaaa-4bbb-8ccc-000000000004}` // no DNS at all: left alone
)

// winMachine is a Windows machine's registry as the tests start it: one
// interface with static DNS, one with DHCP DNS and an empty NameServer (as
// Windows writes it after "Obtain DNS server address automatically"), one
// with DHCP DNS and no NameServer value, one without DNS, and an IPv6
// interface with DHCPv6 DNS.
func winMachine(tr *wmTranscript) *wmRegistry {
	r := newWMRegistry(tr)
	r.seed(tcpipIfKey+`\`+ifStatic, "NameServer", SZ("192.0.2.53,192.0.2.54"))
	r.seed(tcpipIfKey+`\`+ifStatic, "DhcpNameServer", SZ("203.0.113.9"))
	r.seed(tcpipIfKey+`\`+ifDHCP, "NameServer", SZ(""))
	r.seed(tcpipIfKey+`\`+ifDHCP, "DhcpNameServer", SZ("198.51.100.1 198.51.100.2"))
	r.seed(tcpipIfKey+`\`+ifAbsent, "DhcpNameServer", SZ("198.51.100.7"))
	r.seed(tcpipIfKey+`\`+ifDown, "EnableDHCP", DWord(1))
	r.seed(tcpip6IfKey+`\`+ifDHCP, "DhcpNameServer", SZ("2001:db8::53"))
	r.seed(RunKey, "SecurityHealth", RegValue{Type: RegExpandSZ, String: `%windir%\system32\SecurityHealthSystray.exe`})
	r.seed(nrptLocalKey, "placeholder-so-the-key-exists", DWord(0))
	return r
}

type winRig struct {
	tr  *wmTranscript
	reg *wmRegistry
	fs  *wmFS
	run *scriptRunner
	o   Options
}

func newWinRig(t *testing.T) *winRig {
	tr := &wmTranscript{}
	w := &winRig{tr: tr, reg: winMachine(tr), fs: newWMFS(tr), run: newScriptRunner(tr)}
	w.o = Options{FS: w.fs, Run: w.run.run, StateDir: `/state`}
	return w
}

// configurator returns a fresh configurator, as a new process would make.
func (w *winRig) configurator() Configurator { return NewWindowsConfigurator(w.o, w.reg) }

var winPlanResolver = []string{"127.0.0.1:53", "[::1]:53"}

func snapshotLines(tr *wmTranscript, s Snapshot) {
	tr.add("snapshot backend=%s activated=%v nameservers=%s", s.Backend, s.Activated, strings.Join(s.Nameservers, ","))
	for _, n := range s.Notes {
		tr.add("    %s", n)
	}
}

func TestWindowsActivation(t *testing.T) {
	for _, tc := range []struct {
		golden string
		plans  []Plan
	}{
		{"windows_scoped", []Plan{{Mode: "scoped", Domains: []string{"tickets.example", "cdn-tickets.example"}, Resolver: winPlanResolver}}},
		{"windows_full", []Plan{{Mode: "full", Domains: []string{"tickets.example"}, Resolver: winPlanResolver}}},
		// Switching mode while active: full's interface changes are put back.
		{"windows_full_then_scoped", []Plan{
			{Mode: "full", Resolver: []string{"127.0.0.1:53"}},
			{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			ctx := context.Background()
			w := newWinRig(t)
			before := w.reg.dump()
			for _, p := range tc.plans {
				w.tr.section("apply " + p.Mode)
				if err := w.configurator().Apply(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			w.tr.section("apply again (must change nothing recorded)")
			if err := w.configurator().Apply(ctx, tc.plans[len(tc.plans)-1]); err != nil {
				t.Fatal(err)
			}
			j, err := ReadJournal(w.fs, w.o.StateDir)
			if err != nil || j == nil {
				t.Fatalf("journal after apply: %v %v", j, err)
			}
			if want := []string{"192.0.2.53", "192.0.2.54", "198.51.100.1", "198.51.100.2", "198.51.100.7", "2001:db8::53"}; strings.Join(j.Nameservers, ",") != strings.Join(want, ",") {
				t.Errorf("journal nameservers %v, want the pre-activation servers %v", j.Nameservers, want)
			}
			w.tr.section("current")
			s, err := w.configurator().Current(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Activated {
				t.Error("Current says not activated after Apply")
			}
			snapshotLines(w.tr, s)
			w.tr.section("restore from the journal (a new process, as after a crash)")
			if err := w.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if after := w.reg.dump(); after != before {
				t.Errorf("registry not restored exactly:\n%s", wmLineDiff(before, after))
			}
			if _, err := w.fs.Stat("/state/" + JournalFile); err == nil {
				t.Error("journal still there after a complete restore")
			}
			w.tr.section("restore again (no journal: nothing to do)")
			if err := w.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			checkWMGolden(t, tc.golden, w.tr.String())
		})
	}
}

// Static stays static with the same list, DHCP stays DHCP (empty value or no
// value), checked value by value rather than only through the dump.
func TestWindowsRestoreStaticVersusDHCP(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	if err := w.configurator().Apply(ctx, Plan{Mode: "full", Resolver: winPlanResolver}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, want string }{
		{tcpipIfKey + `\` + ifStatic, "127.0.0.1,192.0.2.53,192.0.2.54"},
		{tcpipIfKey + `\` + ifDHCP, "127.0.0.1,198.51.100.1,198.51.100.2"},
		{tcpipIfKey + `\` + ifAbsent, "127.0.0.1,198.51.100.7"},
		{tcpip6IfKey + `\` + ifDHCP, "::1,2001:db8::53"},
	} {
		v, ok, _ := w.reg.GetValue(c.key, "NameServer")
		if !ok || v.String != c.want {
			t.Errorf("%s NameServer = %#v, want %q", c.key, v, c.want)
		}
	}
	if _, ok, _ := w.reg.GetValue(tcpipIfKey+`\`+ifDown, "NameServer"); ok {
		t.Error("an interface without DNS was given DNS servers")
	}
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := w.reg.GetValue(tcpipIfKey+`\`+ifStatic, "NameServer"); !v.Equal(SZ("192.0.2.53,192.0.2.54")) {
		t.Errorf("static interface restored to %#v", v)
	}
	if v, ok, _ := w.reg.GetValue(tcpipIfKey+`\`+ifDHCP, "NameServer"); !ok || !v.Equal(SZ("")) {
		t.Errorf("DHCP interface restored to %#v (present %v), want an empty REG_SZ", v, ok)
	}
	if _, ok, _ := w.reg.GetValue(tcpipIfKey+`\`+ifAbsent, "NameServer"); ok {
		t.Error("DHCP interface that had no NameServer value has one after restore")
	}
}

// Group Policy NRPT rules make Windows ignore the local key: dnspin must
// write there too and ask for a policy refresh, and take it all back.
func TestWindowsGroupPolicyNRPT(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	w.reg.seed(nrptGPKey+`\{corp-rule}`, nrptName, MultiSZ(".corp.example"))
	before := w.reg.dump()
	w.tr.section("apply scoped with a Group Policy NRPT rule present")
	if err := w.configurator().Apply(ctx, Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	w.tr.section("restore")
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if after := w.reg.dump(); after != before {
		t.Errorf("registry not restored exactly:\n%s", wmLineDiff(before, after))
	}
	checkWMGolden(t, "windows_gp", w.tr.String())
}

// A journal lost with its disk: Restore still removes rules carrying our
// marker, and only those.
func TestWindowsLeftoverRulesWithoutJournal(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	w.reg.seed(nrptLocalKey+`\{someone-else}`, nrptComment, SZ("VPN"))
	if err := w.configurator().Apply(ctx, Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveJournal(w.fs, w.o.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	subs, _ := w.reg.SubKeys(nrptLocalKey)
	if strings.Join(subs, ",") != "{someone-else}" {
		t.Errorf("NRPT rules after leftover cleanup: %v", subs)
	}
}

func TestWindowsRefusesPlansItCannotApply(t *testing.T) {
	ctx := context.Background()
	for _, p := range []Plan{
		{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:5353"}},
		{Mode: "scoped", Resolver: []string{"127.0.0.1:53"}},
		{Mode: "bogus", Resolver: []string{"127.0.0.1:53"}},
	} {
		w := newWinRig(t)
		before := w.reg.dump()
		if err := w.configurator().Apply(ctx, p); err == nil {
			t.Errorf("Apply(%+v) succeeded", p)
		}
		if w.reg.dump() != before || len(w.tr.lines) != 0 {
			t.Errorf("Apply(%+v) changed something before failing:\n%s", p, w.tr)
		}
	}
}

func TestNRPTRuleIDIsStableAndGUIDShaped(t *testing.T) {
	a, b := nrptRuleID("tickets.example"), nrptRuleID("tickets.example")
	if a != b || a == nrptRuleID("cdn-tickets.example") || len(a) != 38 || a[0] != '{' || a[37] != '}' {
		t.Fatalf("nrptRuleID: %q %q", a, b)
	}
	var v RegValue
	if err := json.Unmarshal([]byte(`{"type":1,"string":""}`), &v); err != nil || !v.Equal(SZ("")) {
		t.Fatalf("empty REG_SZ must survive the journal: %#v %v", v, err)
	}
}

// The journal comes first: when it cannot be written, nothing is changed.
func TestWindowsNoChangeWithoutJournal(t *testing.T) {
	w := newWinRig(t)
	w.fs.failWrite = "/state/" + JournalFile
	before := w.reg.dump()
	err := w.configurator().Apply(context.Background(), Plan{Mode: "full", Resolver: winPlanResolver})
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Apply with an unwritable journal: %v", err)
	}
	if w.reg.dump() != before {
		t.Fatal("registry changed although the journal could not be written")
	}
}

// Apply dies half way (here: a write fails; a crash looks the same on disk).
// The journal written first lets a new process put everything back, and a
// re-apply before that keeps the true originals, not the half-applied state.
func TestWindowsInterruptedApply(t *testing.T) {
	for _, mode := range []string{"full", "scoped"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			w := newWinRig(t)
			before := w.reg.dump()
			p := Plan{Mode: mode, Domains: []string{"tickets.example", "cdn-tickets.example"}, Resolver: winPlanResolver}
			w.reg.failSets = 2
			if err := w.configurator().Apply(ctx, p); err == nil || !strings.Contains(err.Error(), "dnspin deactivate") {
				t.Fatalf("interrupted Apply: %v", err)
			}
			w.reg.failSets = 0
			if err := w.configurator().Apply(ctx, p); err != nil { // the service restarts and re-applies
				t.Fatal(err)
			}
			if err := w.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if after := w.reg.dump(); after != before {
				t.Errorf("not restored exactly after an interrupted apply:\n%s", wmLineDiff(before, after))
			}
		})
	}
}

// A restore that dies half way (`dnspin deactivate` killed, a write fails)
// leaves a journal that says "not active": the next start finishes the
// restore instead of re-applying what the user asked to undo (as on Linux).
func TestWindowsInterruptedRestoreIsNotReapplied(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	p := Plan{Mode: "full", Resolver: winPlanResolver}
	if err := w.configurator().Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.reg.failSets = w.reg.sets // the restore's first put-back fails
	if err := w.configurator().Restore(ctx); err == nil {
		t.Fatal("Restore with a failing registry succeeded")
	}
	j, err := ReadJournal(w.fs, w.o.StateDir)
	if err != nil || j == nil {
		t.Fatalf("journal after an interrupted restore: %v %v", j, err)
	}
	if j.Active {
		t.Error("journal still says active after an interrupted restore: the next start would re-apply")
	}
	w.reg.failSets = 0
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
}

// A machine that never had an NRPT rule has no DnsPolicyConfig key (Wine
// not even Dnscache): deactivate removes the keys activation created above
// the rule too, unless something else was put under them meanwhile.
func TestWindowsRestoreRemovesCreatedParents(t *testing.T) {
	plan := Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}
	for _, tc := range []struct {
		name    string
		parent  string // seeded, so it exists before activation ("" = Dnscache missing too)
		foreign bool   // another program adds a rule while dnspin is active
	}{
		{"no DnsPolicyConfig", `SYSTEM\CurrentControlSet\Services\Dnscache\Parameters`, false},
		{"no Dnscache (Wine)", "", false},
		{"foreign rule added while active", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tr := &wmTranscript{}
			reg := newWMRegistry(tr)
			reg.seed(tcpipIfKey+`\`+ifStatic, "NameServer", SZ("192.0.2.53"))
			if tc.parent != "" {
				reg.seed(tc.parent, "placeholder", DWord(0))
			}
			before := reg.dump()
			o := Options{FS: newWMFS(tr), Run: newScriptRunner(tr).run, StateDir: `/state`}
			c := NewWindowsConfigurator(o, reg)
			if err := c.Apply(ctx, plan); err != nil {
				t.Fatal(err)
			}
			if ok, _ := reg.KeyExists(nrptLocalKey); !ok {
				t.Fatal("no NRPT key after activation")
			}
			foreign := nrptLocalKey + `\{00000000-1111-2222-3333-444444444444}`
			if tc.foreign {
				reg.seed(foreign, "Comment", SZ("VPN client"))
			}
			if err := c.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.foreign {
				if ok, _ := reg.KeyExists(foreign); !ok {
					t.Fatal("restore removed another program's NRPT rule")
				}
				if err := reg.DeleteKey(foreign); err != nil {
					t.Fatal(err)
				}
				// What is left must be the keys above it, nothing of dnspin.
				if subs, _ := reg.SubKeys(nrptLocalKey); len(subs) != 0 {
					t.Fatalf("rules left: %v", subs)
				}
				return
			}
			if after := reg.dump(); after != before {
				t.Fatalf("registry after restore differs:\n%s", wmLineDiff(before, after))
			}
		})
	}
}
