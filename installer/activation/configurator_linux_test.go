package activation

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recRunner records commands; commands listed in ok succeed with their
// output, all others fail as if the program were not installed.
type recRunner struct {
	mu    sync.Mutex
	ok    map[string]string
	calls []string
}

func (r *recRunner) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := strings.Join(append([]string{name}, args...), " ")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, cmd)
	if out, ok := r.ok[cmd]; ok {
		return []byte(out), nil
	}
	return nil, errors.New("exec: " + name + ": not found")
}

// changes returns the recorded commands except the detection probes.
func (r *recRunner) changes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		if !strings.HasPrefix(c, "resolvectl --no-pager ") && !strings.HasPrefix(c, "nmcli ") {
			out = append(out, c)
		}
	}
	return out
}

type rootSetup struct {
	root RootFS
	run  *recRunner
	o    Options
}

func newRoot(t *testing.T, ok map[string]string) *rootSetup {
	t.Helper()
	root := RootFS(t.TempDir())
	run := &recRunner{ok: ok}
	return &rootSetup{root: root, run: run, o: Options{FS: root, Run: run.run, StateDir: "/var/lib/dnspin"}}
}

func (s *rootSetup) write(t *testing.T, path, content string, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(s.root.p(path)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.root.p(path), []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.root.p(path), perm); err != nil {
		t.Fatal(err)
	}
}

func (s *rootSetup) symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(s.root.p(path)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, s.root.p(path)); err != nil {
		t.Fatal(err)
	}
}

func (s *rootSetup) read(t *testing.T, path string) string {
	t.Helper()
	b, err := s.root.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (s *rootSetup) conf(t *testing.T) *linuxConfigurator {
	t.Helper()
	c, err := NewConfigurator(context.Background(), s.o)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*linuxConfigurator)
}

var fullPlan = Plan{Mode: "full", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53", "[::1]:53"}}
var scopedPlan = Plan{Mode: "scoped", Domains: []string{"Tickets.Example.", "cdn-tickets.example"}, Resolver: []string{"127.0.0.1:53"}}

func TestDirectApplyRestoreExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, nil)
	orig := "# from DHCP\nsearch lan\nnameserver 192.0.2.1\nnameserver 127.0.0.1\noptions rotate edns0\nnameserver 192.0.2.2\n"
	s.write(t, ResolvConf, orig, 0o640)
	if os.Geteuid() == 0 {
		if err := os.Lchown(s.root.p(ResolvConf), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	c := s.conf(t)
	if err := c.Apply(ctx, scopedPlan); err != nil {
		t.Fatal(err)
	}
	want := Marker + "\n# dnspin activation (scoped): dnspin first, then one original server (used if dnspin is not running).\n" +
		"nameserver 127.0.0.1\nnameserver 192.0.2.1\n" + othersToo + "192.0.2.2\nsearch lan\noptions edns0\n" +
		failFast + "\noptions timeout:1 attempts:1\n"
	if got := s.read(t, ResolvConf); got != want {
		t.Fatalf("resolv.conf after Apply:\n%s\nwant:\n%s", got, want)
	}
	st, _ := os.Stat(s.root.p(ResolvConf))
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode after Apply %v", st.Mode())
	}
	j, err := ReadJournal(s.root, s.o.StateDir)
	if err != nil || j == nil || !j.Active || j.Backend != string(BackendDirect) {
		t.Fatalf("journal %+v %v", j, err)
	}
	if got := strings.Join(j.Nameservers, ","); got != "192.0.2.1,127.0.0.1,192.0.2.2" {
		t.Fatalf("journal nameservers %s", got)
	}
	if got, _ := SystemResolvers(ctx, s.o, scopedPlan.Resolver); strings.Join(got, ",") != "192.0.2.1:53,192.0.2.2:53" {
		t.Fatalf("SystemResolvers while active = %v", got)
	}
	snap, err := c.Current(ctx)
	if err != nil || !snap.Activated || snap.Backend != "resolv.conf" || len(snap.Notes) == 0 || snap.Nameservers[0] != "127.0.0.1" {
		t.Fatalf("Current = %+v, %v", snap, err)
	}
	// Applying twice changes nothing.
	if changed, err := c.Reassert(ctx); changed || err != nil {
		t.Fatalf("Reassert on an intact file: %v %v", changed, err)
	}
	if err := c.Apply(ctx, scopedPlan); err != nil {
		t.Fatal(err)
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, ResolvConf); got != orig {
		t.Fatalf("restore not byte-identical:\n%q\nwant\n%q", got, orig)
	}
	st, _ = os.Stat(s.root.p(ResolvConf))
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode after Restore %v", st.Mode())
	}
	if os.Geteuid() == 0 {
		if uid, gid, _ := s.root.Owner(ResolvConf); uid != 1234 || gid != 5678 {
			t.Fatalf("owner after Restore %d:%d", uid, gid)
		}
	}
	if j, _ := ReadJournal(s.root, s.o.StateDir); j != nil {
		t.Fatal("journal left after Restore")
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	if len(s.run.changes()) != 0 {
		t.Fatalf("direct backend ran commands: %v", s.run.changes())
	}
}

