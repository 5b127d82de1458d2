package bundle

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver"
)

// A bundle's CA certificates and SPKI pins survive signing and
// verification, parsed, and are covered by the signature.
func TestTrustRoundTrip(t *testing.T) {
	pub, priv := newKey(t)
	ca := pinverifytest.NewCA(t)
	spki := pinverify.SPKIPin(ca.Cert)
	in := payload(3, pin("shop.tickets.example", "192.0.2.10"))
	// Surrounding white space is fine; Sign stores canonical PEM.
	in.VerifyCA = []string{"\n  " + string(ca.PEM()) + "\n\n"}
	in.VerifySPKI = []string{spki}
	data := mustSign(t, priv, in)
	p, err := Verify(pub, data, expect(1))
	if err != nil {
		t.Fatal(err)
	}
	tr := p.Trust()
	if len(tr.CA) != 1 || !tr.CA[0].Equal(ca.Cert) || len(tr.SPKI) != 1 || pinverify.SPKIPin(ca.Cert) != "sha256/"+base64.StdEncoding.EncodeToString(tr.SPKI[0][:]) {
		t.Errorf("trust %+v", tr)
	}
	if p.VerifyCA[0] != string(ca.PEM()) {
		t.Errorf("verify_ca stored as %q, want the canonical PEM", p.VerifyCA[0])
	}
	if !tr.Equal(p.Trust()) || tr.Equal(Trust{}) || !(Trust{}).Empty() || tr.Empty() {
		t.Error("Equal/Empty")
	}
	// Signed: another key in place of the pin breaks the signature.
	other := pinverify.SPKIPin(pinverifytest.NewCA(t).Cert)
	if _, err := Verify(pub, tamper(t, data, spki, other), expect(1)); !errors.Is(err, ErrSignature) {
		t.Errorf("swapped SPKI pin: %v", err)
	}
	// A bundle without them has no such keys at all (older dnspins, which
	// refuse unknown signed fields, keep reading it).
	plain := mustSign(t, priv, payload(4, pin("shop.tickets.example", "192.0.2.10")))
	var env envelope
	json.Unmarshal(plain, &env)
	raw, _ := base64.StdEncoding.DecodeString(env.Payload)
	if strings.Contains(string(raw), "verify_") {
		t.Errorf("payload without trust: %s", raw)
	}
}

// Bad entries are refused, by Sign and by Verify alike, naming the
// platform, the key with its index and what to write.
func TestTrustRejects(t *testing.T) {
	pub, priv := newKey(t)
	ca := pinverifytest.NewCA(t)
	good := string(ca.PEM())
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	keyPEM := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
	broken := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	for _, tc := range []struct {
		name     string
		ca, spki []string
		msg      string
	}{
		{"not pem", []string{good, "MIIB..."}, nil, `platform "Example Tickets" verify_ca[1]: not PEM: write one "-----BEGIN CERTIFICATE-----" block`},
		{"text before", []string{"my CA\n" + good}, nil, `verify_ca[0]: not PEM`},
		{"two in one", []string{good + good}, nil, `verify_ca[0]: more than one certificate`},
		{"private key", []string{keyPEM}, nil, `verify_ca[0]: a "PRIVATE KEY" PEM block`},
		{"does not parse", []string{broken}, nil, `verify_ca[0]: the certificate does not parse`},
		{"too large", []string{good + strings.Repeat(" ", MaxVerifyCASize)}, nil, `verify_ca[0]: 1`},
		{"too many ca", many(MaxVerifyCA+1, good), nil, `verify_ca has 17 certificates, at most 16`},
		{"spki prefix", nil, []string{"sha1/AAAA"}, `platform "Example Tickets" verify_spki[0]: "sha1/AAAA" does not start with "sha256/"`},
		{"spki length", nil, []string{pinverify.SPKIPin(ca.Cert), "sha256/AAAA"}, `verify_spki[1]: "sha256/AAAA" is not sha256/ followed by 44 characters`},
		{"too many spki", nil, many(MaxVerifySPKI+1, pinverify.SPKIPin(ca.Cert)), `verify_spki has 33 pins, at most 32`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := payload(5, pin("shop.tickets.example", "192.0.2.10"))
			p.VerifyCA, p.VerifySPKI = tc.ca, tc.spki
			_, err := Sign(priv, p)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Sign: %v, want ErrMalformed saying %q", err, tc.msg)
			}
			// Signed by hand, as a tool other than dnspin might.
			p.Version = Version
			raw, _ := json.Marshal(p)
			env, _ := json.Marshal(envelope{Version: 1, Payload: base64.StdEncoding.EncodeToString(raw), Signature: base64.StdEncoding.EncodeToString(ed25519Sign(priv, raw))})
			_, err = Verify(pub, env, expect(1))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Verify: %v, want ErrMalformed saying %q", err, tc.msg)
			}
		})
	}
}

func ed25519Sign(priv ed25519.PrivateKey, b []byte) []byte { return ed25519.Sign(priv, b) }

// The fetcher hands the bundle's trust over before its pins: at a fetch, at
// a restart from the stored bundle, and the zero Trust when the bundle
// expires.
func TestFetcherAppliesTrust(t *testing.T) {
	h := newHarness(t)
	ca := pinverifytest.NewCA(t)
	p := payload(10, pin("shop.tickets.example", "192.0.2.10"))
	p.VerifyCA, p.VerifySPKI = []string{string(ca.PEM())}, []string{pinverify.SPKIPin(ca.Cert)}
	m := newMirror(t, mustSign(t, h.priv, p))
	var order []string
	var got []Trust
	o := h.opts(trust(m), m.url())
	o.Apply = func(pins []resolver.Pin) { order = append(order, "pins") }
	o.ApplyTrust = func(tr Trust) { order, got = append(order, "trust"), append(got, tr) }
	f := h.fetcher(t, o)
	if err := f.FetchNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, " ") != "trust pins" || len(got[0].CA) != 1 || !got[0].CA[0].Equal(ca.Cert) || len(got[0].SPKI) != 1 {
		t.Fatalf("fetch: %v %+v", order, got)
	}
	if st := f.Status(); st.VerifyCA != 1 || st.VerifySPKI != 1 {
		t.Errorf("status %+v", st)
	}
	order, got = nil, nil
	h.fetcher(t, o) // a restart: the stored bundle
	if strings.Join(order, " ") != "trust pins" || !got[0].Equal(Trust{CA: []*x509.Certificate{ca.Cert}, SPKI: got[0].SPKI}) {
		t.Errorf("restart: %v %+v", order, got)
	}
	order, got = nil, nil
	h.clock.Advance(31 * 24 * time.Hour)
	f.FetchNow(context.Background())
	if strings.Join(order, " ") != "trust pins" || !got[0].Empty() {
		t.Errorf("expiry: %v %+v", order, got)
	}
	if st := f.Status(); st.VerifyCA != 0 {
		t.Errorf("status after expiry %+v", st)
	}
}
