// Package bundle is dnspin's signed pin bundle: the file format, signing and
// verification (crypto/ed25519 over the exact payload bytes), and the
// Fetcher that keeps a desktop's bundle pins current from HTTPS mirrors.
//
// A bundle file is a small JSON envelope:
//
//	{"version":1,"payload":"BASE64(payload bytes)","signature":"BASE64(ed25519 signature over those bytes)"}
//
// and the payload, once base64-decoded, is JSON:
//
//	{"version":1,"platform":"Example Tickets","serial":2026112601,
//	 "issued":"2026-11-26T00:00:00Z","expires":"2026-12-26T00:00:00Z",
//	 "pins":[{"name":"shop.tickets.example","a":["192.0.2.10"],"aaaa":["2001:db8::10"]}],
//	 "verify_ca":["-----BEGIN CERTIFICATE-----\n…"],"verify_spki":["sha256/BASE64"]}
//
// verify_ca and verify_spki are optional (trust.go).
//
// The signature covers the payload bytes exactly as they travel, so no JSON
// canonicalisation is needed and a verifier never signs-checks one thing and
// reads another. The payload carries its own version too, so the signed
// bytes alone say how to read them.
package bundle

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dnspin/dnspin/internal/dnsname"
)

// Version is the bundle format this dnspin writes and understands.
const Version = 1

// DefaultMaxSize is the largest bundle accepted unless told otherwise. A
// bundle of a few hundred pins is a few tens of KiB; the cap keeps a broken
// or hostile mirror from filling memory or disk.
const DefaultMaxSize = 256 << 10

// MaxSerial is the largest serial a bundle may carry: 2^53-1, the largest
// integer a JSON number keeps exactly in every consumer (JavaScript, jq and
// other readers that hold numbers as float64), so the serial a dashboard
// shows is the one that was signed. It also keeps "the next serial" (in use
// + 1) far from the uint64 wrap point, where anti-rollback would otherwise
// start over at 0. Date-based serials (2026112601) use 10 digits of 16.
const MaxSerial uint64 = 1<<53 - 1

// Reasons a bundle is rejected; Verify's errors wrap exactly one of them and
// add the detail (which serial, which platform, which name).
var (
	ErrTooLarge  = errors.New("bundle too large")
	ErrMalformed = errors.New("bundle malformed")
	ErrVersion   = errors.New("bundle format version not supported")
	ErrSignature = errors.New("bundle signature invalid")
	ErrPlatform  = errors.New("bundle is for another platform")
	ErrExpired   = errors.New("bundle expired")
	ErrRollback  = errors.New("bundle serial not newer than the one in use")
	ErrDomains   = errors.New("bundle pins names outside the platform's domains")
)

// Payload is the signed content of a bundle.
type Payload struct {
	Version  int           `json:"version"`
	Platform string        `json:"platform"` // must equal the desktop's [platform] name
	Serial   uint64        `json:"serial"`   // strictly increasing per platform, 1 to MaxSerial
	Issued   time.Time     `json:"issued"`   // RFC 3339
	Expires  time.Time     `json:"expires"`  // RFC 3339; pins are withdrawn after this
	Pins     []dnsname.Pin `json:"pins"`
	// VerifyCA and VerifySPKI are the platform's own CA certificates (one
	// PEM certificate per entry) and SPKI pins ("sha256/BASE64", as
	// platform.verify_spki) for the TLS checks of addresses (trust.go).
	// Optional; a dnspin older than these fields refuses a bundle that
	// carries them (unknown signed fields), and keeps its pins in use.
	VerifyCA   []string `json:"verify_ca,omitempty"`
	VerifySPKI []string `json:"verify_spki,omitempty"`

	ca   []*x509.Certificate // VerifyCA parsed by checkTrust
	spki [][32]byte          // VerifySPKI parsed by checkTrust

	// Dropped names the pins Verify removed because they are outside the
	// expected domains. It is not part of the signed data.
	Dropped []string `json:"-"`
}

// envelope is the file as it travels.
type envelope struct {
	Version   int    `json:"version"`
	Payload   string `json:"payload"`   // standard base64 of the exact payload bytes
	Signature string `json:"signature"` // standard base64 of ed25519.Sign(priv, payload bytes)
}

// Expect is what the verifier requires of a bundle.
type Expect struct {
	Platform  string    // payload.platform must equal it; "" skips the check (CLI without config only)
	Domains   []string  // pins must be at or below one of these; nil skips the check
	MinSerial uint64    // payload.serial must be at least this (the fetcher passes in-use + 1)
	Now       time.Time // payload.expires must be after it
	MaxSize   int64     // 0 means DefaultMaxSize
}

// Sign validates p and returns the bundle file bytes. Issued and Expires are
// stored in UTC with whole seconds; Version is set by Sign.
func Sign(priv ed25519.PrivateKey, p Payload) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign: private key has %d bytes, want %d: use a key from dnspin bundle keygen", len(priv), ed25519.PrivateKeySize)
	}
	p.Version = Version
	p.Issued = p.Issued.UTC().Truncate(time.Second)
	p.Expires = p.Expires.UTC().Truncate(time.Second)
	pins, err := checkPayload(&p)
	if err != nil {
		return nil, err
	}
	p.Pins = pins
	if p.Pins == nil {
		p.Pins = []dnsname.Pin{}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	env := envelope{
		Version:   Version,
		Payload:   base64.StdEncoding.EncodeToString(raw),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, raw)),
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return append(out, '\n'), nil
}

