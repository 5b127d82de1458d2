package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const pinsTOML = `
[platform]
name = "Example Tickets"
domains = ["tickets.example"]

[[pin]]
name = "shop.tickets.example"
a = ["192.0.2.10", "192.0.2.11"]
aaaa = ["2001:db8::10"]

[[pin]]
name = "*.tickets.example"
a = ["192.0.2.20"]
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBundleKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "bundle.key")
	code, out, errs := runCmd(t, "bundle", "keygen", "--out", key)
	if code != 0 {
		t.Fatalf("keygen: exit %d, %s", code, errs)
	}
	pub := strings.TrimSpace(out)
	if !strings.HasPrefix(pub, "ed25519:") || strings.Contains(pub, "\n") {
		t.Fatalf("keygen printed %q", out)
	}
	if fi, err := os.Stat(key); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("private key %v, %v", fi.Mode(), err)
	}
	if code, _, errs := runCmd(t, "bundle", "keygen", "--out", key); code != 1 || !strings.Contains(errs, "already exists") {
		t.Errorf("keygen over an existing key: exit %d, %s", code, errs)
	}

	in := writeFile(t, dir, "pins.toml", pinsTOML)
	signed := filepath.Join(dir, "pins.json")
	code, out, errs = runCmd(t, "bundle", "sign", "--key", key, "--serial", "2026112601", "--expires", "30d", in, "-o", signed)
	if code != 0 || !strings.Contains(out, `platform "Example Tickets", serial 2026112601, 2 pins`) || !strings.Contains(out, pub) {
		t.Fatalf("sign: exit %d, out %q, err %q", code, out, errs)
	}

	code, out, errs = runCmd(t, "bundle", "verify", "--public-key", pub, "--platform", "Example Tickets", signed)
	if code != 0 {
		t.Fatalf("verify: exit %d, %s", code, errs)
	}
	if !strings.Contains(out, "(in 29d 23h)") && !strings.Contains(out, "(in 30d 0h)") {
		t.Errorf("verify output does not say it expires in 30 days:\n%s", out)
	}
	for _, want := range []string{"is valid", "serial 2026112601", "2 pins", "shop.tickets.example  A 192.0.2.10, 192.0.2.11  AAAA 2001:db8::10", "*.tickets.example  A 192.0.2.20"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}

	// Against a desktop config: key, platform and domains from it.
	cfg := writeFile(t, dir, "dnspin.toml", `
