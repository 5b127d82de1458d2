package bundle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/dnsname"
)

// FetcherOptions configures a Fetcher. URLs, PublicKey, Platform, Domains
// and Apply are required.
type FetcherOptions struct {
	URLs      []string          // https mirrors, tried in order
	PublicKey ed25519.PublicKey // [bundle] public_key
	Platform  string            // [platform] name; the bundle must name it
	Domains   []string          // [platform] domains; pins outside them are dropped
	Refresh   time.Duration     // between fetches; default 15m
	StateDir  string            // bundle kept under StateDir/bundle/; "" keeps it in memory

	// LookupHost resolves mirror host names. The daemon passes the
	// resolver's own lookup so mirrors resolve through pins and learned
	// answers while DNS is down. nil: net.DefaultResolver.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
	// Apply installs the bundle's pins (nil withdraws them). The daemon
	// passes resolver.SetBundlePins, which swaps the set atomically.
	Apply func(pins []dnsname.Pin)
	// ApplyTrust, if set, installs the bundle's verify_ca and verify_spki
	// (the zero Trust when the bundle has none or is withdrawn). It is
	// called just before Apply with the same bundle, so checks that Apply
	// starts already use them.
	ApplyTrust func(Trust)
	// HTTPClient fetches the mirrors. nil: a client with short timeouts
	// that dials through LookupHost. Tests inject httptest's TLS client.
	HTTPClient *http.Client

	Timeout time.Duration                     // per mirror, whole request; default 10s
	MaxSize int64                             // largest bundle accepted; default DefaultMaxSize
	Now     func() time.Time                  // default time.Now
	Logger  *slog.Logger                      // default: discard
	Jitter  func(time.Duration) time.Duration // wait before the next fetch given the nominal one; default ±10%
}

const (
	defaultRefresh = 15 * time.Minute
	defaultTimeout = 10 * time.Second
	// triggerGap bounds how often Trigger fetches, so a state that flaps
	// between normal and degraded does not hammer the mirrors.
	triggerGap = 30 * time.Second
	// retryFirst is the wait after a failed round; it doubles up to Refresh.
	retryFirst = time.Minute
)

// Fetcher keeps the desktop's bundle current: it loads the last good bundle
// at start, fetches from the mirrors every Refresh (± jitter, so thousands
// of desktops do not hit the CDN in the same second) and on Trigger, and
// applies only bundles that Verify accepts with a serial above the one in
// use. A rejected bundle leaves the pins in use untouched.
type Fetcher struct {
	o      FetcherOptions
	client *http.Client
	log    *slog.Logger
	store  store
	kick   chan struct{} // Trigger; capacity 1 coalesces

	round sync.Mutex // one fetch round at a time; Apply is called under it

	mu          sync.Mutex // guards what Status reads
	cur         *Payload   // bundle in use; nil when none
	curData     []byte     // its exact bytes
	withdrawn   bool       // cur expired and its pins were withdrawn
	st          fetchState
	lastFetch   time.Time
	lastOK      time.Time
	lastErr     string
	lastAttempt time.Time
}

