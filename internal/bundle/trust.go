package bundle

// trust.go: the platform's own CA certificates and SPKI pins carried in a
// bundle, for the TLS checks of pinned and learned addresses
// (internal/pinverify). They are signed like the pins, so an operator can
// rotate the platform's keys on every desktop without touching configs.

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/dnspin/dnspin/internal/pinverify"
)

// Bounds of a bundle's verify_ca and verify_spki. A platform has a handful
// of CAs and keys (the current ones and the next); the bounds keep a
// mistaken bundle (a whole OS trust store pasted in) from becoming every
// desktop's trust, and the verifier's work small.
const (
	MaxVerifyCA     = 16       // certificates in verify_ca
	MaxVerifyCASize = 16 << 10 // bytes of one verify_ca entry (a PEM certificate is 1–3 KiB)
	MaxVerifySPKI   = 32       // pins in verify_spki
)

// Trust is what a bundle adds to the TLS checks: CA certificates trusted
// besides the OS store, and SPKI pins one of which a verified chain must
// carry. A bundle that carries either replaces the config's value of that
// key (platform.verify_ca, platform.verify_spki) while it is in use; the
// zero Trust leaves the config's.
type Trust struct {
	CA   []*x509.Certificate
	SPKI [][sha256.Size]byte
}

// Empty tells whether t changes nothing.
func (t Trust) Empty() bool { return len(t.CA) == 0 && len(t.SPKI) == 0 }

// Equal tells whether t and o hold the same certificates and pins in the
// same order.
func (t Trust) Equal(o Trust) bool {
	if len(t.CA) != len(o.CA) || len(t.SPKI) != len(o.SPKI) {
		return false
	}
	for i := range t.CA {
		if !bytes.Equal(t.CA[i].Raw, o.CA[i].Raw) {
			return false
		}
	}
	for i := range t.SPKI {
		if t.SPKI[i] != o.SPKI[i] {
			return false
		}
	}
	return true
}

// Trust returns the payload's parsed verify_ca and verify_spki.
func (p *Payload) Trust() Trust { return Trust{CA: p.ca, SPKI: p.spki} }

// checkTrust validates verify_ca and verify_spki, keeps their parsed forms
// and rewrites verify_ca in canonical PEM (Sign stores that). Errors name
// the platform, the key with its index (from 0, as in the JSON array) and
// what to write.
func checkTrust(p *Payload) error {
	if n := len(p.VerifyCA); n > MaxVerifyCA {
		return fmt.Errorf("%w: platform %q verify_ca has %d certificates, at most %d are accepted: list only the CAs that issue the platform's certificates", ErrMalformed, p.Platform, n, MaxVerifyCA)
	}
	if n := len(p.VerifySPKI); n > MaxVerifySPKI {
		return fmt.Errorf("%w: platform %q verify_spki has %d pins, at most %d are accepted: list only the platform's current and next keys", ErrMalformed, p.Platform, n, MaxVerifySPKI)
	}
	p.ca, p.spki = nil, nil
	canon := make([]string, 0, len(p.VerifyCA))
	for i, s := range p.VerifyCA {
		c, err := parseOneCert(s)
		if err != nil {
			return fmt.Errorf("%w: platform %q verify_ca[%d]: %v", ErrMalformed, p.Platform, i, err)
		}
		p.ca = append(p.ca, c)
		canon = append(canon, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	if len(canon) > 0 {
		p.VerifyCA = canon
	}
	for i, s := range p.VerifySPKI {
		k, err := pinverify.ParseSPKI([]string{s})
		if err != nil {
			return fmt.Errorf("%w: platform %q verify_spki[%d]: %v", ErrMalformed, p.Platform, i, err)
		}
		p.spki = append(p.spki, k[0])
	}
	return nil
}

// parseOneCert reads one verify_ca entry: exactly one PEM certificate and
// nothing else but white space.
func parseOneCert(s string) (*x509.Certificate, error) {
	const what = `write one "-----BEGIN CERTIFICATE-----" block of the platform's CA per entry`
	if len(s) > MaxVerifyCASize {
		return nil, fmt.Errorf("%d bytes, more than the %d a certificate takes: %s", len(s), MaxVerifyCASize, what)
	}
	t := bytes.TrimSpace([]byte(s))
	b, rest := pem.Decode(t)
	switch {
	case b == nil || !bytes.HasPrefix(t, []byte("-----BEGIN ")):
		// pem.Decode skips text before a block; a signed field must mean
		// exactly what it says, so none is allowed.
		return nil, fmt.Errorf("not PEM: %s", what)
	case b.Type != "CERTIFICATE":
		return nil, fmt.Errorf("a %q PEM block: %s", b.Type, what)
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, fmt.Errorf("more than one certificate, or text after it: %s", what)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the certificate does not parse (%v): %s", err, what)
	}
	return c, nil
}
