package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver"
)

// The replay of the incident dnspin is built for: the platform's
// authoritative DNS servers go silent while the recursive resolver (a real
// unbound) keeps working for everything else. Addresses, all on the
// namespace's private loopback:
const (
	replayPlatformAuth = "127.0.0.10"  // authoritative for tickets.example
	replayOtherAuth    = "127.0.0.11"  // authoritative for other.example and the noise zones
	replayUnbound      = "127.0.0.3"   // the recursive resolver dnspin forwards to
	replayRoot         = "127.0.0.254" // a root server: every working resolver knows ". NS"
)

// replayAuth is a small authoritative server for the zones it is given.
// Under "servfail." it answers SERVFAIL, under "refusing." REFUSED, under
// "silent." nothing: the noise of an ordinary day (broken delegations,
// DNSSEC failures, servers that refuse or are gone).
type replayAuth struct {
	addr    string
	zones   []string          // lower-case FQDNs
	records map[string]string // lower-case FQDN -> IPv4; "*.zone." answers any name below zone
	dark    atomic.Bool       // silent for every zone: the attack
	mu      sync.Mutex
	seen    map[string]int
}

func startReplayAuth(t *testing.T, addr string, zones []string, records map[string]string) *replayAuth {
	t.Helper()
	a := &replayAuth{addr: addr, zones: zones, records: records, seen: map[string]int{}}
	for _, z := range zones {
		if z == "." {
			a.records["a.root-servers.invalid."] = addr
		} else {
			a.records["ns1."+z] = addr
		}
	}
	for _, netw := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: addr + ":53", Net: netw, Handler: a}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		select {
		case <-started:
		case err := <-errc:
			t.Fatalf("authoritative server %s/%s: %v", addr, netw, err)
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return a
}

func (a *replayAuth) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	a.mu.Lock()
	a.seen[name]++
	a.mu.Unlock()
	if a.dark.Load() || strings.HasPrefix(name, "silent.") || strings.Contains(name, ".silent.") {
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	zone := ""
	for _, z := range a.zones {
		if dns.IsSubDomain(z, name) {
			zone = z
		}
	}
	switch {
	case zone == "":
		m.Rcode = dns.RcodeRefused
		m.Authoritative = false
	case strings.HasPrefix(zone, "servfail."):
		m.Rcode = dns.RcodeServerFailure
	case strings.HasPrefix(zone, "refusing."):
		m.Rcode = dns.RcodeRefused
	default:
		hdr := func(t uint16) dns.RR_Header {
			return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 1} // TTL 1: caches empty fast
		}
		ns := "ns1." + zone
		if zone == "." {
			ns = "a.root-servers.invalid."
		}
		soa := &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
			Ns: ns, Mbox: "hostmaster.invalid.", Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: 1}
		ip, ok := a.records[name]
		if !ok && name != zone {
			ip, ok = a.records["*."+zone]
		}
		switch {
		case name == zone && q.Qtype == dns.TypeNS:
			m.Answer = []dns.RR{&dns.NS{Hdr: hdr(dns.TypeNS), Ns: ns}}
			if ip, ok := a.records[ns]; ok {
				m.Extra = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: ns, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP(ip)}}
			}
		case name == zone && q.Qtype == dns.TypeSOA:
			m.Answer = []dns.RR{soa}
		case !ok && name != zone:
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		case ok && q.Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(ip)}}
		default:
			m.Ns = []dns.RR{soa} // NODATA
		}
	}
	_ = w.WriteMsg(m)
}

func (a *replayAuth) count(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[strings.ToLower(dns.Fqdn(name))]
}