// NewFetcher checks o, loads the last good bundle from StateDir and, if it
// still verifies and has not expired, applies it, so a restart without
// network keeps the pins.
func NewFetcher(o FetcherOptions) (*Fetcher, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("bundle: no urls: set [bundle] urls to the mirrors' https:// addresses")
	}
	for _, u := range o.URLs {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "https" || pu.Host == "" {
			return nil, fmt.Errorf("bundle: url %q is not an https:// address: fix [bundle] urls", u)
		}
	}
	if len(o.PublicKey) != ed25519.PublicKeySize {
		return nil, errors.New("bundle: no valid public key: set [bundle] public_key to the ed25519:BASE64 key from dnspin bundle keygen")
	}
	if o.Platform == "" {
		return nil, errors.New("bundle: [platform] name is empty: bundles name the platform they are for, so set it")
	}
	if len(o.Domains) == 0 {
		return nil, errors.New("bundle: [platform] domains is empty: bundle pins are only accepted below the platform's domains, so list them")
	}
	if o.Apply == nil {
		return nil, errors.New("bundle: Apply is nil")
	}
	if o.Refresh <= 0 {
		o.Refresh = defaultRefresh
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Jitter == nil {
		o.Jitter = DefaultJitter
	}
	if o.LookupHost == nil {
		o.LookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	f := &Fetcher{o: o, log: o.Logger, kick: make(chan struct{}, 1)}
	if o.StateDir != "" {
		f.store = store{dir: filepath.Join(o.StateDir, "bundle")}
	}
	if o.HTTPClient != nil {
		c := *o.HTTPClient
		if c.CheckRedirect == nil {
			c.CheckRedirect = httpsRedirectsOnly
		}
		f.client = &c
	} else {
		f.client = newHTTPClient(o.LookupHost, o.Timeout)
	}
	f.load()
	return f, nil
}

// load restores the stored bundle; problems are logged, never fatal: the
// desktop then simply starts without bundle pins.
func (f *Fetcher) load() {
	data, st, err := f.store.load()
	if err != nil {
		f.log.Warn("bundle: reading the stored bundle", "dir", f.store.dir, "err", err)
	}
	// The anti-rollback serial belongs to one key and platform: bundles
	// under another key cannot be replays of the old key's, and a desktop
	// moved to another platform must not refuse its first bundles.
	key := FormatPublicKey(f.o.PublicKey)
	if (st.Key != "" && st.Key != key) || (st.Platform != "" && st.Platform != f.o.Platform) {
		f.log.Info("bundle: the public key or platform changed; serials start over for the new one", "old_serial", st.Serial)
		st = fetchState{}
	}
	st.Key, st.Platform = key, f.o.Platform
	f.st = st
	if len(data) == 0 {
		return
	}
	p, err := verify(f.o.PublicKey, data, f.expect(0))
	if err != nil {
		// Typically the public key or platform changed in the config.
		f.log.Warn("bundle: stored bundle not used", "file", filepath.Join(f.store.dir, bundleFile), "err", err)
		f.lastErr = "stored bundle not used: " + err.Error()
		f.st.Validators = nil // they describe a bundle we no longer hold
		return
	}
	f.st.Serial = max(f.st.Serial, p.Serial)
	f.cur, f.curData = p, data
	if !f.o.Now().Before(p.Expires) {
		f.withdrawn = true
		f.log.Warn("bundle: stored bundle has expired; its pins are not used", "serial", p.Serial, "expires", p.Expires.Format(time.RFC3339))
		return
	}
	f.logDropped(p, "stored bundle")
	f.apply(p)
	f.log.Info("bundle: stored bundle applied", "serial", p.Serial, "pins", len(p.Pins), "expires", p.Expires.Format(time.RFC3339))
}

func (f *Fetcher) expect(minSerial uint64) Expect {
	return Expect{Platform: f.o.Platform, Domains: f.o.Domains, MinSerial: minSerial, Now: f.o.Now(), MaxSize: f.o.MaxSize}
}

func (f *Fetcher) logDropped(p *Payload, where string) {
	for _, n := range p.Dropped {
		f.log.Warn("bundle: pin rejected: name is outside the platform's domains", "name", n, "serial", p.Serial, "domains", f.o.Domains, "from", where)
	}
}

// Trigger asks Run to fetch now (the daemon calls it when the state leaves
// normal). It never blocks; triggers close together are coalesced, and Run
// fetches at most once per 30s on triggers.
func (f *Fetcher) Trigger() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Run fetches at once, then every Refresh ± jitter (sooner after a failed
// round, backing off up to Refresh) and on Trigger, and withdraws the pins
// when the bundle in use expires. It returns when ctx ends.
func (f *Fetcher) Run(ctx context.Context) {
	retry := retryFirst
	next := func(ok bool) time.Time {
		d := f.o.Refresh
		if ok {
			retry = retryFirst
		} else {
			d = min(retry, f.o.Refresh)
			retry *= 2
		}
		return f.o.Now().Add(max(f.o.Jitter(d), time.Second))
	}
	nextFetch := next(f.FetchNow(ctx) == nil)
	pending := false
	for {
		now := f.o.Now()
		due := nextFetch
		if pending {
			due = earliest(due, f.lastAttemptTime().Add(triggerGap))
		}
		if exp, ok := f.expiry(); ok {
			due = earliest(due, exp)
		}
		t := time.NewTimer(max(due.Sub(now), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-f.kick:
			t.Stop()
			pending = true
			continue
		case <-t.C:
		}
		now = f.o.Now()
		f.checkExpiry(now)
		if !now.Before(nextFetch) || (pending && !now.Before(f.lastAttemptTime().Add(triggerGap))) {
			pending = false
			nextFetch = next(f.FetchNow(ctx) == nil)
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (f *Fetcher) lastAttemptTime() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastAttempt
}

// expiry is when the bundle in use expires, if its pins are still applied.
func (f *Fetcher) expiry() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil || f.withdrawn {
		return time.Time{}, false
	}
	return f.cur.Expires, true
}

// checkExpiry withdraws the pins of an expired bundle: the operator's expiry
// is a promise that those addresses are not used past it.
func (f *Fetcher) checkExpiry(now time.Time) {
	f.round.Lock()
	defer f.round.Unlock()
	f.mu.Lock()
	p := f.cur
	expired := p != nil && !f.withdrawn && !now.Before(p.Expires)
	if expired {
		f.withdrawn = true
	}
	f.mu.Unlock()
	if expired {
		f.apply(nil)
		f.log.Warn("bundle: the bundle in use has expired; its pins are withdrawn until a newer bundle is fetched", "serial", p.Serial, "expires", p.Expires.Format(time.RFC3339))
	}
}

// FetchNow runs one round: the mirrors in order until one delivers a bundle
// that is accepted or unchanged. It returns the round's error (also kept
// for Status); on error the pins in use stay as they were.
func (f *Fetcher) FetchNow(ctx context.Context) error {
	now := f.o.Now()
	f.checkExpiry(now)
	f.round.Lock()
	defer f.round.Unlock()
	f.mu.Lock()
	f.lastAttempt = now
	f.mu.Unlock()

	var errs []string
	for _, u := range f.o.URLs {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err().Error())
			break
		}
		changed, err := f.fetchOne(ctx, u)
		if err != nil {
			f.log.Warn("bundle: mirror failed; trying the next one", "url", u, "err", err)
			errs = append(errs, err.Error())
			continue
		}
		f.mu.Lock()
		f.lastFetch, f.lastOK, f.lastErr = f.o.Now(), f.o.Now(), ""
		f.mu.Unlock()
		if !changed {
			f.log.Debug("bundle: unchanged", "url", u)
		}
		return nil
	}
	err := errors.New(strings.Join(errs, "; "))
	f.mu.Lock()
	f.lastFetch, f.lastErr = f.o.Now(), err.Error()
	f.mu.Unlock()
	f.log.Warn("bundle: no mirror delivered an acceptable bundle; the pins in use are kept", "err", err)
	return err
}

// fetchOne fetches and, if new and valid, applies the bundle at u. It
// reports whether the bundle in use changed. Called under f.round.
func (f *Fetcher) fetchOne(ctx context.Context, u string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", u, err)
	}
	req.Header.Set("User-Agent", "dnspin-bundle/1")
	f.mu.Lock()
	have := f.curData != nil
	v, hasV := f.st.Validators[u]
	f.mu.Unlock()
	if have && hasV {
		if v.ETag != "" {
			req.Header.Set("If-None-Match", v.ETag)
		}
		if v.LastModified != "" {
			req.Header.Set("If-Modified-Since", v.LastModified)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return false, fmt.Errorf("%s: no answer within %s", u, f.o.Timeout)
		}
		return false, fmt.Errorf("%s: %w", u, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && have && hasV:
		return false, f.unchangedErr(u)
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("%s: HTTP %s", u, resp.Status)
	case resp.ContentLength > f.o.MaxSize:
		return false, fmt.Errorf("%s: %w: %d bytes announced, the limit is %d", u, ErrTooLarge, resp.ContentLength, f.o.MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.o.MaxSize+1))
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("%s: body not complete within %s", u, f.o.Timeout)
		}
		return false, fmt.Errorf("%s: reading the body: %w", u, err)
	}
	if int64(len(data)) > f.o.MaxSize {
		return false, fmt.Errorf("%s: %w: more than %d bytes", u, ErrTooLarge, f.o.MaxSize)
	}
	nv := validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}

	f.mu.Lock()
	same := have && bytes.Equal(data, f.curData)
	f.mu.Unlock()
	if same {
		// A mirror without conditional requests: nothing new.
		f.rememberValidator(u, nv)
		return false, f.unchangedErr(u)
	}
	f.mu.Lock()
	inUse := f.st.Serial
	f.mu.Unlock()
	if inUse >= MaxSerial {
		// No bundle can be newer; inUse + 1 must not be computed at the
		// uint64 edge, where it wraps to 0 and accepts any old bundle.
		return false, fmt.Errorf("%s: rejected: %w: the serial in use, %d, is at or above the maximum %d: publish bundles under a new key (dnspin bundle keygen) and update [bundle] public_key; serials start over for it", u, ErrRollback, inUse, MaxSerial)
	}
	p, err := Verify(f.o.PublicKey, data, f.expect(inUse+1))
	if err != nil {
		return false, fmt.Errorf("%s: rejected: %w", u, err)
	}
	f.logDropped(p, u)

	f.mu.Lock()
	f.cur, f.curData, f.withdrawn = p, data, false
	f.st.Serial = p.Serial
	f.st.Source = u
	f.st.Accepted = f.o.Now().UTC()
	f.st.Validators = map[string]validator{}
	if nv != (validator{}) {
		f.st.Validators[u] = nv
	}
	st := f.st
	st.Validators = maps.Clone(f.st.Validators)
	f.mu.Unlock()

	// Persist before applying so the anti-rollback serial survives a crash;
	// a disk error must not cost the desktop the new pins, so it is logged.
	if err := f.store.saveBundle(data, st); err != nil {
		f.log.Error("bundle: could not store the accepted bundle; it is used but will not survive a restart", "dir", f.store.dir, "err", err)
	}
	f.apply(p)
	f.log.Info("bundle: applied", "serial", p.Serial, "pins", len(p.Pins), "dropped", len(p.Dropped), "expires", p.Expires.Format(time.RFC3339), "url", u)
	return true, nil
}

