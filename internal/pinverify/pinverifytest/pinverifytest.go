// Package pinverifytest makes what tests of pin verification need: a CA of
// their own (trusted only through the test's roots, never the machine's
// store), server certificates, and TLS servers that answer, or accept and
// never say a word, and a port that accepts and closes.
package pinverifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"
)

// CA is a CA made for one test.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid around now.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dnspin test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c, key: key}
}

// Pool is a trust store holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM is the CA certificate in PEM, as a verify_ca file holds it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Leaf issues a server certificate for names.
func (ca *CA) Leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// ServeTLS answers TLS handshakes on addr with cert until the test ends;
// it returns the bound address.
func ServeTLS(t testing.TB, addr string, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln, func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.(*tls.Conn).Handshake()
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			_, _ = c.Read(make([]byte, 1)) // until the client hangs up
		}()
	})
}

// ServeSilent accepts connections on addr and never says a word: the
// handshake can only end by the client's timeout.
func ServeSilent(t testing.TB, addr string) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	serve(t, listen(t, addr), func(c net.Conn) { go func() { <-done; c.Close() }() })
}

// ServeAccept accepts connections on addr and closes each at once: a port
// that is open and nothing more, for checks that only connect. It returns
// the address it listens on (the port chosen when addr's is 0).
func ServeAccept(t testing.TB, addr string) string {
	t.Helper()
	return serve(t, listen(t, addr), func(c net.Conn) { c.Close() })
}

func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve hands every connection ln accepts to handle until the test ends,
// and returns ln's address.
func serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	return ln.Addr().String()
}

// Scene is the pin-check set-up the verifier's and the daemon's namespace
// tests share: HTTPS on port 443 of three loopback addresses, which only a
// test in its own network namespace may take.
type Scene struct {
	CA *CA
	// Genuine (127.0.0.11) answers with a certificate for the names given.
	Genuine netip.Addr
	// Impostor (127.0.0.12) answers with a certificate for other.example.
	Impostor netip.Addr
	// Silent (127.0.0.13) accepts and never says a word.
	Silent netip.Addr
}

// ServeScene makes a CA and serves the Scene until the test ends; names
// are what the genuine server's certificate is valid for.
func ServeScene(t testing.TB, names ...string) *Scene {
	t.Helper()
	s := &Scene{CA: NewCA(t), Genuine: netip.MustParseAddr("127.0.0.11"),
		Impostor: netip.MustParseAddr("127.0.0.12"), Silent: netip.MustParseAddr("127.0.0.13")}
	ServeTLS(t, netip.AddrPortFrom(s.Genuine, 443).String(), s.CA.Leaf(t, names...))
	ServeTLS(t, netip.AddrPortFrom(s.Impostor, 443).String(), s.CA.Leaf(t, "other.example"))
	ServeSilent(t, netip.AddrPortFrom(s.Silent, 443).String())
	return s
}
