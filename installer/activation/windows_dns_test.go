package activation_test

import (
	"context"
	"encoding/json"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/installer/activation/activationtest"
	"strings"
	"testing"
)

type winRig struct {
	tr  *activationtest.Transcript
	reg *activationtest.Registry
	fs  *activationtest.FS
	run *activationtest.ScriptRunner
	o   activation.Options
}

func newWinRig(t *testing.T) *winRig {
	tr := &activationtest.Transcript{}
	w := &winRig{tr: tr, reg: activationtest.WindowsMachine(tr), fs: activationtest.NewFS(tr), run: activationtest.NewScriptRunner(tr)}
	w.o = activation.Options{FS: w.fs, Run: w.run.Run, StateDir: `/state`}
	return w
}

// configurator returns a fresh configurator, as a new process would make.
func (w *winRig) configurator() activation.Configurator {
	return activation.NewWindowsConfigurator(w.o, w.reg)
}

var winPlanResolver = []string{"127.0.0.1:53", "[::1]:53"}

func snapshotLines(tr *activationtest.Transcript, s activation.Snapshot) {
	tr.Add("snapshot backend=%s activated=%v nameservers=%s", s.Backend, s.Activated, strings.Join(s.Nameservers, ","))
	for _, n := range s.Notes {
		tr.Add("    %s", n)
	}
}

