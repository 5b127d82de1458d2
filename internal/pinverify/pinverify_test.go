package pinverify

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver"
)

// TestSPKI checks the SPKI pins on top of the chain check, against a real
// TLS server on 127.0.0.1.
func TestSPKI(t *testing.T) {
	t.Parallel()
	ca := pinverifytest.NewCA(t)
	other := pinverifytest.NewCA(t)
	_, port, _ := net.SplitHostPort(pinverifytest.ServeTLS(t, "127.0.0.1:0", ca.Leaf(t, "box.tickets.test")))
	p, _ := strconv.Atoi(port)
	target := []Target{{Name: "box.tickets.test", Addr: netip.MustParseAddr("127.0.0.1")}}
	pinOf := func(c *x509.Certificate) [sha256.Size]byte {
		pins, err := ParseSPKI([]string{SPKIPin(c)})
		if err != nil {
			t.Fatal(err)
		}
		return pins[0]
	}
	for _, tc := range []struct {
		name string
		spki [][sha256.Size]byte
		want State
	}{
		{"no pins", nil, Verified},
		{"CA key pinned", [][sha256.Size]byte{pinOf(ca.Cert)}, Verified},
		{"another key pinned", [][sha256.Size]byte{pinOf(other.Cert)}, Failed},
	} {
		res := Verify(context.Background(), target, Options{Port: p, Timeout: time.Minute, Roots: ca.Pool(), SPKI: tc.spki})
		if res[0].State != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, res[0].State, res[0].Error, tc.want)
		}
		if tc.want == Failed && !strings.Contains(res[0].Error, "verify_spki") {
			t.Errorf("%s: error %q does not name platform.verify_spki", tc.name, res[0].Error)
		}
	}
	// Trusted by nobody: the machine's store does not know the test CA.
	res := Verify(context.Background(), target, Options{Port: p, Timeout: time.Minute, Roots: other.Pool()})
	if res[0].State != Failed || !strings.Contains(res[0].Error, "unknown authority") {
		t.Errorf("untrusted CA: %s (%s), want failed: unknown authority", res[0].State, res[0].Error)
	}
}

func TestParseSPKI(t *testing.T) {
	good := "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	if pins, err := ParseSPKI([]string{good}); err != nil || len(pins) != 1 {
		t.Fatalf("ParseSPKI(%q) = %v, %v", good, pins, err)
	}
	for _, bad := range []string{"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "sha256/not base64!", "sha256/AAAA", "sha1/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="} {
		_, err := ParseSPKI([]string{good, bad})
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) || !strings.Contains(err.Error(), "sha256/") {
			t.Errorf("ParseSPKI(%q) = %v; want an error naming it and the form to write", bad, err)
		}
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ name, body, want string }{
		{"empty.pem", "", "holds no PEM certificate"},
		{"key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", `"PRIVATE KEY" PEM block`},
		{"junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1 does not parse"},
	} {
		p := write(tc.name, tc.body)
		_, err := LoadCA(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadCA(%s) = %v; want the path and %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadCA(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("LoadCA(missing) = %v", err)
	}
}

func TestTargets(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	got := Targets([]resolver.Pin{
		{Name: "Box.Tickets.Test.", A: []netip.Addr{a("192.0.2.1")}, AAAA: []netip.Addr{a("2001:db8::1")}},
		{Name: "*.cdn.tickets.test", A: []netip.Addr{a("192.0.2.2")}},
		{Name: "box.tickets.test", A: []netip.Addr{a("192.0.2.1")}}, // same again (config and bundle)
	})
	want := []Target{{"box.tickets.test", a("192.0.2.1")}, {"box.tickets.test", a("2001:db8::1")}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Targets = %v, want %v", got, want)
	}
}