// replayUnboundConf is the recursive resolver: stub zones to the authoritative
// servers, root hints naming a root server on loopback (no traffic leaves
// the namespace; names in no zone here get its NXDOMAIN), and
// the cache settings that decide what dnspin sees, set explicitly:
//   - serve-expired: no — with it, unbound would answer platform names
//     from its expired cache during the outage and hide it;
//   - aggressive-nsec: no — with a signed zone, NSEC ranges could make
//     NXDOMAIN for a probe's random name without asking the platform;
//   - cache-max-negative-ttl / cache-max-ttl: small, so no cached answer
//     outlives the short TTLs here;
//   - infra-host-ttl and infra-keep-probing — after timeouts unbound marks
//     a server down in its infrastructure cache and (default) asks it again
//     only after infra-host-ttl (900 s): that, not dnspin, would decide
//     when the platform's names resolve again.
func replayUnboundConf(dir string) string {
	return fmt.Sprintf(`server:
	interface: %[2]s
	port: 53
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	do-ip6: no
	num-threads: 1
	username: ""
	chroot: ""
	directory: "%[1]s"
	pidfile: "%[1]s/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	root-hints: "%[1]s/root.hints"
	module-config: "iterator"
	qname-minimisation: no
	prefetch: no
	serve-expired: no
	aggressive-nsec: no
	cache-max-ttl: 60
	cache-max-negative-ttl: 1
	infra-host-ttl: 2
	infra-keep-probing: yes
	local-zone: "refused.example." refuse
remote-control:
	control-enable: no
stub-zone:
	name: "tickets.example."
	stub-addr: %[3]s
stub-zone:
	name: "other.example."
	stub-addr: %[4]s
stub-zone:
	name: "servfail.example."
	stub-addr: %[4]s
stub-zone:
	name: "refusing.example."
	stub-addr: %[4]s
stub-zone:
	name: "silent.example."
	stub-addr: %[4]s
`, dir, replayUnbound, replayPlatformAuth, replayOtherAuth)
}

// startReplayUnbound runs a real unbound in the foreground with a generated
// config (its own process, killed at cleanup) and waits until it answers.
func startReplayUnbound(t *testing.T, bin, dir string) *os.Process {
	t.Helper()
	hints := fmt.Sprintf(".\t3600000\tIN\tNS\ta.root-servers.invalid.\na.root-servers.invalid.\t3600000\tIN\tA\t%s\n", replayRoot)
	if err := os.WriteFile(filepath.Join(dir, "root.hints"), []byte(hints), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(replayUnboundConf(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(filepath.Dir(bin), "unbound-checkconf"), conf).CombinedOutput(); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("unbound's log:\n%s", log.String())
		}
	})
	for i := 0; ; i++ {
		if m, err := replayQuery(replayUnbound+":53", "ready.other.example", false); err == nil && m.Rcode == dns.RcodeSuccess {
			return cmd.Process
		}
		select {
		case <-exited:
			t.Fatalf("unbound exited: %s", log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if i > 300 {
			t.Fatalf("unbound did not answer within 30 s: %s", log.String())
		}
	}
}

// query asks addr for name A (EDNS0, so dnspin's answers carry their source).
func replayQuery(addr, name string, tcp bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 10 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// replayAnswer is "ADDR source" or "RCODE source" for messages.
func replayAnswer(m *dns.Msg) string {
	src := string(resolver.SourceFromEDE(m))
	if src == "" {
		src = "live"
	}
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String() + " " + src
		}
	}
	return dns.RcodeToString[m.Rcode] + " " + src
}

// replayLog records the resolver's state changes with the wall-clock time
// they were seen, for the figures the test logs.
type replayLog struct{ nstest.SyncBuffer }

func (s *replayLog) changes() []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.Contains(l, "platform DNS state changed") {
			out = append(out, l)
		}
	}
	return out
}

// replayWaitState waits for the resolver's state (on Changed, not polling);
// bound is a safety net against a hang, not a timing assertion.
func replayWaitState(t *testing.T, r *resolver.Resolver, want resolver.State, bound time.Duration, while func()) {
	t.Helper()
	stop := time.After(bound)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := r.Changed()
		if s := r.Status(); s.State == want {
			return
		}
		if while != nil {
			while()
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-stop:
			s := r.Status()
			t.Fatalf("state %s not reached; still %s (%s)", want, s.State, s.StateReason)
		}
	}
}

// replay is the replay's world, started inside the test's namespace.
type replay struct {
	platform *replayAuth
	unbound  *os.Process
	r        *resolver.Resolver
	logs     *replayLog
}

// replayUnboundBin finds unbound, or skips (fails in CI) without it.
func replayUnboundBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		bin = "/usr/sbin/unbound"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("DNSPIN_NSTEST_REQUIRE") != "" {
				t.Fatalf("unbound not installed (Debian package unbound; .ci/run installs it)")
			}
			t.Skip("unbound not installed (Debian package unbound)")
		}
	}
	return bin
}