func TestWindowsActivation(t *testing.T) {
	for _, tc := range []struct {
		golden string
		plans  []activation.Plan
	}{
		{"windows_scoped", []activation.Plan{{Mode: "scoped", Domains: []string{"tickets.example", "cdn-tickets.example"}, Resolver: winPlanResolver}}},
		{"windows_full", []activation.Plan{{Mode: "full", Domains: []string{"tickets.example"}, Resolver: winPlanResolver}}},
		// Switching mode while active: full's interface changes are put back.
		{"windows_full_then_scoped", []activation.Plan{
			{Mode: "full", Resolver: []string{"127.0.0.1:53"}},
			{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			ctx := context.Background()
			w := newWinRig(t)
			before := w.reg.Dump()
			for _, p := range tc.plans {
				w.tr.Section("apply " + p.Mode)
				if err := w.configurator().Apply(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			w.tr.Section("apply again (must change nothing recorded)")
			if err := w.configurator().Apply(ctx, tc.plans[len(tc.plans)-1]); err != nil {
				t.Fatal(err)
			}
			j, err := activation.ReadJournal(w.fs, w.o.StateDir)
			if err != nil || j == nil {
				t.Fatalf("journal after apply: %v %v", j, err)
			}
			if want := []string{"192.0.2.53", "192.0.2.54", "198.51.100.1", "198.51.100.2", "198.51.100.7", "2001:db8::53"}; strings.Join(j.Nameservers, ",") != strings.Join(want, ",") {
				t.Errorf("journal nameservers %v, want the pre-activation servers %v", j.Nameservers, want)
			}
			w.tr.Section("current")
			s, err := w.configurator().Current(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Activated {
				t.Error("Current says not activated after Apply")
			}
			snapshotLines(w.tr, s)
			w.tr.Section("restore from the journal (a new process, as after a crash)")
			if err := w.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if after := w.reg.Dump(); after != before {
				t.Errorf("registry not restored exactly:\n%s", activationtest.LineDiff(before, after))
			}
			if _, err := w.fs.Stat("/state/" + activation.JournalFile); err == nil {
				t.Error("journal still there after a complete restore")
			}
			w.tr.Section("restore again (no journal: nothing to do)")
			if err := w.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			activationtest.CheckGolden(t, tc.golden, w.tr.String())
		})
	}
}

// Static stays static with the same list, DHCP stays DHCP (empty value or no
// value), checked value by value rather than only through the dump.
func TestWindowsRestoreStaticVersusDHCP(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	if err := w.configurator().Apply(ctx, activation.Plan{Mode: "full", Resolver: winPlanResolver}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, want string }{
		{activation.TcpipIfKey + `\` + activationtest.IfStatic, "127.0.0.1,192.0.2.53,192.0.2.54"},
		{activation.TcpipIfKey + `\` + activationtest.IfDHCP, "127.0.0.1,198.51.100.1,198.51.100.2"},
		{activation.TcpipIfKey + `\` + activationtest.IfAbsent, "127.0.0.1,198.51.100.7"},
		{activation.Tcpip6IfKey + `\` + activationtest.IfDHCP, "::1,2001:db8::53"},
	} {
		v, ok, _ := w.reg.GetValue(c.key, "NameServer")
		if !ok || v.String != c.want {
			t.Errorf("%s NameServer = %#v, want %q", c.key, v, c.want)
		}
	}
	if _, ok, _ := w.reg.GetValue(activation.TcpipIfKey+`\`+activationtest.IfDown, "NameServer"); ok {
		t.Error("an interface without DNS was given DNS servers")
	}
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := w.reg.GetValue(activation.TcpipIfKey+`\`+activationtest.IfStatic, "NameServer"); !v.Equal(activation.SZ("192.0.2.53,192.0.2.54")) {
		t.Errorf("static interface restored to %#v", v)
	}
	if v, ok, _ := w.reg.GetValue(activation.TcpipIfKey+`\`+activationtest.IfDHCP, "NameServer"); !ok || !v.Equal(activation.SZ("")) {
		t.Errorf("DHCP interface restored to %#v (present %v), want an empty REG_SZ", v, ok)
	}
	if _, ok, _ := w.reg.GetValue(activation.TcpipIfKey+`\`+activationtest.IfAbsent, "NameServer"); ok {
		t.Error("DHCP interface that had no NameServer value has one after restore")
	}
}

// Group Policy NRPT rules make Windows ignore the local key: dnspin must
// write there too and ask for a policy refresh, and take it all back.
func TestWindowsGroupPolicyNRPT(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	w.reg.Seed(activation.NRPTGPKey+`\{corp-rule}`, activation.NRPTName, activation.MultiSZ(".corp.example"))
	before := w.reg.Dump()
	w.tr.Section("apply scoped with a Group Policy NRPT rule present")
	if err := w.configurator().Apply(ctx, activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	w.tr.Section("restore")
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if after := w.reg.Dump(); after != before {
		t.Errorf("registry not restored exactly:\n%s", activationtest.LineDiff(before, after))
	}
	activationtest.CheckGolden(t, "windows_gp", w.tr.String())
}

// A journal lost with its disk: Restore still removes rules carrying our
// marker, and only those.
func TestWindowsLeftoverRulesWithoutJournal(t *testing.T) {
	ctx := context.Background()
	w := newWinRig(t)
	w.reg.Seed(activation.NRPTLocalKey+`\{someone-else}`, activation.NRPTComment, activation.SZ("VPN"))
	if err := w.configurator().Apply(ctx, activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}); err != nil {
		t.Fatal(err)
	}
	if err := activation.RemoveJournal(w.fs, w.o.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
	subs, _ := w.reg.SubKeys(activation.NRPTLocalKey)
	if strings.Join(subs, ",") != "{someone-else}" {
		t.Errorf("NRPT rules after leftover cleanup: %v", subs)
	}
}

func TestWindowsRefusesPlansItCannotApply(t *testing.T) {
	ctx := context.Background()
	for _, p := range []activation.Plan{
		{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:5353"}},
		{Mode: "scoped", Resolver: []string{"127.0.0.1:53"}},
		{Mode: "bogus", Resolver: []string{"127.0.0.1:53"}},
	} {
		w := newWinRig(t)
		before := w.reg.Dump()
		if err := w.configurator().Apply(ctx, p); err == nil {
			t.Errorf("Apply(%+v) succeeded", p)
		}
		if w.reg.Dump() != before || w.tr.Len() != 0 {
			t.Errorf("Apply(%+v) changed something before failing:\n%s", p, w.tr)
		}
	}
}

func TestNRPTRuleIDIsStableAndGUIDShaped(t *testing.T) {
	a, b := activation.NRPTRuleID("tickets.example"), activation.NRPTRuleID("tickets.example")
	if a != b || a == activation.NRPTRuleID("cdn-tickets.example") || len(a) != 38 || a[0] != '{' || a[37] != '}' {
		t.Fatalf("activation.NRPTRuleID: %q %q", a, b)
	}
	var v activation.RegValue
	if err := json.Unmarshal([]byte(`{"type":1,"string":""}`), &v); err != nil || !v.Equal(activation.SZ("")) {
		t.Fatalf("empty REG_SZ must survive the journal: %#v %v", v, err)
	}
}

// The journal comes first: when it cannot be written, nothing is changed.
func TestWindowsNoChangeWithoutJournal(t *testing.T) {
	w := newWinRig(t)
	w.fs.FailWrite = "/state/" + activation.JournalFile
	before := w.reg.Dump()
	err := w.configurator().Apply(context.Background(), activation.Plan{Mode: "full", Resolver: winPlanResolver})
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Apply with an unwritable journal: %v", err)
	}
	if w.reg.Dump() != before {
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
			before := w.reg.Dump()
			p := activation.Plan{Mode: mode, Domains: []string{"tickets.example", "cdn-tickets.example"}, Resolver: winPlanResolver}
			w.reg.FailSets = 2
			if err := w.configurator().Apply(ctx, p); err == nil || !strings.Contains(err.Error(), "dnspin deactivate") {
				t.Fatalf("interrupted Apply: %v", err)
			}
			w.reg.FailSets = 0
			if err := w.configurator().Apply(ctx, p); err != nil { // the service restarts and re-applies
				t.Fatal(err)
			}
			if err := w.configurator().Restore(ctx); err != nil {
				t.Fatal(err)
			}
			if after := w.reg.Dump(); after != before {
				t.Errorf("not restored exactly after an interrupted apply:\n%s", activationtest.LineDiff(before, after))
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
	p := activation.Plan{Mode: "full", Resolver: winPlanResolver}
	if err := w.configurator().Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.reg.FailSets = w.reg.Sets // the restore's first put-back fails
	if err := w.configurator().Restore(ctx); err == nil {
		t.Fatal("Restore with a failing registry succeeded")
	}
	j, err := activation.ReadJournal(w.fs, w.o.StateDir)
	if err != nil || j == nil {
		t.Fatalf("journal after an interrupted restore: %v %v", j, err)
	}
	if j.Active {
		t.Error("journal still says active after an interrupted restore: the next start would re-apply")
	}
	w.reg.FailSets = 0
	if err := w.configurator().Restore(ctx); err != nil {
		t.Fatal(err)
	}
}

// A machine that never had an NRPT rule has no DnsPolicyConfig key (Wine
// not even Dnscache): deactivate removes the keys activation created above
// the rule too, unless something else was put under them meanwhile.
func TestWindowsRestoreRemovesCreatedParents(t *testing.T) {
	plan := activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}
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
			tr := &activationtest.Transcript{}
			reg := activationtest.NewRegistry(tr)
			reg.Seed(activation.TcpipIfKey+`\`+activationtest.IfStatic, "NameServer", activation.SZ("192.0.2.53"))
			if tc.parent != "" {
				reg.Seed(tc.parent, "placeholder", activation.DWord(0))
			}
			before := reg.Dump()
			o := activation.Options{FS: activationtest.NewFS(tr), Run: activationtest.NewScriptRunner(tr).Run, StateDir: `/state`}
			c := activation.NewWindowsConfigurator(o, reg)
			if err := c.Apply(ctx, plan); err != nil {
				t.Fatal(err)
			}
			if ok, _ := reg.KeyExists(activation.NRPTLocalKey); !ok {
				t.Fatal("no NRPT key after activation")
			}
			foreign := activation.NRPTLocalKey + `\{00000000-1111-2222-3333-444444444444}`
			if tc.foreign {
				reg.Seed(foreign, "Comment", activation.SZ("VPN client"))
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
				if subs, _ := reg.SubKeys(activation.NRPTLocalKey); len(subs) != 0 {
					t.Fatalf("rules left: %v", subs)
				}
				return
			}
			if after := reg.Dump(); after != before {
				t.Fatalf("registry after restore differs:\n%s", activationtest.LineDiff(before, after))
			}
		})
	}
}
