package bundle

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/resolver"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// ask sends one real UDP query to the resolver and returns "rcode addr,addr".
func ask(t *testing.T, server, name string) string {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, server)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	var addrs []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	return dns.RcodeToString[r.Rcode] + " " + strings.Join(addrs, ",")
}

// askLive is ask for a healthy upstream: a SERVFAIL only means the loaded
// machine let the live answer miss client_timeout (the exchange goes on and
// fills the cache and the learned answers), so it asks again, for up to 20 s.
// Any other answer is final.
func askLive(t *testing.T, server, name string) string {
	t.Helper()
	stop := time.Now().Add(20 * time.Second)
	for {
		got := ask(t, server, name)
		if got != "SERVFAIL " || time.Now().After(stop) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The whole path for real: a resolver whose upstream goes dark, a bundle
// on an HTTPS mirror whose host name resolves through the resolver's own
// learned answer, the fetcher applying it with SetBundlePins, and the bundle
// pins answering protected names on the wire during the outage - with the
// config pin winning and a foreign name not pinned.
func TestEndToEndBundleAnswersDuringOutage(t *testing.T) {
	h := newHarness(t)
	// The platform's DNS: example.com is where the test mirror listens.
	up := resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{
		Answers: map[string]string{"example.com": "127.0.0.1"},
		Default: "198.51.100.7",
		TTL:     300,
	})
	rclock := &clock{t: time.Now()}
	r, srv := resolvertest.Start(t, resolver.Config{
		Listen:    []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Upstreams: []string{up.Addr},
		Domains:   []string{"tickets.example", "example.com"}, // the mirror's name is protected: learned and kept
		Pins:      []resolver.Pin{pin("www.tickets.example", "192.0.2.1")},
		Mode:      resolver.ModeAuto,

		AnswerBudget:  100 * time.Millisecond,
		ClientTimeout: 300 * time.Millisecond,
		StaleTTL:      30 * time.Second,
		MaxStale:      72 * time.Hour,
		ProbeInterval: time.Hour, // the state machine is not under test here
		RecoverAfter:  2,
		StateDir:      filepath.Join(h.dir, "resolver"),
	}, resolver.Options{Now: rclock.Now})

	// Upstream healthy: live answers; the mirror's name is learned.
	if got := askLive(t, srv, "example.com"); got != "NOERROR 127.0.0.1" {
		t.Fatalf("example.com while healthy: %s", got)
	}
	if got := askLive(t, srv, "shop.tickets.example"); got != "NOERROR 198.51.100.7" {
		t.Fatalf("shop while healthy: %s", got)
	}

	up.SetMode(resolvertest.Drop)    // the platform's DNS goes dark
	rclock.Advance(10 * time.Minute) // and the cached answers (TTL 300) run out
	if got := ask(t, srv, "box.tickets.example"); got != "SERVFAIL " {
		t.Fatalf("box before the bundle: %s (want SERVFAIL: no pin, nothing learned)", got)
	}

	good := payload(20,
		pin("shop.tickets.example", "192.0.2.10"),
		pin("box.tickets.example", "192.0.2.12"),
		pin("www.tickets.example", "192.0.2.99"), // the config pin wins
		pin("www.bank.example", "192.0.2.66"),    // not the platform's: dropped
	)
	good.Issued, good.Expires = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	m := newMirror(t, mustSign(t, h.priv, good))
	port := m.srv.Listener.Addr().(*net.TCPAddr).Port

	var mu sync.Mutex
	var sources []resolver.Source
	o := h.opts(nil, fmt.Sprintf("https://example.com:%d/pins.json", port)) // httptest's certificate names example.com
	o.Now = time.Now
	o.Timeout = 5 * time.Second
	o.Apply = func(p []resolver.Pin) { h.applied.apply(p); r.SetBundlePins(p) }
	o.LookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
		a, src, err := r.Lookup(ctx, host, dns.TypeA)
		mu.Lock()
		sources = append(sources, src)
		mu.Unlock()
		return a, err
	}
	f := h.fetcher(t, o)
	pool := x509.NewCertPool()
	pool.AddCert(m.srv.Certificate())
	f.client.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatalf("fetch during the outage: %v", err)
	}
	mu.Lock()
	if len(sources) != 1 || sources[0] != resolver.SourceLearned {
		t.Errorf("mirror name resolved from %v, want the learned answer", sources)
	}
	mu.Unlock()

	for name, want := range map[string]string{
		"shop.tickets.example": "NOERROR 192.0.2.10", // bundle pin beats the learned 198.51.100.7
		"box.tickets.example":  "NOERROR 192.0.2.12",
		"www.tickets.example":  "NOERROR 192.0.2.1", // config pin wins over the bundle
		"www.bank.example":     "SERVFAIL ",         // a bundle cannot pin somebody else's bank
	} {
		if got := ask(t, srv, name); got != want {
			t.Errorf("%s during the outage: %s, want %s", name, got, want)
		}
	}
	if st := f.Status(); st.Serial != 20 || st.Pins != 3 || len(st.Dropped) != 1 {
		t.Errorf("fetcher status %+v", st)
	}

	// The outage goes on, the daemon restarts with no mirror reachable:
	// the stored bundle answers again.
	m.srv.Close()
	r.SetBundlePins(nil)
	if got := ask(t, srv, "box.tickets.example"); got != "SERVFAIL " {
		t.Fatalf("box with bundle pins withdrawn: %s", got)
	}
	o2 := o
	o2.HTTPClient = trust(m)
	h.fetcher(t, o2)
	if got := ask(t, srv, "box.tickets.example"); got != "NOERROR 192.0.2.12" {
		t.Errorf("box after a restart without network: %s", got)
	}
}