func TestDirectSymlinkRestored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, nil)
	s.write(t, "/run/NetworkManager/resolv.conf", "# Generated by NetworkManager\nnameserver 10.1.1.1\n", 0o644)
	s.symlink(t, "../run/NetworkManager/resolv.conf", ResolvConf)
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil { // NetworkManager not running: direct
		t.Fatal(err)
	}
	if fi, _ := s.root.Lstat(ResolvConf); !fi.Mode().IsRegular() {
		t.Fatalf("resolv.conf is %v after Apply, want a regular file", fi.Mode())
	}
	if got := s.read(t, ResolvConf); !strings.Contains(got, "nameserver 127.0.0.1\nnameserver 10.1.1.1\n") {
		t.Fatalf("resolv.conf: %s", got)
	}
	// NetworkManager moves to another network and updates its own file.
	s.write(t, "/run/NetworkManager/resolv.conf", "# Generated by NetworkManager\nnameserver 10.3.3.3\n", 0o644)
	if changed, err := c.Reassert(ctx); err != nil || !changed {
		t.Fatalf("Reassert after the target changed = %v, %v", changed, err)
	}
	if got := s.read(t, ResolvConf); !strings.Contains(got, "nameserver 127.0.0.1\nnameserver 10.3.3.3\n") {
		t.Fatalf("fallback not updated: %s", got)
	}
	if got, _ := SystemResolvers(ctx, s.o, fullPlan.Resolver); strings.Join(got, ",") != "10.3.3.3:53" {
		t.Fatalf("SystemResolvers = %v", got)
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := s.root.Readlink(ResolvConf)
	if err != nil || l != "../run/NetworkManager/resolv.conf" {
		t.Fatalf("symlink after Restore: %q %v", l, err)
	}
	if got := s.read(t, "/run/NetworkManager/resolv.conf"); got != "# Generated by NetworkManager\nnameserver 10.3.3.3\n" {
		t.Fatalf("target changed: %q", got)
	}
}