// Verify checks a bundle file against pub and exp and returns its payload.
// Pins whose names are outside exp.Domains are removed and listed in
// Payload.Dropped (the rest of the bundle still applies, so a desktop whose
// config lags behind a newly added platform domain keeps getting updates); a
// bundle where every pin is outside the domains is rejected with ErrDomains.
func Verify(pub ed25519.PublicKey, data []byte, exp Expect) (*Payload, error) {
	p, err := verify(pub, data, exp)
	if err != nil {
		return nil, err
	}
	if !exp.Now.Before(p.Expires) {
		return nil, fmt.Errorf("%w: serial %d expired at %s (now %s): publish a newly signed bundle", ErrExpired, p.Serial, p.Expires.Format(time.RFC3339), exp.Now.UTC().Format(time.RFC3339))
	}
	return p, nil
}

// verify is Verify without the expiry check: the fetcher uses it to load a
// stored bundle and report that it expired rather than that it is unreadable.
func verify(pub ed25519.PublicKey, data []byte, exp Expect) (*Payload, error) {
	max := exp.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), max)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verify: public key has %d bytes, want %d: check bundle.public_key", len(pub), ed25519.PublicKeySize)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: not a bundle file (%v)", ErrMalformed, err)
	}
	if env.Version != Version {
		return nil, fmt.Errorf("%w: file says version %d, this dnspin reads version %d: update dnspin or publish a version %d bundle", ErrVersion, env.Version, Version, Version)
	}
	raw, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("%w: payload is not base64", ErrMalformed)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is not a base64 ed25519 signature", ErrSignature)
	}
	if !ed25519.Verify(pub, raw, sig) {
		return nil, fmt.Errorf("%w: it does not verify with public key %s: the bundle was altered or signed with another key", ErrSignature, FormatPublicKey(pub))
	}
	// Signed from here on: what follows are checks of the operator's intent.
	var p Payload
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields() // a signed field we do not understand could change the meaning
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if p.Version != Version {
		return nil, fmt.Errorf("%w: payload says version %d, this dnspin reads version %d", ErrVersion, p.Version, Version)
	}
	if exp.Platform != "" && p.Platform != exp.Platform {
		return nil, fmt.Errorf("%w: it is signed for %q, this desktop protects %q", ErrPlatform, p.Platform, exp.Platform)
	}
	pins, err := checkPayload(&p)
	if err != nil {
		return nil, err
	}
	p.Pins = pins
	if p.Serial < exp.MinSerial {
		return nil, fmt.Errorf("%w: serial %d, the one in use is %d: sign the new bundle with a higher --serial", ErrRollback, p.Serial, exp.MinSerial-1)
	}
	if exp.Domains != nil {
		var kept []dnsname.Pin
		for _, pin := range p.Pins {
			if dnsname.Covers(exp.Domains, pin.Name) {
				kept = append(kept, pin)
			} else {
				p.Dropped = append(p.Dropped, pin.Name)
			}
		}
		if len(p.Pins) > 0 && len(kept) == 0 {
			return nil, fmt.Errorf("%w: none of its %d pins (%s) is at or below %s", ErrDomains, len(p.Pins), strings.Join(p.Dropped, ", "), strings.Join(exp.Domains, ", "))
		}
		p.Pins = kept
	}
	return &p, nil
}

// checkPayload validates the fields Sign and Verify share and returns the
// pins with canonical names.
func checkPayload(p *Payload) ([]dnsname.Pin, error) {
	if strings.TrimSpace(p.Platform) == "" {
		return nil, fmt.Errorf("%w: platform is empty: it must be the [platform] name of the desktops' config", ErrMalformed)
	}
	if p.Serial == 0 {
		return nil, fmt.Errorf("%w: serial is 0: serials start at 1 and only go up", ErrMalformed)
	}
	if p.Serial > MaxSerial {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, SerialTooLarge(p.Serial))
	}
	if p.Issued.IsZero() || p.Expires.IsZero() {
		return nil, fmt.Errorf("%w: issued and expires must both be set", ErrMalformed)
	}
	if !p.Expires.After(p.Issued) {
		return nil, fmt.Errorf("%w: expires %s is not after issued %s", ErrMalformed, p.Expires.Format(time.RFC3339), p.Issued.Format(time.RFC3339))
	}
	if err := checkTrust(p); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := make([]dnsname.Pin, 0, len(p.Pins))
	for _, pin := range p.Pins {
		c, err := dnsname.CheckPin(pin)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%w: pin %q appears twice: merge its addresses into one entry", ErrMalformed, c.Name)
		}
		seen[c.Name] = true
		out = append(out, c)
	}
	return out, nil
}

// SerialTooLarge is the error for a serial above MaxSerial, naming both.
func SerialTooLarge(serial uint64) error {
	return fmt.Errorf("serial %d is above the maximum %d (2^53-1): use a smaller serial, e.g. the date as YYYYMMDDNN", serial, MaxSerial)
}

const keyPrefix = "ed25519:"

// ParsePublicKey reads a key in the config form "ed25519:BASE64".
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), keyPrefix)
	if !ok {
		return nil, fmt.Errorf("public key %q must look like \"ed25519:BASE64\" as printed by dnspin bundle keygen", s)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q is not %d base64-encoded bytes: copy it again from dnspin bundle keygen's output", s, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// FormatPublicKey writes pub in the config form "ed25519:BASE64".
func FormatPublicKey(pub ed25519.PublicKey) string {
	return keyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// MarshalPrivateKey encodes priv as a PKCS#8 PEM block, the form
// `openssl pkey` also reads.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a PKCS#8 PEM ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block: use the file written by dnspin bundle keygen")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading the private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is %T, not ed25519: use a key from dnspin bundle keygen", k)
	}
	return priv, nil
}
