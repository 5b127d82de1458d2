// Package pinverify checks that a pinned address really serves the
// platform: a TLS handshake to the address (never a DNS lookup) with the
// pinned name as SNI, the certificate verified for that name against the
// OS trust store plus the platform's own CA and SPKI pins from the config.
//
// It knows nothing about DNS answers (and links no DNS library: the
// config, which the tray links, uses it to check its keys): the daemon runs
// it and hands the results to the resolver, which only orders and filters
// pinned addresses by them. A DNS answer never waits for a verification.
package pinverify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dnspin/dnspin/internal/dnsname"
)

// State is the outcome of verifying one pinned address.
type State string

const (
	// Unknown: not checked yet (or the check was cancelled).
	Unknown State = "unknown"
	// Verified: the address completed a TLS handshake with a certificate
	// valid for the name (and matching the SPKI pins, if any).
	Verified State = "verified"
	// Failed: the address did not answer on the port in time, refused, or
	// presented a certificate not valid for the name.
	Failed State = "failed"
)

// Defaults for Options' zero values.
const (
	DefaultPort        = 443
	DefaultTimeout     = 3 * time.Second
	DefaultConcurrency = 8
)

// Target is one pinned name and one of its addresses.
type Target struct {
	Name string // host name without trailing dot, used as SNI and for the certificate check
	Addr netip.Addr
}

// Result is the outcome for one target.
type Result struct {
	Name  string
	Addr  netip.Addr
	State State
	Error string    // why it failed; "" when verified
	Time  time.Time // when the check ended
}

// Options are the verifier's settings and seams.
type Options struct {
	Port        int                                                               // 0: 443
	Timeout     time.Duration                                                     // per address, dial and handshake; 0: 3 s
	Concurrency int                                                               // handshakes at once; 0: 8
	Roots       *x509.CertPool                                                    // trust anchors; nil: the OS trust store (see Roots)
	SPKI        [][sha256.Size]byte                                               // if set, a certificate of the verified chain must carry one of these keys
	Dial        func(ctx context.Context, network, addr string) (net.Conn, error) // nil: net.Dialer
	Now         func() time.Time                                                  // nil: time.Now
}

// Verify checks every target, at most o.Concurrency at once, and returns
// one result per target in the order given. It returns when all are done
// or ctx ends (the rest are then Unknown).
func Verify(ctx context.Context, targets []Target, o Options) []Result {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	out := make([]Result, len(targets))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		out[i] = Result{Name: t.Name, Addr: t.Addr, State: Unknown, Error: "not checked"}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := verifyOne(ctx, t, o)
			r := Result{Name: t.Name, Addr: t.Addr, State: Verified, Time: o.Now()}
			switch {
			case err != nil && ctx.Err() != nil:
				r.State, r.Error = Unknown, "check cancelled"
			case err != nil:
				r.State, r.Error = Failed, err.Error()
			}
			out[i] = r
		}()
	}
	wg.Wait()
	return out
}

func verifyOne(ctx context.Context, t Target, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	addr := net.JoinHostPort(t.Addr.Unmap().String(), strconv.Itoa(o.Port))
	raw, err := o.Dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, unwrapOp(err))
	}
	defer raw.Close()
	cfg := &tls.Config{
		ServerName: strings.TrimSuffix(t.Name, "."),
		RootCAs:    o.Roots,
		MinVersion: tls.VersionTLS12,
		// Ask for HTTP so servers that route by ALPN answer as to a browser.
		NextProtos: []string{"h2", "http/1.1"},
	}
	if len(o.SPKI) > 0 {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return matchSPKI(cs.VerifiedChains, o.SPKI) }
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("TLS handshake with %s for %s: no answer within %s", addr, cfg.ServerName, o.Timeout)
		}
		return fmt.Errorf("TLS handshake with %s for %s: %w", addr, cfg.ServerName, unwrapOp(err))
	}
	return nil
}

// unwrapOp drops net.OpError's "dial tcp a->b:" prefix; the caller names
// the address already.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func matchSPKI(chains [][]*x509.Certificate, pins [][sha256.Size]byte) error {
	for _, ch := range chains {
		for _, c := range ch {
			h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			for _, p := range pins {
				if h == p {
					return nil
				}
			}
		}
	}
	return errors.New("certificate is valid but carries none of the platform's SPKI pins (verify_spki of the bundle in use, else of the config)")
}

// SPKIPin returns the "sha256/BASE64" pin of a certificate's public key,
// the form platform.verify_spki takes.
func SPKIPin(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256/" + base64.StdEncoding.EncodeToString(h[:])
}

// ParseSPKI reads pins written as "sha256/BASE64" (the SHA-256 of the
// DER SubjectPublicKeyInfo, as in HPKP and curl's --pinnedpubkey).
func ParseSPKI(pins []string) ([][sha256.Size]byte, error) {
	var out [][sha256.Size]byte
	for _, s := range pins {
		b64, ok := strings.CutPrefix(s, "sha256/")
		if !ok {
			return nil, fmt.Errorf("%q does not start with \"sha256/\": write \"sha256/\" and the base64 SHA-256 of the key's SubjectPublicKeyInfo (openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)", s)
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%q is not sha256/ followed by 44 characters of standard base64 (32 bytes): write it like \"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"", s)
		}
		out = append(out, [sha256.Size]byte(b))
	}
	return out, nil
}

// ParseCA reads the PEM certificates of a CA file; it refuses a file
// without any certificate or with a block that does not parse.
func ParseCA(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := pemBytes
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("holds a %q PEM block: it must hold only \"-----BEGIN CERTIFICATE-----\" blocks (the platform's CA certificates)", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse (%v): write the CA certificates in PEM", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("holds no PEM certificate: write the platform's CA certificates as \"-----BEGIN CERTIFICATE-----\" blocks")
	}
	return out, nil
}

// LoadCA reads a CA file for platform.verify_ca; errors name the file.
func LoadCA(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w: write the path of a PEM file with the platform's CA certificates, or remove verify_ca", path, err)
	}
	cs, err := ParseCA(b)
	if err != nil {
		return nil, fmt.Errorf("CA file %s %w", path, err)
	}
	return cs, nil
}

// Roots is the OS trust store plus extra CA certificates. Where the OS
// store cannot be read, only the extra certificates are trusted (and an
// error says why, for the log). With no extra certificates it is nil:
// crypto/tls then loads the OS store at the first handshake, not at
// start-up (reading it took 20–30 ms of dnspin's start, verification on
// or off).
func Roots(extra []*x509.Certificate) (*x509.CertPool, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		err = fmt.Errorf("OS trust store unavailable, trusting only platform.verify_ca: %w", err)
	}
	if pool == nil {
		pool = x509.NewCertPool()
	}
	for _, c := range extra {
		pool.AddCert(c)
	}
	return pool, err
}

// Targets lists what to verify for pins: every address of every exact pin.
// Wildcard pins ("*.cdn.example") are left out: no single name stands for
// them, so their addresses stay Unknown and keep the pin's order.
func Targets(pins []dnsname.Pin) []Target {
	var out []Target
	seen := map[Target]bool{}
	for _, p := range pins {
		if strings.HasPrefix(p.Name, "*.") {
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(p.Name, "."))
		for _, a := range append(slices.Clone(p.A), p.AAAA...) {
			t := Target{Name: name, Addr: a.Unmap()}
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}