func TestNetworkManagerReassertAdoptsNewOriginal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, map[string]string{"nmcli -t -f RUNNING general": "running\n"})
	s.write(t, ResolvConf, "# Generated by NetworkManager\nnameserver 10.1.1.1\n", 0o644)
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	if j, _ := ReadJournal(s.root, s.o.StateDir); j.Backend != string(BackendNetworkManager) {
		t.Fatalf("backend %s", j.Backend)
	}
	// A new Wi-Fi network, whose connection sets ipv4.dns-options: its
	// looser timeout gives way to dnspin's, its stricter attempts stays.
	newOrig := "# Generated by NetworkManager\nsearch office\nnameserver 10.2.2.2\nnameserver 10.2.2.3\noptions timeout:3 attempts:0 edns0\n"
	s.write(t, ResolvConf, newOrig, 0o600)
	// A second Apply (service restart without a crash) adopts it too.
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	if j, _ := ReadJournal(s.root, s.o.StateDir); string(j.Records[0].Data) != newOrig {
		t.Fatalf("Apply on an active journal did not adopt the new file: %q", j.Records[0].Data)
	}
	s.write(t, ResolvConf, newOrig, 0o600) // and again
	changed, err := c.Reassert(ctx)
	if err != nil || !changed {
		t.Fatalf("Reassert = %v, %v", changed, err)
	}
	if got := s.read(t, ResolvConf); !strings.HasPrefix(got, Marker) ||
		!strings.Contains(got, "nameserver 127.0.0.1\nnameserver 10.2.2.2\n"+othersToo+"10.2.2.3\nsearch office\noptions edns0\n") ||
		!strings.HasSuffix(got, "the original had timeout:3 attempts:0\noptions timeout:1 attempts:0\n") {
		t.Fatalf("after Reassert: %s", got)
	}
	if got, _ := SystemResolvers(ctx, s.o, fullPlan.Resolver); strings.Join(got, ",") != "10.2.2.2:53,10.2.2.3:53" {
		t.Fatalf("SystemResolvers after adoption = %v", got)
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, ResolvConf); got != newOrig {
		t.Fatalf("Restore gave %q, want the new original", got)
	}
	if st, _ := os.Stat(s.root.p(ResolvConf)); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

func TestResolvedDropIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ok := map[string]string{
		"resolvectl --no-pager status":                             "Global\n",
		"resolvectl --no-pager dns":                                "Global: 9.9.9.9#dns.quad9.net\nLink 2 (eth0): 192.0.2.53 fe80::1%eth0\nLink 3 (wlan0):\n",
		"resolvectl --no-pager domain":                             "Global: corp.example\nLink 2 (eth0): lan\n",
		"systemctl try-reload-or-restart systemd-resolved.service": "",
		"resolvectl flush-caches":                                  "",
	}
	s := newRoot(t, ok)
	stub := "# managed by man:systemd-resolved(8)\nnameserver 127.0.0.53\noptions edns0 trust-ad\n"
	s.write(t, "/run/systemd/resolve/stub-resolv.conf", stub, 0o644)
	s.write(t, ResolvedUplink, "nameserver 9.9.9.9\nnameserver 192.0.2.53\n", 0o644)
	s.symlink(t, "../run/systemd/resolve/stub-resolv.conf", ResolvConf)
	c := s.conf(t)
	if err := c.Apply(ctx, scopedPlan); err != nil {
		t.Fatal(err)
	}
	want := Marker + "\n[Resolve]\nDNS=\nDNS=127.0.0.1 9.9.9.9 192.0.2.53 fe80::1\nDomains=\nDomains=~tickets.example ~cdn-tickets.example corp.example\n"
	if got := s.read(t, ResolvedDropIn); got != want {
		t.Fatalf("drop-in:\n%s\nwant:\n%s", got, want)
	}
	if l, _ := s.root.Readlink(ResolvConf); l != "../run/systemd/resolve/stub-resolv.conf" {
		t.Fatalf("resolv.conf symlink touched: %q", l)
	}
	if got, _ := SystemResolvers(ctx, s.o, scopedPlan.Resolver); strings.Join(got, ",") != "9.9.9.9:53,192.0.2.53:53,[fe80::1]:53" {
		t.Fatalf("SystemResolvers = %v, want resolved's global and link servers", got)
	}
	if changed, err := c.Reassert(ctx); changed || err != nil {
		t.Fatalf("Reassert with nothing changed = %v %v", changed, err)
	}
	// The laptop moves to another network: the fallback follows. While
	// active, resolvectl shows dnspin's global list, which must not leak in.
	ok["resolvectl --no-pager dns"] = "Global: 127.0.0.1 9.9.9.9 192.0.2.53\nLink 2 (eth0): 198.51.100.53\n"
	if changed, err := c.Reassert(ctx); !changed || err != nil {
		t.Fatalf("Reassert after a network change = %v %v", changed, err)
	}
	want = Marker + "\n[Resolve]\nDNS=\nDNS=127.0.0.1 9.9.9.9 198.51.100.53\nDomains=\nDomains=~tickets.example ~cdn-tickets.example corp.example\n"
	if got := s.read(t, ResolvedDropIn); got != want {
		t.Fatalf("drop-in after the network change:\n%s\nwant:\n%s", got, want)
	}
	if err := c.Apply(ctx, Plan{Mode: "full", Resolver: []string{"127.0.0.1:5353", "[::1]:53"}}); err != nil {
		t.Fatal(err)
	}
	want = Marker + "\n[Resolve]\nDNS=\nDNS=127.0.0.1:5353 ::1 9.9.9.9 198.51.100.53\nDomains=\nDomains=~. corp.example\n"
	if got := s.read(t, ResolvedDropIn); got != want {
		t.Fatalf("full drop-in:\n%s\nwant:\n%s", got, want)
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.root.Lstat(ResolvedDropIn); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("drop-in left after Restore: %v", err)
	}
	if _, err := s.root.Lstat("/etc/systemd"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("/etc/systemd, created by activation, left after Restore: %v", err)
	}
	reload := "systemctl try-reload-or-restart systemd-resolved.service|resolvectl flush-caches"
	if got, want := strings.Join(s.run.changes(), "|"), reload+"|"+reload+"|"+reload+"|"+reload; got != want {
		t.Fatalf("commands:\n%s\nwant:\n%s", got, want)
	}
}

func TestResolvconfDebianHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, map[string]string{"resolvconf -u": ""})
	s.write(t, "/run/resolvconf/resolv.conf", "# generated by resolvconf(8)\nnameserver 192.0.2.9\noptions timeout:2 attempts:0\n", 0o644)
	s.symlink(t, "/run/resolvconf/resolv.conf", ResolvConf)
	head := "# Dynamic resolv.conf(5) file for glibc resolver(3) generated by resolvconf(8)\n"
	s.write(t, ResolvconfHead, head, 0o644)
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	// Both dnspin addresses: with glibc's three servers, one original follows.
	if got, want := s.read(t, ResolvconfHead), Marker+"\n"+head+"nameserver 127.0.0.1\nnameserver ::1\n"; got != want {
		t.Fatalf("head:\n%s\nwant\n%s", got, want)
	}
	// The tail comes after the interfaces' options: dnspin's line wins,
	// keeping the stricter attempts:0 resolv.conf had.
	if got, want := s.read(t, ResolvconfTail), Marker+"\n"+failFast+"; the original had timeout:2 attempts:0\noptions timeout:1 attempts:0\n"; got != want {
		t.Fatalf("tail:\n%s\nwant\n%s", got, want)
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, ResolvconfHead); got != head {
		t.Fatalf("head after Restore %q", got)
	}
	if _, err := s.root.Lstat(ResolvconfTail); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tail did not exist before; after Restore: %v", err)
	}
	if got := strings.Join(s.run.changes(), "|"); got != "resolvconf -u|resolvconf -u" {
		t.Fatalf("commands %s", got)
	}
}