[platform]
name = "Example Tickets"
domains = ["tickets.example"]
[bundle]
urls = ["https://pins.example-mirror.net/pins.json"]
public_key = "`+pub+`"
`)
	if code, out, errs := runCmd(t, "bundle", "verify", "--config", cfg, signed); code != 0 || !strings.Contains(out, "is valid") || strings.Contains(out, "not checked") {
		t.Errorf("verify --config: exit %d, %s %s", code, out, errs)
	}

	// Tampered: one address changed inside the signed payload.
	b, _ := os.ReadFile(signed)
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	env["payload"] = base64.StdEncoding.EncodeToString(bytes.Replace(raw, []byte("192.0.2.10"), []byte("203.0.113.6"), 1))
	tb, _ := json.Marshal(env)
	tampered := writeFile(t, dir, "tampered.json", string(tb))
	code, out, errs = runCmd(t, "bundle", "verify", "--public-key", pub, tampered)
	if code != 1 || !strings.Contains(errs, "tampered.json is NOT valid: bundle signature invalid") || out != "" {
		t.Errorf("tampered: exit %d, out %q, err %q", code, out, errs)
	}

	// Another platform's desktop refuses it.
	code, _, errs = runCmd(t, "bundle", "verify", "--public-key", pub, "--platform", "Other Tickets", signed)
	if code != 1 || !strings.Contains(errs, `signed for "Example Tickets", this desktop protects "Other Tickets"`) {
		t.Errorf("other platform: exit %d, %s", code, errs)
	}

	// Another key refuses it.
	_, op, _ := runCmd(t, "bundle", "keygen", "--out", filepath.Join(dir, "other.key"))
	code, _, errs = runCmd(t, "bundle", "verify", "--public-key", strings.TrimSpace(op), signed)
	if code != 1 || !strings.Contains(errs, "signed with another key") {
		t.Errorf("wrong key: exit %d, %s", code, errs)
	}
}

func TestBundleSignInputs(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	_, pub, _ := runCmd(t, "bundle", "keygen", "--out", key)
	pub = strings.TrimSpace(pub)
	out := filepath.Join(dir, "out.json")

	// JSON list with --platform.
	jl := writeFile(t, dir, "list.json", `[{"name":"shop.tickets.example","a":["192.0.2.10"]}]`)
	if code, o, e := runCmd(t, "bundle", "sign", "--key", key, "--serial", "5", "--expires", "48h", "--platform", "Example Tickets", jl, "-o", out); code != 0 || !strings.Contains(o, "1 pins") {
		t.Fatalf("JSON list: exit %d, %s %s", code, o, e)
	}
	if code, _, e := runCmd(t, "bundle", "verify", "--public-key", pub, "--platform", "Example Tickets", out); code != 0 {
		t.Errorf("verify: %s", e)
	}

	for _, tc := range []struct {
		name, in string
		args     []string
		code     int
		msg      string
	}{
		{"no platform", `[{"name":"shop.tickets.example","a":["192.0.2.10"]}]`, nil, 2, "which platform"},
		{"outside domains", pinsTOML + "\n[[pin]]\nname = \"www.bank.example\"\na = [\"192.0.2.66\"]\n", nil, 1, "www.bank.example not under the platform's domains"},
		{"typo in a pin", "[[pin]]\nname = \"shop.tickets.example\"\naa = [\"192.0.2.1\"]\n", []string{"--platform", "P"}, 1, `unknown key "pin.aa"`},
		{"no pins", "[[pins]]\nname = \"x\"\n", []string{"--platform", "P"}, 1, "has no pins"},
		{"v6 in a", `{"platform":"P","pins":[{"name":"shop.tickets.example","a":["2001:db8::1"]}]}`, nil, 1, "is not an IPv4 address"},
		{"unknown json field", `{"platform":"P","pinz":[]}`, nil, 1, `unknown field "pinz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writeFile(t, dir, "in", tc.in)
			args := append([]string{"bundle", "sign", "--key", key, "--serial", "6", "--expires", "1h"}, tc.args...)
			code, _, e := runCmd(t, append(args, in, "-o", filepath.Join(dir, "bad.json"))...)
			if code != tc.code || !strings.Contains(e, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, e, tc.code, tc.msg)
			}
			if _, err := os.Stat(filepath.Join(dir, "bad.json")); err == nil {
				t.Error("a bundle was written")
			}
		})
	}
}

func TestBundleUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"bundle"},
		{"bundle", "frob"},
		{"bundle", "keygen"},
		{"bundle", "sign", "--key", "k", "--serial", "0", "--expires", "1h", "in", "-o", "out"},
		{"bundle", "sign", "--key", "k", "--serial", "1", "--expires", "soon", "in", "-o", "out"},
		{"bundle", "sign", "--key", "k", "--serial", "1", "--expires", "1h", "in"},
		{"bundle", "verify"},
		{"bundle", "verify", "--public-key", "rsa:AAAA", "f"},
		{"bundle", "verify", "--config", filepath.Join(dir, "missing.toml"), "f"},
	} {
		if code, _, e := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, e)
		}
	}
}

// Serials above 2^53-1 are refused in one line naming the value and the
// maximum, before anything is written; the maximum itself is fine.
func TestBundleSignSerialLimit(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	runCmd(t, "bundle", "keygen", "--out", key)
	in := writeFile(t, dir, "list.json", `[{"name":"shop.tickets.example","a":["192.0.2.10"]}]`)
	out := filepath.Join(dir, "out.json")
	for _, tc := range []struct {
		serial string
		code   int
	}{
		{"9007199254740990", 0},
		{"9007199254740991", 0},
		{"9007199254740992", 1},
		{"18446744073709551615", 1},
		{"18446744073709551616", 1},
	} {
		os.Remove(out)
		code, o, e := runCmd(t, "bundle", "sign", "--key", key, "--serial", tc.serial, "--expires", "1h", "--platform", "P", in, "-o", out)
		if code != tc.code {
			t.Errorf("serial %s: exit %d (%s%s), want %d", tc.serial, code, o, e, tc.code)
			continue
		}
		_, statErr := os.Stat(out)
		if tc.code == 0 {
			if statErr != nil || !strings.Contains(o, "serial "+tc.serial) {
				t.Errorf("serial %s: %v, %s", tc.serial, statErr, o)
			}
			continue
		}
		want := "dnspin bundle: --serial " + tc.serial + " is above the maximum 9007199254740991 (2^53-1): use a smaller serial"
		if strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, want) || statErr == nil {
			t.Errorf("serial %s: stderr %q, want one line starting %q and no file", tc.serial, e, want)
		}
	}
}