// apply installs p's trust and pins; nil withdraws them.
func (f *Fetcher) apply(p *Payload) {
	if p == nil {
		if f.o.ApplyTrust != nil {
			f.o.ApplyTrust(Trust{})
		}
		f.o.Apply(nil)
		return
	}
	if f.o.ApplyTrust != nil {
		f.o.ApplyTrust(p.Trust())
	}
	f.o.Apply(p.Pins)
}

// unchangedErr is nil when a mirror still serves the bundle in use, unless
// that bundle has expired: then the mirror has nothing usable and the next
// one is tried.
func (f *Fetcher) unchangedErr(u string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.withdrawn {
		return nil
	}
	return fmt.Errorf("%s: still serves serial %d, which expired at %s: the operators must publish a newly signed bundle", u, f.cur.Serial, f.cur.Expires.Format(time.RFC3339))
}

func (f *Fetcher) rememberValidator(u string, v validator) {
	if v == (validator{}) {
		return
	}
	f.mu.Lock()
	if f.st.Validators == nil {
		f.st.Validators = map[string]validator{}
	}
	changed := f.st.Validators[u] != v
	f.st.Validators[u] = v
	st := f.st
	st.Validators = maps.Clone(f.st.Validators)
	f.mu.Unlock()
	if changed {
		if err := f.store.saveState(st); err != nil {
			f.log.Warn("bundle: could not store the mirror's validators", "dir", f.store.dir, "err", err)
		}
	}
}

