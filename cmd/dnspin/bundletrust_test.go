package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
)

// TestBundleSignVerifyTrust signs a pin list whose [platform] names a CA
// file and SPKI pins, as a desktop config would, and verify shows them; bad
// entries are refused with the file, the key and what to write.
func TestBundleSignVerifyTrust(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	_, pub, _ := runCmd(t, "bundle", "keygen", "--out", key)
	pub = strings.TrimSpace(pub)
	ca1, ca2 := pinverifytest.NewCA(t), pinverifytest.NewCA(t)
	// Two certificates in one file (the current CA and the next).
	writeFile(t, dir, "platform-ca.pem", string(ca1.PEM())+string(ca2.PEM()))
	spki := pinverify.SPKIPin(ca2.Cert)
	in := writeFile(t, dir, "pins.toml", `[platform]
name = "Example Tickets"
domains = ["tickets.example"]
verify_ca = "platform-ca.pem"   # relative to this file
verify_spki = ["`+spki+`"]
verify_interval = "1h"          # the desktops' own setting: not signed, not refused
[[pin]]
name = "shop.tickets.example"
a = ["192.0.2.10"]
`)
	out := filepath.Join(dir, "pins.json")
	code, o, e := runCmd(t, "bundle", "sign", "--key", key, "--serial", "7", "--expires", "30d", in, "-o", out)
	if code != 0 || !strings.Contains(o, "1 pins, 2 CA certificates, 1 SPKI pins") {
		t.Fatalf("sign: exit %d, %s %s", code, o, e)
	}
	data, _ := os.ReadFile(out)
	p, err := bundle.Verify(mustPub(t, pub), data, bundle.Expect{Platform: "Example Tickets", Now: time.Now()})
	if err != nil || len(p.Trust().CA) != 2 || !p.Trust().CA[1].Equal(ca2.Cert) || len(p.Trust().SPKI) != 1 {
		t.Fatalf("signed bundle: %+v, %v", p, err)
	}
	code, o, e = runCmd(t, "bundle", "verify", "--public-key", pub, "--platform", "Example Tickets", out)
	if code != 0 || strings.Count(o, "verify_ca    CN=dnspin test CA") != 2 || !strings.Contains(o, "verify_spki  "+spki) ||
		!strings.Contains(o, "instead of their config's") {
		t.Errorf("verify: exit %d\n%s%s", code, o, e)
	}

	for _, tc := range []struct{ name, platform, msg string }{
		{"missing CA file", `verify_ca = "nope.pem"`, `verify_ca: CA file ` + filepath.Join(dir, "nope.pem")},
		{"bad spki", `verify_spki = ["sha256/AAAA"]`, `platform "Example Tickets" verify_spki[0]: "sha256/AAAA" is not sha256/ followed by 44 characters`},
		{"typo", `verify_skpi = ["x"]`, `unknown key "platform.verify_skpi"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, dir, "bad.toml", "[platform]\nname = \"Example Tickets\"\n"+tc.platform+"\n[[pin]]\nname = \"shop.tickets.example\"\na = [\"192.0.2.10\"]\n")
			code, _, e := runCmd(t, "bundle", "sign", "--key", key, "--serial", "8", "--expires", "1h", bad, "-o", filepath.Join(dir, "bad.json"))
			if code != 1 || !strings.Contains(e, tc.msg) || !strings.Contains(e, "bad.toml") {
				t.Errorf("exit %d, stderr %q; want %q", code, e, tc.msg)
			}
		})
	}
}

func mustPub(t *testing.T, s string) []byte {
	t.Helper()
	k, err := bundle.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