// openresolv: dnspin's server first in name_servers, the interfaces'
// servers kept after it (resolv_conf_local_only=NO: openresolv would drop
// them when a loopback server is listed) and the fast-failure options
// appended to the user's; the file comes back byte for byte.
func TestOpenresolvConf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, map[string]string{"resolvconf -u": ""})
	s.write(t, ResolvConf, "# Generated by resolvconf\nnameserver 192.0.2.9\noptions edns0\n", 0o644)
	conf := "# Configuration for resolvconf(8)\nresolv_conf=/etc/resolv.conf\nresolv_conf_options=\"edns0\""
	s.write(t, OpenresolvConf, conf, 0o644)
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	want := Marker + "\n" + conf + "\n" +
		"# dnspin: its addresses first (glibc then reads one more), the others after them (fallback when dnspin is not running).\n" +
		"# openresolv drops every other server when a loopback one is listed, unless resolv_conf_local_only=NO.\n" +
		`name_servers="127.0.0.1 ::1${name_servers:+ $name_servers}"` + "\nresolv_conf_local_only=NO\n" +
		"# dnspin: fail fast when dnspin answers SERVFAIL in an outage (1 s per silent server, one try); glibc takes the last value\n" +
		`resolv_conf_options="${resolv_conf_options:+$resolv_conf_options }timeout:1 attempts:1"` + "\n"
	if got := s.read(t, OpenresolvConf); got != want {
		t.Fatalf("resolvconf.conf:\n%s\nwant\n%s", got, want)
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, OpenresolvConf); got != conf {
		t.Fatalf("resolvconf.conf after Restore %q", got)
	}
}

func TestResolvconfServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen []string
		want   string
	}{
		{[]string{"127.0.0.1:53"}, "127.0.0.1"},
		{[]string{"[::1]:53", "127.0.0.2:5353", "127.0.0.1:53", "127.0.0.3:53"}, "127.0.0.1 ::1"},
		{[]string{"[::1]:53"}, "::1"},
	} {
		got, err := resolvconfServers(Plan{Resolver: tc.listen})
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("resolvconfServers(%v) = %v %v, want %s", tc.listen, got, err, tc.want)
		}
	}
	if _, err := resolvconfServers(Plan{Resolver: []string{"127.0.0.1:5353"}}); err == nil || !strings.Contains(err.Error(), "127.0.0.1:53") {
		t.Errorf("no port-53 address: %v, want the fix named", err)
	}
}

// failFS fails writes to one path, like a crash between journal and change.
type failFS struct {
	RootFS
	path string
}

func (f failFS) WriteFileAtomic(n string, b []byte, p fs.FileMode) error {
	if n == f.path {
		return errors.New("simulated crash")
	}
	return f.RootFS.WriteFileAtomic(n, b, p)
}

func TestJournalBeforeChangeAndRecover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, nil)
	orig := "nameserver 192.0.2.1\n"
	s.write(t, ResolvConf, orig, 0o644)
	o := s.o
	o.FS = failFS{s.root, ResolvConf}
	c, err := NewConfigurator(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, fullPlan); err == nil {
		t.Fatal("Apply must report the failed write")
	}
	j, _ := ReadJournal(s.root, s.o.StateDir)
	if j == nil || !j.Active {
		t.Fatal("the journal must exist before the first change")
	}
	if got := s.read(t, ResolvConf); got != orig {
		t.Fatalf("resolv.conf changed: %q", got)
	}
	// Now a real activation, then a "crash": the journal stays behind.
	if err := s.conf(t).Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	was, plan, err := Recover(ctx, s.o)
	if err != nil || !was || plan == nil || plan.Mode != "full" {
		t.Fatalf("Recover = %v %+v %v", was, plan, err)
	}
	if got := s.read(t, ResolvConf); got != orig {
		t.Fatalf("Recover did not restore: %q", got)
	}
	if was, plan, err := Recover(ctx, s.o); was || plan != nil || err != nil {
		t.Fatalf("second Recover = %v %v %v", was, plan, err)
	}
}

func TestInterruptedRestoreIsFinishedNotReapplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, nil)
	orig := "nameserver 192.0.2.1\n"
	s.write(t, ResolvConf, orig, 0o644)
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	j, _ := ReadJournal(s.root, s.o.StateDir)
	j.Active = false // what Restore writes before it starts replaying
	if err := WriteJournal(s.root, s.o.StateDir, j); err != nil {
		t.Fatal(err)
	}
	was, _, err := Recover(ctx, s.o)
	if err != nil || was {
		t.Fatalf("Recover = %v, %v; want restore without re-apply", was, err)
	}
	if got := s.read(t, ResolvConf); got != orig {
		t.Fatalf("not restored: %q", got)
	}
}