// Status describes the bundle in use and the last fetch, for the control API.
func (f *Fetcher) Status() control.Bundle {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := control.Bundle{
		Serial:    f.st.Serial,
		LastFetch: rfc3339(f.lastFetch),
		LastOK:    rfc3339(f.lastOK),
		LastError: f.lastErr,
	}
	if p := f.cur; p != nil {
		b.Serial = p.Serial
		b.Issued = rfc3339(p.Issued)
		b.Expires = rfc3339(p.Expires)
		b.Expired = f.withdrawn
		if !f.withdrawn {
			b.Pins = len(p.Pins)
			b.VerifyCA, b.VerifySPKI = len(p.ca), len(p.spki)
		}
		b.Source = f.st.Source
		b.Dropped = slices.Clone(p.Dropped)
	}
	return b
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// DefaultJitter spreads fetches uniformly over d ± 10%.
func DefaultJitter(d time.Duration) time.Duration {
	span := int64(d / 5)
	if span <= 0 {
		return d
	}
	return d - d/10 + time.Duration(rand.Int64N(span+1))
}

// newHTTPClient is the production client: TLS 1.2+, a whole-request
// timeout, and host names resolved through lookup (dnspin's own answers)
// instead of the system resolver that may be pointing at a dead upstream.
func newHTTPClient(lookup func(context.Context, string) ([]netip.Addr, error), timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return d.DialContext(ctx, network, addr)
		}
		ips, err := lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("resolving %s: no addresses", host)
		}
		pn, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", port, err)
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(pn)).String())
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dial,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   min(timeout, 5*time.Second),
			ResponseHeaderTimeout: timeout,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4,
			IdleConnTimeout:       time.Minute,
		},
		CheckRedirect: httpsRedirectsOnly,
	}
}

// httpsRedirectsOnly follows at most 5 redirects and never to plain HTTP
// (the signature protects the content, but a downgrade would still leak
// which platform a desktop serves).
func httpsRedirectsOnly(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("more than 5 redirects")
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to %s refused: only https", req.URL.Redacted())
	}
	return nil
}
