package bundle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/resolver"
)

var t0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

const platform = "Example Tickets"

var domains = []string{"tickets.example", "cdn-tickets.example"}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func pin(name string, addrs ...string) resolver.Pin {
	p := resolver.Pin{Name: name}
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		if ip.Is4() {
			p.A = append(p.A, ip)
		} else {
			p.AAAA = append(p.AAAA, ip)
		}
	}
	return p
}

func payload(serial uint64, pins ...resolver.Pin) Payload {
	return Payload{Platform: platform, Serial: serial, Issued: t0, Expires: t0.Add(30 * 24 * time.Hour), Pins: pins}
}

func mustSign(t *testing.T, priv ed25519.PrivateKey, p Payload) []byte {
	t.Helper()
	b, err := Sign(priv, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper rewrites the signed payload bytes and keeps the old signature.
func tamper(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(env.Payload)
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("payload %s has no %q", raw, old)
	}
	env.Payload = base64.StdEncoding.EncodeToString(bytes.ReplaceAll(raw, []byte(old), []byte(new)))
	out, _ := json.Marshal(env)
	return out
}

func expect(minSerial uint64) Expect {
	return Expect{Platform: platform, Domains: domains, MinSerial: minSerial, Now: t0.Add(time.Hour)}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	pub, priv := newKey(t)
	in := payload(7, pin("Shop.Tickets.Example.", "192.0.2.10", "2001:db8::10"), pin("*.cdn-tickets.example", "192.0.2.20"))
	data := mustSign(t, priv, in)
	p, err := Verify(pub, data, expect(1))
	if err != nil {
		t.Fatal(err)
	}
	if p.Serial != 7 || p.Platform != platform || !p.Expires.Equal(in.Expires) || !p.Issued.Equal(t0) {
		t.Errorf("payload %+v", p)
	}
	if len(p.Pins) != 2 || p.Pins[0].Name != "shop.tickets.example" || p.Pins[0].AAAA[0] != netip.MustParseAddr("2001:db8::10") || p.Pins[1].Name != "*.cdn-tickets.example" {
		t.Errorf("pins %+v", p.Pins)
	}
	if len(p.Dropped) != 0 {
		t.Errorf("dropped %v", p.Dropped)
	}
	// The file is the documented envelope.
	var env map[string]any
	if err := json.Unmarshal(data, &env); err != nil || env["version"] != float64(1) || env["payload"] == nil || env["signature"] == nil || len(env) != 3 {
		t.Errorf("envelope %s", data)
	}
}

func TestVerifyRejects(t *testing.T) {
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	good := payload(11, pin("shop.tickets.example", "192.0.2.66"))
	other := good
	other.Platform = "Other Tickets"
	expired := good
	expired.Issued, expired.Expires = t0.Add(-60*24*time.Hour), t0.Add(-time.Hour)
	foreign := payload(11, pin("www.bank.example", "192.0.2.66"), pin("*.example", "192.0.2.67"))
	big := mustSign(t, priv, good)
	big = append(big, bytes.Repeat([]byte(" "), DefaultMaxSize)...)
	swapped := func() []byte {
		// Signature of one valid bundle on the payload of another.
		a := mustSign(t, priv, good)
		b := mustSign(t, priv, payload(12, pin("shop.tickets.example", "192.0.2.99")))
		var ea, eb envelope
		json.Unmarshal(a, &ea)
		json.Unmarshal(b, &eb)
		ea.Signature = eb.Signature
		out, _ := json.Marshal(ea)
		return out
	}()
	for _, tc := range []struct {
		name string
		data []byte
		min  uint64
		want error
		msg  string
	}{
		{"tampered payload", tamper(t, mustSign(t, priv, good), "192.0.2.66", "192.0.2.99"), 1, ErrSignature, "does not verify with public key"},
		{"signature of another bundle", swapped, 1, ErrSignature, "does not verify"},
		{"wrong key", mustSign(t, otherPriv, good), 1, ErrSignature, "signed with another key"},
		{"other platform", mustSign(t, priv, other), 1, ErrPlatform, `signed for "Other Tickets", this desktop protects "Example Tickets"`},
		{"expired", mustSign(t, priv, expired), 1, ErrExpired, "expired at 2026-11-25T23:00:00Z"},
		{"rollback", mustSign(t, priv, good), 13, ErrRollback, "serial 11, the one in use is 12"},
		{"same serial", mustSign(t, priv, good), 12, ErrRollback, "serial 11, the one in use is 11"},
		{"all names outside domains", mustSign(t, priv, foreign), 1, ErrDomains, "www.bank.example, *.example"},
		{"oversized", big, 1, ErrTooLarge, "the limit is 262144"},
		{"not json", []byte("<html>404</html>"), 1, ErrMalformed, "not a bundle file"},
		{"newer format", []byte(`{"version":2,"payload":"e30=","signature":"AA=="}`), 1, ErrVersion, "update dnspin"},
		{"signature not base64", []byte(`{"version":1,"payload":"e30=","signature":"!!"}`), 1, ErrSignature, "not a base64 ed25519 signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Verify(pub, tc.data, expect(tc.min))
			if !errors.Is(err, tc.want) || p != nil {
				t.Fatalf("Verify = %v, %v; want %v", p, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// A signed payload that is wrong in content is refused even with a good
// signature: Verify does not trust the signer to have used dnspin bundle sign.
func TestVerifyRejectsBadSignedContent(t *testing.T) {
	pub, priv := newKey(t)
	signRaw := func(raw string) []byte {
		env := envelope{Version: 1, Payload: base64.StdEncoding.EncodeToString([]byte(raw)), Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(raw)))}
		b, _ := json.Marshal(env)
		return b
	}
	const times = `"issued":"2026-11-26T00:00:00Z","expires":"2026-12-26T00:00:00Z"`
	for name, raw := range map[string]string{
		"unknown field":  `{"version":1,"platform":"Example Tickets","serial":3,` + times + `,"pins":[],"mode":"evil"}`,
		"serial zero":    `{"version":1,"platform":"Example Tickets","serial":0,` + times + `,"pins":[]}`,
		"v6 in a":        `{"version":1,"platform":"Example Tickets","serial":3,` + times + `,"pins":[{"name":"shop.tickets.example","a":["2001:db8::1"]}]}`,
		"no addresses":   `{"version":1,"platform":"Example Tickets","serial":3,` + times + `,"pins":[{"name":"shop.tickets.example"}]}`,
		"duplicate":      `{"version":1,"platform":"Example Tickets","serial":3,` + times + `,"pins":[{"name":"shop.tickets.example","a":["192.0.2.1"]},{"name":"SHOP.tickets.example.","a":["192.0.2.2"]}]}`,
		"bad name":       `{"version":1,"platform":"Example Tickets","serial":3,` + times + `,"pins":[{"name":"shop..tickets.example","a":["192.0.2.1"]}]}`,
		"expires first":  `{"version":1,"platform":"Example Tickets","serial":3,"issued":"2026-12-26T00:00:00Z","expires":"2026-11-26T00:00:00Z","pins":[]}`,
		"payload v2":     `{"version":2,"platform":"Example Tickets","serial":3,` + times + `,"pins":[]}`,
		"inner wildcard": `{"version":1,"platform":"Example Tickets","serial":3,` + times + `,"pins":[{"name":"a.*.tickets.example","a":["192.0.2.1"]}]}`,
	} {
		if p, err := Verify(pub, signRaw(raw), expect(1)); err == nil {
			t.Errorf("%s: accepted %+v", name, p)
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
			t.Errorf("%s: %v is not ErrMalformed", name, err)
		}
	}
}

func TestVerifyDropsForeignPins(t *testing.T) {
	pub, priv := newKey(t)
	data := mustSign(t, priv, payload(5,
		pin("shop.tickets.example", "192.0.2.10"),
		pin("www.bank.example", "192.0.2.66"),
		pin("*.example", "192.0.2.67"),
		pin("tickets.example.evil", "192.0.2.68"),
		pin("cdn-tickets.example", "192.0.2.20"),
	))
	p, err := Verify(pub, data, expect(1))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, x := range p.Pins {
		kept = append(kept, x.Name)
	}
	if strings.Join(kept, " ") != "shop.tickets.example cdn-tickets.example" {
		t.Errorf("kept %v", kept)
	}
	if strings.Join(p.Dropped, " ") != "www.bank.example *.example tickets.example.evil" {
		t.Errorf("dropped %v", p.Dropped)
	}
}

func TestSignRefusesBadPayload(t *testing.T) {
	_, priv := newKey(t)
	for name, p := range map[string]Payload{
		"no platform": {Serial: 1, Issued: t0, Expires: t0.Add(time.Hour)},
		"serial 0":    {Platform: platform, Issued: t0, Expires: t0.Add(time.Hour)},
		"expires":     {Platform: platform, Serial: 1, Issued: t0, Expires: t0},
		"bad pin":     payload(1, resolver.Pin{Name: "x.tickets.example"}),
		// dnsname.CheckPin's table has every case; these two were accepted
		// by bundles alone (the name) or by the config alone (the zone)
		// before both used it.
		"bad name":   payload(1, pin("a b.tickets.example", "192.0.2.1")),
		"zoned aaaa": payload(1, resolver.Pin{Name: "x.tickets.example", AAAA: []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}}),
	} {
		if _, err := Sign(priv, p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Sign = %v", name, err)
		}
	}
	if _, err := Sign(priv[:10], payload(1)); err == nil {
		t.Error("short private key accepted")
	}
}

func TestKeys(t *testing.T) {
	pub, priv := newKey(t)
	s := FormatPublicKey(pub)
	if !strings.HasPrefix(s, "ed25519:") {
		t.Fatal(s)
	}
	back, err := ParsePublicKey(" " + s + "\n")
	if err != nil || !back.Equal(pub) {
		t.Fatalf("ParsePublicKey = %v, %v", back, err)
	}
	for _, bad := range []string{"", "rsa:AAAA", "ed25519:!!", "ed25519:" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	pemb, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(pemb)
	if err != nil || !k.Equal(priv) {
		t.Fatalf("ParsePrivateKey = %v", err)
	}
	if _, err := ParsePrivateKey([]byte(s)); err == nil {
		t.Error("public key text accepted as private key")
	}
}

func FuzzVerify(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	good, _ := Sign(priv, payload(3, pin("shop.tickets.example", "192.0.2.1")))
	f.Add(good)
	f.Add([]byte(`{"version":1,"payload":"e30=","signature":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Verify(pub, data, expect(1))
		if err == nil && (p == nil || p.Serial < 1 || p.Platform != platform) {
			t.Fatalf("accepted %+v", p)
		}
	})
}