func TestApplyRefusesBadPlansAndChangesNothing(t *testing.T) {
	t.Parallel()
	for _, p := range []Plan{
		{Mode: "full", Resolver: []string{"127.0.0.1:5353"}}, // resolv.conf has no port syntax
		{Mode: "scoped", Resolver: []string{"127.0.0.1:53"}}, // no domains
		{Mode: "split", Resolver: []string{"127.0.0.1:53"}},
		{Mode: "full"},
	} {
		s := newRoot(t, nil)
		s.write(t, ResolvConf, "nameserver 192.0.2.1\n", 0o644)
		if err := s.conf(t).Apply(context.Background(), p); err == nil {
			t.Fatalf("Apply(%+v) succeeded", p)
		}
		if j, _ := ReadJournal(s.root, s.o.StateDir); j != nil {
			t.Fatalf("Apply(%+v) left a journal", p)
		}
		if got := s.read(t, ResolvConf); got != "nameserver 192.0.2.1\n" {
			t.Fatalf("Apply(%+v) changed resolv.conf", p)
		}
	}
}

func TestRestoreKeepsFileReplacedByOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, nil)
	s.write(t, ResolvConf, "nameserver 192.0.2.1\n", 0o644)
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	s.write(t, ResolvConf, "nameserver 198.51.100.1\n", 0o644) // an admin's edit
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, ResolvConf); got != "nameserver 198.51.100.1\n" {
		t.Fatalf("Restore clobbered a newer file: %q", got)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	s := newRoot(t, nil)
	s.write(t, ResolvConf, "nameserver 192.0.2.1\n", 0o644)
	out, err := s.conf(t).DryRun(context.Background(), scopedPlan)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"backend: resolv.conf", "mode: scoped", "would write /etc/resolv.conf (now: file, mode 0644, 21 bytes)", "  | nameserver 127.0.0.1", "  | nameserver 192.0.2.1"} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run lacks %q:\n%s", w, out)
		}
	}
	if got := s.read(t, ResolvConf); got != "nameserver 192.0.2.1\n" {
		t.Fatal("dry run changed resolv.conf")
	}
	if j, _ := ReadJournal(s.root, s.o.StateDir); j != nil {
		t.Fatal("dry run wrote a journal")
	}
}

// pauseFS stops the first read of pause until release is closed, after
// telling reached: it holds a Reassert right between reading the journal
// and looking at resolv.conf.
type pauseFS struct {
	RootFS
	pause            string
	once             *sync.Once
	reached, release chan struct{}
}

func (p pauseFS) ReadFile(n string) ([]byte, error) {
	if n == p.pause {
		p.once.Do(func() { close(p.reached); <-p.release })
	}
	return p.RootFS.ReadFile(n)
}

// TestDeactivateRacingWatcher: the service's watcher and `dnspin
// deactivate` run at once; the watcher must never mistake the restored file
// for a rewrite behind dnspin's back and activate again.
func TestDeactivateRacingWatcher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, nil)
	orig := "nameserver 192.0.2.1\n"
	s.write(t, ResolvConf, orig, 0o644)
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	pfs := pauseFS{RootFS: s.root, pause: ResolvConf, once: new(sync.Once), reached: make(chan struct{}), release: make(chan struct{})}
	wo := s.o
	wo.FS = pfs
	watcher, err := NewConfigurator(ctx, wo) // a separate configurator, like the service's
	if err != nil {
		t.Fatal(err)
	}
	watched := make(chan error, 1)
	go func() { _, err := watcher.(Reasserter).Reassert(ctx); watched <- err }()
	<-pfs.reached
	restored := make(chan error, 1)
	go func() { restored <- c.Restore(ctx) }()
	// Let the restore run as far as it can (all the way without the lock),
	// then let the watcher go on. Either order must end deactivated.
	select {
	case err := <-restored:
		restored <- err
	case <-time.After(200 * time.Millisecond):
	}
	close(pfs.release)
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	if err := <-restored; err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, ResolvConf); got != orig {
		t.Fatalf("resolv.conf %q after deactivate raced the watcher", got)
	}
	if j, _ := ReadJournal(s.root, s.o.StateDir); j != nil {
		t.Fatal("the watcher activated again after deactivate")
	}
}

