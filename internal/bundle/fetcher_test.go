package bundle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnspin/dnspin/resolver"
)

// mirror is a real HTTPS server serving one bundle with an ETag.
type mirror struct {
	srv *httptest.Server

	mu          sync.Mutex
	body        []byte
	mode        string // "", "slow" (never answers), "stream" (no Content-Length), "404"
	hits        int
	notModified int
	release     chan struct{}
}

func newMirror(t *testing.T, body []byte) *mirror {
	t.Helper()
	m := &mirror{body: body, release: make(chan struct{})}
	m.srv = httptest.NewTLSServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	t.Cleanup(func() { close(m.release) }) // runs first: frees slow handlers
	return m
}

func (m *mirror) url() string { return m.srv.URL + "/pins.json" }

func (m *mirror) set(body []byte, mode string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.body, m.mode = body, mode
}

func (m *mirror) counts() (hits, notModified int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits, m.notModified
}

func (m *mirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.hits++
	body, mode := m.body, m.mode
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body))
	if mode == "" && r.Header.Get("If-None-Match") == etag {
		m.notModified++
		m.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	m.mu.Unlock()
	switch mode {
	case "slow":
		select {
		case <-r.Context().Done():
		case <-m.release:
		}
		// Never answer, not even when the client gives up: a handler that
		// returns sends an empty 200, which a client whose deadline fires
		// at the same moment may read and report as a malformed bundle
		// instead of "no answer" (seen under -race on a loaded machine).
		panic(http.ErrAbortHandler)
	case "404":
		http.NotFound(w, r)
		return
	case "stream":
		w.Header().Set("Content-Type", "application/json")
		for off := 0; off < len(body); off += 4096 {
			w.Write(body[off:min(off+4096, len(body))])
			w.(http.Flusher).Flush()
		}
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

// trust returns a client that trusts the mirrors' test CA only.
func trust(ms ...*mirror) *http.Client {
	pool := x509.NewCertPool()
	for _, m := range ms {
		pool.AddCert(m.srv.Certificate())
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// applied records every Apply call, like resolver.SetBundlePins would see them.
type applied struct {
	mu    sync.Mutex
	calls [][]resolver.Pin
	ch    chan []resolver.Pin
}

func newApplied() *applied { return &applied{ch: make(chan []resolver.Pin, 16)} }

func (a *applied) apply(p []resolver.Pin) {
	a.mu.Lock()
	a.calls = append(a.calls, slices.Clone(p))
	a.mu.Unlock()
	select {
	case a.ch <- slices.Clone(p):
	default:
	}
}

func (a *applied) n() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// names is the pin set now in force: name=addrs, sorted.
func (a *applied) names() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return "<never applied>"
	}
	var s []string
	for _, p := range a.calls[len(a.calls)-1] {
		var addrs []string
		for _, x := range append(slices.Clone(p.A), p.AAAA...) {
			addrs = append(addrs, x.String())
		}
		s = append(s, p.Name+"="+strings.Join(addrs, ","))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type harness struct {
	pub     ed25519.PublicKey
	priv    ed25519.PrivateKey
	dir     string
	clock   *clock
	log     *logBuf
	applied *applied
}

func newHarness(t *testing.T) *harness {
	pub, priv := newKey(t)
	return &harness{pub: pub, priv: priv, dir: t.TempDir(), clock: &clock{t: t0.Add(time.Hour)}, log: &logBuf{}, applied: newApplied()}
}

func (h *harness) opts(client *http.Client, urls ...string) FetcherOptions {
	return FetcherOptions{
		URLs: urls, PublicKey: h.pub, Platform: platform, Domains: domains,
		Refresh: time.Hour, StateDir: h.dir, Apply: h.applied.apply, HTTPClient: client,
		Timeout: 20 * time.Second, Now: h.clock.Now, // no test but the slow mirror's waits it out
		Logger: slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (h *harness) fetcher(t *testing.T, o FetcherOptions) *Fetcher {
	t.Helper()
	f, err := NewFetcher(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (h *harness) sign(t *testing.T, serial uint64, pins ...resolver.Pin) []byte {
	return mustSign(t, h.priv, payload(serial, pins...))
}

func TestFetcherAppliesValidBundle(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10", "2001:db8::10")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	if h.applied.n() != 0 {
		t.Fatal("applied before any bundle existed")
	}
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.applied.names(); got != "shop.tickets.example=192.0.2.10,2001:db8::10" {
		t.Errorf("applied %s", got)
	}
	st := f.Status()
	if st.Serial != 10 || st.Pins != 1 || st.LastError != "" || st.Source != m.url() || st.Expires != "2026-12-26T00:00:00Z" || st.Issued != "2026-11-26T00:00:00Z" || st.LastFetch == "" || st.LastOK == "" || st.Expired {
		t.Errorf("status %+v", st)
	}
	// Persisted: the exact bytes and the serial.
	if b, err := os.ReadFile(filepath.Join(h.dir, "bundle", "bundle.json")); err != nil || !bytes.Equal(b, m.body) {
		t.Errorf("stored bundle %q, %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(h.dir, "bundle", "state.json")); !bytes.Contains(b, []byte(`"serial": 10`)) {
		t.Errorf("state.json %s", b)
	}
	if !strings.Contains(h.log.String(), "bundle: applied") {
		t.Errorf("log %s", h.log)
	}
}

// Each bad bundle is rejected with its reason in the log and in status,
// and the pins of the bundle in use stay exactly as they were.
func TestFetcherRejectsAndKeepsOldPins(t *testing.T) {
	_, otherPriv := newKey(t)
	for _, tc := range []struct {
		name string
		body func(h *harness) []byte
		mode string
		max  int64
		msg  string
	}{
		{"tampered payload", func(h *harness) []byte {
			return tamper(t, h.sign(t, 11, pin("shop.tickets.example", "192.0.2.66")), "192.0.2.66", "192.0.2.99")
		}, "", 0, "does not verify with public key"},
		{"wrong key", func(h *harness) []byte {
			return mustSign(t, otherPriv, payload(11, pin("shop.tickets.example", "192.0.2.66")))
		}, "", 0, "signed with another key"},
		{"other platform", func(h *harness) []byte {
			p := payload(11, pin("shop.tickets.example", "192.0.2.66"))
			p.Platform = "Other Tickets"
			return mustSign(t, h.priv, p)
		}, "", 0, `signed for \"Other Tickets\"`},
		{"expired", func(h *harness) []byte {
			p := payload(11, pin("shop.tickets.example", "192.0.2.66"))
			p.Issued, p.Expires = t0.Add(-48*time.Hour), t0
			return mustSign(t, h.priv, p)
		}, "", 0, "expired at 2026-11-26T00:00:00Z"},
		{"rollback", func(h *harness) []byte { return h.sign(t, 9, pin("shop.tickets.example", "192.0.2.66")) }, "", 0, "serial 9, the one in use is 10"},
		{"same serial other content", func(h *harness) []byte { return h.sign(t, 10, pin("shop.tickets.example", "192.0.2.66")) }, "", 0, "serial 10, the one in use is 10"},
		{"names outside domains", func(h *harness) []byte {
			return h.sign(t, 11, pin("www.bank.example", "192.0.2.66"), pin("*.example", "192.0.2.66"))
		}, "", 0, "none of its 2 pins (www.bank.example, *.example)"},
		{"oversized", func(h *harness) []byte {
			return append(h.sign(t, 11, pin("shop.tickets.example", "192.0.2.66")), bytes.Repeat([]byte(" "), 8<<10)...)
		}, "", 4 << 10, "bytes announced, the limit is 4096"},
		{"oversized without length", func(h *harness) []byte {
			return append(h.sign(t, 11, pin("shop.tickets.example", "192.0.2.66")), bytes.Repeat([]byte(" "), 64<<10)...)
		}, "stream", 4 << 10, "more than 4096 bytes"},
		{"not found", func(h *harness) []byte { return nil }, "404", 0, "HTTP 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10")))
			o := h.opts(trust(m), m.url())
			o.MaxSize = tc.max
			f := h.fetcher(t, o)
			if err := f.FetchNow(context.Background()); err != nil {
				t.Fatal(err)
			}
			m.set(tc.body(h), tc.mode)
			err := f.FetchNow(context.Background())
			if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(tc.msg, `\"`, `"`)) {
				t.Fatalf("FetchNow = %v, want %q", err, tc.msg)
			}
			if h.applied.n() != 1 || h.applied.names() != "shop.tickets.example=192.0.2.10" {
				t.Errorf("pins changed: %d calls, now %s", h.applied.n(), h.applied.names())
			}
			st := f.Status()
			if st.Serial != 10 || st.Pins != 1 || !strings.Contains(st.LastError, strings.ReplaceAll(tc.msg, `\"`, `"`)) {
				t.Errorf("status %+v", st)
			}
			if !strings.Contains(h.log.String(), tc.msg) || !strings.Contains(h.log.String(), "pins in use are kept") {
				t.Errorf("log does not give the reason %q:\n%s", tc.msg, h.log)
			}
			// The stored bundle is still the good one.
			if b, _ := os.ReadFile(filepath.Join(h.dir, "bundle", "bundle.json")); !bytes.Contains(b, []byte(`"version":1`)) || bytes.Contains(b, []byte("      ")) {
				t.Errorf("stored bundle replaced: %.80q", b)
			}
		})
	}
}

// Pins outside the domains are dropped one by one, with a log line each;
// the rest of the bundle applies.
func TestFetcherDropsForeignPins(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 4, pin("shop.tickets.example", "192.0.2.10"), pin("www.bank.example", "192.0.2.66")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.applied.names(); got != "shop.tickets.example=192.0.2.10" {
		t.Errorf("applied %s", got)
	}
	if st := f.Status(); st.Pins != 1 || !slices.Equal(st.Dropped, []string{"www.bank.example"}) {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(h.log.String(), `msg="bundle: pin rejected: name is outside the platform's domains" name=www.bank.example`) {
		t.Errorf("log:\n%s", h.log)
	}
}

func TestFetcherSlowMirrorFallsThrough(t *testing.T) {
	h := newHarness(t)
	good := h.sign(t, 3, pin("shop.tickets.example", "192.0.2.30"))
	slow := newMirror(t, good)
	slow.set(good, "slow")
	down := newMirror(t, nil)
	down.set(nil, "404")
	ok := newMirror(t, good)
	o := h.opts(trust(slow, down, ok), slow.url(), down.url(), ok.url())
	// Long enough that the other mirrors' TLS handshakes never run into it
	// on a loaded machine under -race (300 ms did); the slow mirror never
	// answers, so the test waits this out once.
	o.Timeout = 5 * time.Second
	f := h.fetcher(t, o)
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.applied.names(); got != "shop.tickets.example=192.0.2.30" {
		t.Errorf("applied %s", got)
	}
	if st := f.Status(); st.Source != ok.url() || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	log := h.log.String()
	if !strings.Contains(log, "no answer within 5s") || !strings.Contains(log, "HTTP 404") {
		t.Errorf("log does not name the failed mirrors:\n%s", log)
	}
}

func TestFetcherConditionalRequests(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	for i := 0; i < 3; i++ {
		if err := f.FetchNow(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if hits, nm := m.counts(); hits != 3 || nm != 2 {
		t.Errorf("hits %d, 304s %d; want 3 and 2", hits, nm)
	}
	if h.applied.n() != 1 || f.Status().LastError != "" {
		t.Errorf("applied %d times, status %+v", h.applied.n(), f.Status())
	}
	// The validator survives a restart: the first request is conditional.
	h2 := *h
	h2.applied = newApplied()
	f2 := h2.fetcher(t, h2.opts(trust(m), m.url()))
	if err := f2.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, nm := m.counts(); nm != 3 {
		t.Errorf("after restart: %d 304s, want 3", nm)
	}
	// A new bundle replaces the old one despite the validator.
	m.set(h.sign(t, 11, pin("shop.tickets.example", "192.0.2.11")), "")
	if err := f2.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h2.applied.names(); got != "shop.tickets.example=192.0.2.11" {
		t.Errorf("applied %s", got)
	}
}

// A mirror without ETag that serves the same bytes again is "unchanged",
// not a rollback.
func TestFetcherSameBytesWithoutETag(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10")))
	m.set(m.body, "stream") // no ETag, no Content-Length
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	for i := 0; i < 2; i++ {
		if err := f.FetchNow(context.Background()); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if h.applied.n() != 1 {
		t.Errorf("applied %d times", h.applied.n())
	}
}

func TestFetcherRestartWithoutNetwork(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, client := m.url(), trust(m)
	m.srv.Close() // the network is gone

	h2 := *h
	h2.applied = newApplied()
	f2 := h2.fetcher(t, h2.opts(client, u))
	if got := h2.applied.names(); got != "shop.tickets.example=192.0.2.10" {
		t.Fatalf("after restart applied %s", got)
	}
	if err := f2.FetchNow(context.Background()); err == nil {
		t.Fatal("fetch from a closed server succeeded")
	}
	st := f2.Status()
	if h2.applied.n() != 1 || st.Serial != 10 || st.Pins != 1 || st.LastError == "" {
		t.Errorf("applied %d, status %+v", h2.applied.n(), st)
	}
	if !strings.Contains(h2.log.String(), "stored bundle applied") {
		t.Errorf("log:\n%s", h2.log)
	}

	// The serial in use survived too: an older bundle is still a rollback.
	old := newMirror(t, h.sign(t, 9, pin("shop.tickets.example", "192.0.2.9")))
	h3 := *h
	h3.applied = newApplied()
	f3 := h3.fetcher(t, h3.opts(trust(old), old.url()))
	if err := f3.FetchNow(context.Background()); err == nil || !strings.Contains(err.Error(), "serial 9, the one in use is 10") {
		t.Errorf("rollback after restart: FetchNow = %v", err)
	}
	if got := h3.applied.names(); got != "shop.tickets.example=192.0.2.10" {
		t.Errorf("after rollback attempt applied %s", got)
	}
}

func TestFetcherStoredBundleChecked(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Edited on disk: not trusted.
	p := filepath.Join(h.dir, "bundle", "bundle.json")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, tamper(t, b, "192.0.2.10", "192.0.2.66"), 0o644); err != nil {
		t.Fatal(err)
	}
	h2 := *h
	h2.applied = newApplied()
	h2.fetcher(t, h2.opts(trust(m), m.url()))
	if h2.applied.n() != 0 || !strings.Contains(h2.log.String(), "stored bundle not used") {
		t.Errorf("tampered stored bundle: applied %d, log:\n%s", h2.applied.n(), h2.log)
	}
}

func TestFetcherExpiryWithdrawsPins(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(31 * 24 * time.Hour) // the operator forgot to re-sign
	if err := f.FetchNow(context.Background()); err == nil || !strings.Contains(err.Error(), "still serves serial 10, which expired at 2026-12-26T00:00:00Z") {
		t.Errorf("FetchNow after expiry = %v", err)
	}
	if h.applied.n() != 2 || h.applied.names() != "" {
		t.Errorf("after expiry: %d calls, pins %q", h.applied.n(), h.applied.names())
	}
	if st := f.Status(); !st.Expired || st.Pins != 0 || st.Serial != 10 || !strings.Contains(st.LastError, "expired") {
		t.Errorf("status %+v", st)
	}
	// A fresh bundle brings pins back.
	fresh := payload(11, pin("shop.tickets.example", "192.0.2.11"))
	fresh.Issued, fresh.Expires = h.clock.Now(), h.clock.Now().Add(24*time.Hour)
	m.set(mustSign(t, h.priv, fresh), "")
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := f.Status(); st.Expired || st.Pins != 1 || h.applied.names() != "shop.tickets.example=192.0.2.11" {
		t.Errorf("after a fresh bundle: status %+v, pins %s", st, h.applied.names())
	}
	m.set(m.body, "404")
	h.clock.Advance(2 * 24 * time.Hour)
	// A restart after expiry does not bring them back.
	h2 := *h
	h2.applied = newApplied()
	h2.fetcher(t, h2.opts(trust(m), m.url()))
	if h2.applied.n() != 0 || !strings.Contains(h2.log.String(), "stored bundle has expired") {
		t.Errorf("restart after expiry applied %d", h2.applied.n())
	}
}

// Mirror host names are resolved through LookupHost (the daemon's own
// pins/learned answers), not the system resolver.
func TestFetcherDialsThroughLookupHost(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 2, pin("shop.tickets.example", "192.0.2.10")))
	port := m.srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	var mu sync.Mutex
	var asked []string
	o := h.opts(nil,
		fmt.Sprintf("https://pins.down.example:%d/pins.json", port),
		fmt.Sprintf("https://example.com:%d/pins.json", port)) // httptest's certificate is for example.com
	o.LookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
		mu.Lock()
		asked = append(asked, host)
		mu.Unlock()
		if host == "example.com" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("SERVFAIL")
	}
	f := h.fetcher(t, o)
	pool := x509.NewCertPool()
	pool.AddCert(m.srv.Certificate())
	f.client.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.applied.names(); got != "shop.tickets.example=192.0.2.10" {
		t.Errorf("applied %s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(asked, []string{"pins.down.example", "example.com"}) {
		t.Errorf("LookupHost asked %v", asked)
	}
	if !strings.Contains(h.log.String(), "resolving pins.down.example: SERVFAIL") {
		t.Errorf("log:\n%s", h.log)
	}
}

func TestFetcherRefusesHTTPRedirect(t *testing.T) {
	h := newHarness(t)
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	redir := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/pins.json", http.StatusFound))
	t.Cleanup(redir.Close)
	pool := x509.NewCertPool()
	pool.AddCert(redir.Certificate())
	f := h.fetcher(t, h.opts(&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, redir.URL))
	if err := f.FetchNow(context.Background()); err == nil || !strings.Contains(err.Error(), "only https") {
		t.Errorf("FetchNow = %v", err)
	}
}

func TestRunFetchesAtStartAndOnTrigger(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 10, pin("shop.tickets.example", "192.0.2.10")))
	o := h.opts(trust(m), m.url())
	var jmu sync.Mutex
	var jitterAsked []time.Duration
	o.Jitter = func(d time.Duration) time.Duration {
		jmu.Lock()
		jitterAsked = append(jitterAsked, d)
		jmu.Unlock()
		return d
	}
	f := h.fetcher(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	wait := func(want string) {
		t.Helper()
		for {
			select {
			case <-h.applied.ch:
				if h.applied.names() == want {
					return
				}
			case <-time.After(20 * time.Second): // hang guard only
				t.Fatalf("never applied %s; now %s", want, h.applied.names())
			}
		}
	}
	wait("shop.tickets.example=192.0.2.10")
	m.set(h.sign(t, 11, pin("shop.tickets.example", "192.0.2.11")), "")
	h.clock.Advance(time.Minute) // past the trigger gap
	f.Trigger()
	f.Trigger() // coalesced
	wait("shop.tickets.example=192.0.2.11")
	cancel()
	<-done
	jmu.Lock()
	defer jmu.Unlock()
	if len(jitterAsked) < 2 || jitterAsked[0] != time.Hour {
		t.Errorf("jitter asked for %v, want the refresh interval", jitterAsked)
	}
}

func TestDefaultJitterBounded(t *testing.T) {
	d := 15 * time.Minute
	lo, hi := d, d
	for i := 0; i < 2000; i++ {
		j := DefaultJitter(d)
		if j < d-d/10 || j > d+d/10 {
			t.Fatalf("DefaultJitter(%v) = %v, outside ±10%%", d, j)
		}
		lo, hi = min(lo, j), max(hi, j)
	}
	// Spread over the window, so desktops do not fetch in the same second.
	if lo > d-d/20 || hi < d+d/20 {
		t.Errorf("2000 samples only span %v..%v", lo, hi)
	}
	if DefaultJitter(0) != 0 {
		t.Error("DefaultJitter(0) != 0")
	}
}

func TestNewFetcherChecksOptions(t *testing.T) {
	h := newHarness(t)
	good := h.opts(nil, "https://pins.example/p.json")
	for name, mod := range map[string]func(*FetcherOptions){
		"no urls":     func(o *FetcherOptions) { o.URLs = nil },
		"http url":    func(o *FetcherOptions) { o.URLs = []string{"http://pins.example/p.json"} },
		"no key":      func(o *FetcherOptions) { o.PublicKey = nil },
		"no platform": func(o *FetcherOptions) { o.Platform = "" },
		"no domains":  func(o *FetcherOptions) { o.Domains = nil },
		"no apply":    func(o *FetcherOptions) { o.Apply = nil },
	} {
		o := good
		mod(&o)
		if _, err := NewFetcher(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewFetcher(good); err != nil {
		t.Error(err)
	}
}

// Serials belong to one key: after a key change the new key's serials may
// start low, and the old key's stored bundle is not used.
func TestFetcherKeyRotation(t *testing.T) {
	h := newHarness(t)
	m := newMirror(t, h.sign(t, 500, pin("shop.tickets.example", "192.0.2.10")))
	f := h.fetcher(t, h.opts(trust(m), m.url()))
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2 := *h
	h2.pub, h2.priv = newKey(t)
	h2.applied = newApplied()
	h2.log = &logBuf{}
	m.set(h2.sign(t, 1, pin("shop.tickets.example", "192.0.2.1")), "")
	f2 := h2.fetcher(t, h2.opts(trust(m), m.url()))
	if h2.applied.n() != 0 || !strings.Contains(f2.Status().LastError, "stored bundle not used") {
		t.Errorf("old key's bundle: applied %d, status %+v", h2.applied.n(), f2.Status())
	}
	if err := f2.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h2.applied.names(); got != "shop.tickets.example=192.0.2.1" || f2.Status().Serial != 1 {
		t.Errorf("new key serial 1: applied %s, status %+v", got, f2.Status())
	}
	if !strings.Contains(h2.log.String(), "serials start over") {
		t.Errorf("log:\n%s", h2.log)
	}
}