// startReplay starts the authoritative servers, unbound and dnspin (the
// real resolver package with every [outage] key at its default,
// forwarding to unbound) and waits for live answers.
func startReplay(t *testing.T, env *nstest.Env, bin string) *replay {
	t.Helper()
	w := &replay{logs: &replayLog{}}
	w.platform = startReplayAuth(t, replayPlatformAuth, []string{"tickets.example."}, map[string]string{
		"tickets.example.":      "198.51.100.1",
		"shop.tickets.example.": "198.51.100.10",
		"www.tickets.example.":  "198.51.100.11",
		"api.tickets.example.":  "198.51.100.12",
	})
	startReplayAuth(t, replayRoot, []string{"."}, map[string]string{})
	startReplayAuth(t, replayOtherAuth, []string{"other.example.", "servfail.example.", "refusing.example.", "silent.example."},
		map[string]string{"*.other.example.": "198.51.100.99"})
	dir := filepath.Join(env.Dir, "unbound")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.unbound = startReplayUnbound(t, bin, dir)

	r, err := resolver.New(resolver.Config{
		Listen:    []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")},
		Upstreams: []string{replayUnbound + ":53"},
		Domains:   []string{"tickets.example"},
		Pins:      []resolver.Pin{{Name: "shop.tickets.example", A: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}},
		StateDir:  filepath.Join(env.Dir, "state"),
		// every [outage] key at its default
	}, resolver.Options{Logger: slog.New(slog.NewTextHandler(w.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.r = r
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
		t.Logf("dnspin's log:\n%s", w.logs.String())
	})
	// Healthy: live answers; www is learned.
	w.liveEventually(t, "shop.tickets.example", "198.51.100.10")
	w.liveEventually(t, "www.tickets.example", "198.51.100.11")
	w.liveEventually(t, "a.other.example", "198.51.100.99")
	replayWaitState(t, r, resolver.StateNormal, 60*time.Second, nil)
	return w
}

const replayDNSPin = "127.0.0.1:53"

// ask is dnspin's answer to name A as "ADDR source" or "RCODE source".
func (w *replay) ask(t *testing.T, name string) string {
	t.Helper()
	m, err := replayQuery(replayDNSPin, name, false)
	if err != nil {
		t.Fatalf("%s: dnspin did not answer: %v", name, err)
	}
	return replayAnswer(m)
}

// liveEventually: healthy, the live answer (a loaded machine may miss
// answer_budget once and get the backup; then ask again).
func (w *replay) liveEventually(t *testing.T, name, want string) {
	t.Helper()
	for i := 0; ; i++ {
		got := w.ask(t, name)
		if got == want+" live" || got == want+" cache" {
			return
		}
		if i > 100 || (!strings.HasSuffix(got, " pinned") && !strings.HasSuffix(got, " learned")) {
			t.Fatalf("%s while healthy: %s, want %s live", name, got, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestReplayPlatformAuthoritativeOutage replays the incident with real
// parts: authoritative servers, a real unbound in front of them, dnspin
// (the real resolver package, default outage settings) forwarding to
// unbound. Only the platform's authoritative servers go silent.
func TestReplayPlatformAuthoritativeOutage(t *testing.T) {
	bin := replayUnboundBin(t)
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		w := startReplay(t, env, bin)
		r, platform, logs := w.r, w.platform, w.logs
		const dnspin = replayDNSPin
		ask := func(name string) string { t.Helper(); return w.ask(t, name) }
		liveEventually := func(name, want string) { t.Helper(); w.liveEventually(t, name, want) }

		// Noise: SERVFAIL (from the zone, and unbound's for a zone that
		// refuses), REFUSED (unbound's own), silence, NXDOMAIN — never an
		// outage; the upstream counts as answering throughout.
		changed := r.Changed()
		noise := []string{"x.servfail.example", "x.refusing.example", "x.refused.example", "x.silent.example", "nx.nope.example"}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("n%d.%s", i, noise[i%len(noise)])
				if m, err := replayQuery(dnspin, name, false); err != nil || m.Rcode == dns.RcodeSuccess {
					t.Errorf("noise %s: %v %v; want an error answer, not silence", name, m, err)
				}
			}()
		}
		wg.Wait()
		if got := ask("b.other.example"); got != "198.51.100.99 live" {
			t.Fatalf("other name after the noise: %s, want live", got)
		}
		select {
		case <-changed:
			t.Fatalf("noise moved the state: %s (%s)", r.Status().State, r.Status().StateReason)
		default:
		}
		if s := r.Status(); s.State != resolver.StateNormal || !s.Upstreams[0].Healthy {
			t.Fatalf("after noise: state %s, upstream %+v; want normal, answering", s.State, s.Upstreams)
		}
		t.Logf("noise: 40 queries (SERVFAIL, REFUSED, silence, NXDOMAIN): state normal, upstream answering")

		// The attack: the platform's authoritative servers go silent. (No
		// state change so far; the noise's lookups still going on are not
		// the platform's and cannot make one.)
		if n := len(logs.changes()); n != 0 {
			t.Fatalf("%d state changes before the platform went dark: %v", n, logs.changes())
		}
		platform.dark.Store(true)
		dark := time.Now()
		// The first answers: the cached live one until its TTL (1 s) runs
		// out, then the backup after answer_budget. Never an error.
		for _, n := range []struct{ name, live, backup string }{
			{"shop.tickets.example", "198.51.100.10", "192.0.2.10 pinned"},
			{"www.tickets.example", "198.51.100.11", "198.51.100.11 learned"},
		} {
			for i := 0; ; i++ {
				got := ask(n.name)
				if got == n.backup {
					break
				}
				if got != n.live+" cache" && got != n.live+" live" || i > 100 {
					t.Fatalf("%s as the platform goes dark: %s, want %s", n.name, got, n.backup)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		firstBackup := time.Since(dark)
		// Declared: keep asking as box offices do until the state says outage.
		replayWaitState(t, r, resolver.StateOutage, 120*time.Second, func() {
			for _, n := range []string{"shop.tickets.example", "www.tickets.example"} {
				if got := ask(n); !strings.HasSuffix(got, " pinned") && !strings.HasSuffix(got, " learned") {
					t.Errorf("%s while the platform is dark: %s, want its backup", n, got)
				}
			}
		})
		declared := time.Since(dark)
		// Once declared: backups directly, the platform not asked.
		before := platform.count("shop.tickets.example") + platform.count("www.tickets.example")
		for range 5 {
			if got := ask("shop.tickets.example"); got != "192.0.2.10 pinned" {
				t.Fatalf("shop in the outage: %s, want the pin", got)
			}
			if got := ask("www.tickets.example"); got != "198.51.100.11 learned" {
				t.Fatalf("www in the outage: %s, want the learned answer", got)
			}
		}
		if s := r.Status(); s.State != resolver.StateOutage {
			t.Fatalf("state %s after the backups, want outage", s.State)
		}
		// Other names keep resolving live, new ones too; the upstream
		// answers, so it is not marked down.
		for i := range 5 {
			name := fmt.Sprintf("live%d.other.example", i)
			if got := ask(name); got != "198.51.100.99 live" {
				t.Fatalf("%s during the platform's outage: %s, want live", name, got)
			}
		}
		if s := r.Status(); !s.Upstreams[0].Healthy {
			t.Fatalf("unbound marked down while it answers: %+v", s.Upstreams)
		}
		// A platform name without any backup cannot be answered: SERVFAIL
		// (never silence), listed for the tray.
		if got := ask("api.tickets.example"); !strings.HasPrefix(got, "SERVFAIL") {
			t.Fatalf("platform name without backup in the outage: %s, want SERVFAIL", got)
		}
		// dnspin asked nothing for the backed-up names (unbound's own
		// retries of lookups from before the outage was declared may still
		// trickle in: allow some).
		if after := platform.count("shop.tickets.example") + platform.count("www.tickets.example"); after-before > 20 {
			t.Errorf("the platform's servers got %d queries for backed-up names during the declared outage", after-before)
		}

		// The platform's DNS is back: probes see it, live answers return.
		platform.dark.Store(false)
		back := time.Now()
		var recovering time.Duration
		var firstLive time.Duration
		replayWaitState(t, r, resolver.StateNormal, 120*time.Second, func() {
			if recovering == 0 && r.Status().State == resolver.StateRecovering {
				recovering = time.Since(back)
			}
			// Box offices keep asking: live again, or still the backup;
			// never an error. (unbound keeps a name's SERVFAIL for 5 s.)
			got := ask("shop.tickets.example")
			switch {
			case got == "198.51.100.10 live" || got == "198.51.100.10 cache":
				if firstLive == 0 {
					firstLive = time.Since(back)
				}
			case got != "192.0.2.10 pinned":
				t.Errorf("shop as the platform comes back: %s", got)
			}
		})
		normal := time.Since(back)
		liveEventually("shop.tickets.example", "198.51.100.10")
		liveEventually("www.tickets.example", "198.51.100.11")
		ch := r.Changed()
		changes := logs.changes()
		t.Logf("figures: first backup answer %v after the platform went dark; outage declared after %v; "+
			"after the platform answered again: recovering seen after %v, first live answer for shop after %v, state normal after %v; %d state changes in all",
			firstBackup.Round(time.Millisecond), declared.Round(time.Millisecond), recovering.Round(time.Millisecond),
			firstLive.Round(time.Millisecond), normal.Round(time.Millisecond), len(changes))
		for _, c := range changes {
			t.Log(c)
		}
		// One line per real change: normal→degraded→outage→recovering→normal
		// (a slow first probe may add degraded on the way back).
		if len(changes) < 3 || len(changes) > 6 {
			t.Errorf("%d state changes, want 3 to 6 (no flapping)", len(changes))
		}
		select {
		case <-ch:
			t.Errorf("state changed again after recovery: %s", r.Status().State)
		default:
		}
	})
}

// TestReplayRecursiveDown is the other real case: the recursive resolver
// itself goes silent (unbound stopped with SIGSTOP: its socket still takes
// queries, nothing answers). Platform names get their backups; names
// without a backup get SERVFAIL at once once dnspin knows the upstream is
// down (a stale answer if it has one), not after client_timeout; when
// unbound answers again, everything is live again.
func TestReplayRecursiveDown(t *testing.T) {
	bin := replayUnboundBin(t)
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		w := startReplay(t, env, bin)
		r := w.r
		if err := w.unbound.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		for _, n := range []struct{ name, live, backup string }{
			{"shop.tickets.example", "198.51.100.10", "192.0.2.10 pinned"},
			{"www.tickets.example", "198.51.100.11", "198.51.100.11 learned"},
		} {
			for i := 0; ; i++ {
				got := w.ask(t, n.name)
				if got == n.backup {
					break
				}
				if got != n.live+" cache" && got != n.live+" live" || i > 100 {
					t.Fatalf("%s as unbound stops: %s, want %s", n.name, got, n.backup)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		// The first unprotected lookup waits client_timeout; then the
		// liveness check goes unanswered too: down.
		if got := w.ask(t, "first.other.example"); !strings.HasPrefix(got, "SERVFAIL") {
			t.Fatalf("unprotected name, unbound silent: %s, want SERVFAIL", got)
		}
		for i := 0; r.Status().Upstreams[0].Healthy; i++ {
			if i > 300 {
				t.Fatal("unbound never marked down while stopped")
			}
			time.Sleep(100 * time.Millisecond)
		}
		down := time.Since(stopped)
		m, err := replayQuery(replayDNSPin, "never-seen.other.example", false)
		if err != nil || m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("never-seen name with the upstream down: %v %v, want SERVFAIL", m, err)
		}
		if ede := replayEDE(m); !strings.Contains(ede, "no upstream server answers") {
			t.Fatalf("SERVFAIL reason %q: want the at-once answer (no upstream server answers), not the wait for client_timeout", ede)
		}
		if got := w.ask(t, "a.other.example"); got != "198.51.100.99 stale" {
			t.Fatalf("name seen before, upstream down: %s, want its stale answer", got)
		}
		replayWaitState(t, r, resolver.StateOutage, 120*time.Second, func() {
			if got := w.ask(t, "shop.tickets.example"); got != "192.0.2.10 pinned" {
				t.Errorf("shop with unbound stopped: %s, want the pin", got)
			}
		})
		declared := time.Since(stopped)

		if err := w.unbound.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		replayWaitState(t, r, resolver.StateNormal, 120*time.Second, func() {
			if got := w.ask(t, "shop.tickets.example"); got != "192.0.2.10 pinned" && got != "198.51.100.10 live" && got != "198.51.100.10 cache" {
				t.Errorf("shop as unbound comes back: %s", got)
			}
		})
		normal := time.Since(back)
		for i := 0; !r.Status().Upstreams[0].Healthy; i++ {
			if i > 300 {
				t.Fatal("unbound still marked down after it answered")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := w.ask(t, "after.other.example"); got != "198.51.100.99 live" {
			t.Fatalf("unprotected name after unbound is back: %s, want live", got)
		}
		w.liveEventually(t, "shop.tickets.example", "198.51.100.10")
		t.Logf("figures: upstream known down %v after unbound stopped (SERVFAIL at once from then); outage declared after %v; normal %v after unbound continued; %d state changes",
			down.Round(time.Millisecond), declared.Round(time.Millisecond), normal.Round(time.Millisecond), len(w.logs.changes()))
		for _, c := range w.logs.changes() {
			t.Log(c)
		}
		if n := len(w.logs.changes()); n < 3 || n > 6 {
			t.Errorf("%d state changes, want 3 to 6 (no flapping)", n)
		}
	})
}

// replayEDE is the text of an answer's Extended DNS Error.
func replayEDE(m *dns.Msg) string {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e.ExtraText
			}
		}
	}
	return ""
}