const (
	failFast  = "# dnspin: fail fast when dnspin answers SERVFAIL in an outage (1 s per silent server, one try)"
	othersToo = "# other original servers, not listed (each would cost 1 s per name when dark): "
)

func TestDirectResolvConfShapes(t *testing.T) {
	t.Parallel()
	full := Plan{Mode: "full", Resolver: []string{"127.0.0.1:53"}}
	for _, tc := range []struct {
		name, orig string
		p          Plan
		want       string
	}{
		{"IPv6 only listen", "nameserver 192.0.2.1\n", Plan{Mode: "full", Resolver: []string{"[::1]:53"}},
			"nameserver ::1\nnameserver 192.0.2.1\n" + failFast + "\noptions timeout:1 attempts:1\n"},
		{"IPv4 preferred, one dnspin line, one original", "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n", Plan{Mode: "full", Resolver: []string{"[::1]:53", "127.0.0.1:53"}},
			"nameserver 127.0.0.1\nnameserver 192.0.2.1\n" + othersToo + "192.0.2.2 192.0.2.3\n" + failFast + "\noptions timeout:1 attempts:1\n"},
		{"only rotate option dropped", "options rotate\nnameserver 192.0.2.1\nsortlist 130.155.160.0/255.255.240.0\n", full,
			"nameserver 127.0.0.1\nnameserver 192.0.2.1\nsortlist 130.155.160.0/255.255.240.0\n" + failFast + "\noptions timeout:1 attempts:1\n"},
		{"empty original", "", full,
			"nameserver 127.0.0.1\n" + failFast + "\noptions timeout:1 attempts:1\n"},
		{"dnspin itself and duplicates skipped, zone kept", "nameserver 127.0.0.1\nnameserver fe80::1%eth0\nnameserver fe80::1\nnameserver 192.0.2.2\nnameserver 192.0.2.2\n", full,
			"nameserver 127.0.0.1\nnameserver fe80::1%eth0\n" + othersToo + "192.0.2.2\n" + failFast + "\noptions timeout:1 attempts:1\n"},
		// Looser values are replaced, the other options kept where they were.
		{"looser timeout and attempts replaced", "nameserver 192.0.2.1\noptions edns0 timeout:30 attempts:3 ndots:2\noptions trust-ad\n", full,
			"nameserver 127.0.0.1\nnameserver 192.0.2.1\noptions edns0 ndots:2\noptions trust-ad\n" +
				failFast + "; the original had timeout:30 attempts:3\noptions timeout:1 attempts:1\n"},
		// Stricter values stay; glibc takes the last of repeated options.
		{"stricter original kept, last one wins", "nameserver 192.0.2.1\noptions timeout:3 attempts:4\noptions timeout:0 rotate\n", full,
			"nameserver 127.0.0.1\nnameserver 192.0.2.1\n" +
				failFast + "; the original had timeout:3 attempts:4 timeout:0\noptions timeout:0 attempts:1\n"},
		// What glibc would not read as a number is not dnspin's to judge:
		// it stays in its line; dnspin's later line wins anyway.
		{"odd values left alone", "nameserver 192.0.2.1\noptions timeout:x attempts:-1\n", full,
			"nameserver 127.0.0.1\nnameserver 192.0.2.1\noptions timeout:x attempts:-1\n" + failFast + "\noptions timeout:1 attempts:1\n"},
	} {
		got, err := directResolvConf(tc.p, []byte(tc.orig))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body := strings.SplitN(string(got), "\n", 3)[2] // after the marker and the comment
		if body != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, body, tc.want)
		}
	}
}

func TestAbsentResolvConfRemovedOnRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newRoot(t, nil)
	if err := os.MkdirAll(s.root.p("/etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := s.conf(t)
	if err := c.Apply(ctx, fullPlan); err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, ResolvConf); !strings.Contains(got, "nameserver 127.0.0.1\n") {
		t.Fatalf("resolv.conf %q", got)
	}
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.root.Lstat(ResolvConf); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("resolv.conf did not exist before; after Restore: %v", err)
	}
}

// The journal is stamped by the injected clock (Options.Now), like the
// Windows and macOS ones.
func TestJournalStampedByInjectedClock(t *testing.T) {
	t.Parallel()
	s := newRoot(t, nil)
	s.write(t, ResolvConf, "nameserver 192.0.2.1\n", 0o644)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s.o.Now = func() time.Time { return at }
	if err := s.conf(t).Apply(context.Background(), fullPlan); err != nil {
		t.Fatal(err)
	}
	j, err := ReadJournal(s.root, s.o.StateDir)
	if err != nil || j == nil || !j.Created.Equal(at) {
		t.Fatalf("journal %+v %v: want Created %s", j, err, at)
	}
}

// TestResolvedDropInDirs: the directories activation creates for the
// drop-in are removed on restore, unless they existed before or someone
// else put a file in them meanwhile.
func TestResolvedDropInDirs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ok := map[string]string{
		"resolvectl --no-pager status":                             "Global\n",
		"resolvectl --no-pager dns":                                "Link 2 (eth0): 192.0.2.53\n",
		"systemctl try-reload-or-restart systemd-resolved.service": "",
		"resolvectl flush-caches":                                  "",
	}
	for _, tc := range []struct {
		name     string
		existing string // a directory there before activation
		other    string // a file someone else adds while active
		want     []string
		gone     []string
	}{
		{name: "created", existing: "/etc", want: []string{"/etc"}, gone: []string{"/etc/systemd", "/etc/systemd/resolved.conf.d"}},
		{name: "existed", existing: "/etc/systemd/resolved.conf.d", want: []string{"/etc/systemd/resolved.conf.d"}},
		{name: "someone else's file", existing: "/etc/systemd", other: "/etc/systemd/resolved.conf.d/vpn.conf",
			want: []string{"/etc/systemd/resolved.conf.d/vpn.conf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRoot(t, ok)
			s.write(t, "/run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n", 0o644)
			s.symlink(t, "../run/systemd/resolve/stub-resolv.conf", ResolvConf)
			if err := os.MkdirAll(s.root.p(tc.existing), 0o755); err != nil {
				t.Fatal(err)
			}
			c := s.conf(t)
			if err := c.Apply(ctx, scopedPlan); err != nil {
				t.Fatal(err)
			}
			if tc.other != "" {
				s.write(t, tc.other, "[Resolve]\n", 0o644)
			}
			if err := c.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			for _, p := range append(tc.want, ResolvConf) {
				if _, err := s.root.Lstat(p); err != nil {
					t.Errorf("%s gone after Restore: %v", p, err)
				}
			}
			for _, p := range append(tc.gone, ResolvedDropIn) {
				if _, err := s.root.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s left after Restore: %v", p, err)
				}
			}
		})
	}
}

// TestResolvedDropInLoopbackFallback: a loopback server resolved used
// before (DNS=127.0.0.2 in resolved.conf, a local dnsmasq) stays listed
// after dnspin, so a dead dnspin falls back to it; resolved's own stubs and
// dnspin's address are never listed as fallback.
func TestResolvedDropInLoopbackFallback(t *testing.T) {
	got := string(resolvedDropIn(Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
		[]string{"127.0.0.53", "127.0.0.1", "127.0.0.2", "127.0.0.54", "192.0.2.53"}, nil))
	want := Marker + "\n[Resolve]\nDNS=\nDNS=127.0.0.1 127.0.0.2 192.0.2.53\nDomains=\nDomains=~tickets.example\n"
	if got != want {
		t.Fatalf("drop-in:\n%s\nwant:\n%s", got, want)
	}
}
