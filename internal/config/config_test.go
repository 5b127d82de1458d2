package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsWhenEmpty(t *testing.T) {
	c, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Outage.AnswerBudget.Duration != 300*time.Millisecond || c.Outage.RecoverAfter != 3 ||
		c.Mode != "auto" || c.Activation != "scoped" || len(c.Listen) != 2 || c.StateDir == "" {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "examples", "dnspin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Pins) == 0 || len(c.Platform.Domains) == 0 {
		t.Fatalf("example config has no pins or domains: %+v", c)
	}
	if ups := c.UpstreamAddrs([]string{"192.0.2.53"}); len(ups) == 0 || c.Outage.AnswerBudget.Duration == 0 {
		t.Fatalf("example config incomplete: upstreams %v, %+v", ups, c.Outage)
	}
}

func TestFullFile(t *testing.T) {
	src := `
listen = ["127.0.0.1:5353"]
upstreams = ["system", "192.0.2.1", "[2001:db8::1]:5300"]
activation = "full"
mode = "pinned"
state_dir = "/tmp/x"

[platform]
name = "T"
domains = ["Tickets.Example.", "cdn.example"]

[[pin]]
name = "*.Tickets.example"
a = ["192.0.2.10"]
aaaa = ["2001:db8::10"]

[outage]
answer_budget = "100ms"
recover_after = 5

[bundle]
urls = ["https://pins.example/p.json"]
public_key = "ed25519:AAAA"
refresh = "1h"

[log]
max_size_mb = 2
max_files = 1
`
	c, err := Parse("full.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Platform.Domains[0] != "tickets.example" || c.Pins[0].Name != "*.tickets.example" {
		t.Errorf("names not canonical: %v %v", c.Platform.Domains, c.Pins[0].Name)
	}
	ups := c.UpstreamAddrs([]string{"10.9.9.9", "192.0.2.1"})
	want := []string{"10.9.9.9:53", "192.0.2.1:53", "[2001:db8::1]:5300"}
	if strings.Join(ups, ",") != strings.Join(want, ",") {
		t.Errorf("upstreams = %v, want %v (system expanded, deduplicated)", ups, want)
	}
	if o := c.Outage; o.AnswerBudget.Duration != 100*time.Millisecond || o.RecoverAfter != 5 || o.ClientTimeout.Duration != 1800*time.Millisecond {
		t.Errorf("outage values wrong: %+v", o)
	}
}

func TestErrorsNameFileLineKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"listen = [\"0.0.0.0:53\"]\n", "x.toml:1: listen: 0.0.0.0:53 is not a loopback address"},
		{"\nlisten = [\"localhost\"]\n", "x.toml:2: listen: \"localhost\" is not IP:port"},
		{"mode = \"fast\"\n", "x.toml:1: mode: unknown mode \"fast\""},
		{"activation = \"all\"\n", "activation: \"all\" is not scoped or full"},
		{"upstreams = [\"dns.google\"]\n", "upstreams: \"dns.google\" is not"},
		{"[outage]\n\nanswer_budget = \"fast\"\n", "x.toml:3: outage.answer_budget: \"fast\" is not a duration"},
		{"[outage]\nstale_ttl = \"10ms\"\n", "x.toml:2: outage.stale_ttl: must be at least 1s"},
		{"[outage]\nrecover_after = 0\n", "outage.recover_after: must be 1 or more"},
		{"lisen = []\n", "x.toml:1: unknown key \"lisen\""},
		{"[outage]\nbudget = \"1s\"\n", "x.toml:2: unknown key \"outage.budget\""},
		{"[[pin]]\nname = \"a.example\"\na = [\"300.1.1.1\"]\n", "x.toml:3: pin.a: \"300.1.1.1\" is not an IP address"},
		{"[[pin]]\nname = \"a.example\"\na = [\"2001:db8::1\"]\n", "2001:db8::1 is not an IPv4 address"},
		{"[[pin]]\nname = \"a.example\"\n", "pin \"a.example\" has no addresses"},
		{"[[pin]]\nname = \"a.example\"\naaaa = [\"fe80::1%eth0\"]\n", "x.toml:3: pin.aaaa: pin \"a.example\": fe80::1%eth0 has a zone"},
		{"[[pin]]\nname = \"a.example\"\naaaa = [\"::ffff:192.0.2.1\"]\n", "x.toml:3: pin.aaaa: pin \"a.example\": ::ffff:192.0.2.1 is not an IPv6 address"},
		{"[[pin]]\nname = \"a.*.example\"\na = [\"192.0.2.1\"]\n", "is not a name like"},
		{"[platform]\ndomains = [\"*.example\"]\n", "platform.domains: \"*.example\""},
		{"[platform]\ndomains = [\"a b\"]\n", "x.toml:2: platform.domains: \"a b\" is not a domain name like \"tickets.example\""},
		{"[platform]\ndomains = [\"tickets.example/\"]\n", "platform.domains: \"tickets.example/\" is not a domain name"},
		{"[platform]\ndomains = [\"tickets.example\"]\n[[pin]]\nname = \"bank.example\"\na = [\"192.0.2.1\"]\n", "x.toml:4: pin.name: pin \"bank.example\" is not under a platform domain"},
		{"[platform]\ndomains = [\"tickets.example\"]\n[[pin]]\nname = \"*.xtickets.example\"\na = [\"192.0.2.1\"]\n", "is not under a platform domain"},
		{"[bundle]\nurls = [\"http://x/p.json\"]\npublic_key = \"ed25519:AA\"\n", "bundle.urls: \"http://x/p.json\" must start with https://"},
		{"[bundle]\nurls = [\"https://x/p.json\"]\n", "bundle.public_key"},
		{"[log]\nmax_size_mb = 0\n", "log.max_size_mb"},
		{"listen = [\n", "x.toml:1: listen: unexpected EOF"},
		{"[platform]\nverify_port = 0\n", "x.toml:2: platform.verify_port: 0 is not a TCP port: write the port"},
		{"[platform]\nverify_ca = \"ca.pem\"\n", "x.toml:2: platform.verify_ca: \"ca.pem\" must be an absolute path"},
		{"[platform]\nverify_ca = \"/nonexistent/ca.pem\"\n", "platform.verify_ca: CA file /nonexistent/ca.pem: open"},
		{"[platform]\nverify_spki = [\"sha256/AAAA\"]\n", "x.toml:2: platform.verify_spki: \"sha256/AAAA\" is not sha256/ followed by 44 characters"},
		{"[platform]\nverify_spki = [\"AAAA\"]\n", "platform.verify_spki: \"AAAA\" does not start with \"sha256/\""},
		{"[platform]\nverify_interval = \"5s\"\n", "platform.verify_interval: must be at least 1m"},
		{"[platform]\nverify_timeout = \"0s\"\n", "x.toml:2: platform.verify_timeout: must be between 100ms and 1m"},
	} {
		_, err := Parse("x.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tc.src, err, tc.want)
		}
	}
}

func TestAllowRemote(t *testing.T) {
	c, err := Parse("r.toml", []byte("allow_remote = true\nallow_clients = [\"192.168.1.0/24\", \"2001:db8::/64\", \"10.1.2.3\", \"10.9.9.9/8\"]\nlisten = [\"0.0.0.0:53\"]\n"))
	if err != nil {
		t.Fatalf("allow_remote with a client list should permit a non-loopback listen address: %v", err)
	}
	got := fmt.Sprint(c.ClientNetworks())
	if want := "[192.168.1.0/24 2001:db8::/64 10.1.2.3/32 10.0.0.0/8]"; got != want {
		t.Errorf("AllowClients = %s, want %s", got, want)
	}
	for _, tc := range []struct{ src, want string }{
		{"allow_remote = true\nlisten = [\"0.0.0.0:53\"]\n",
			`config r.toml:1: allow_remote: needs a list of the clients that may ask: add allow_clients = ["192.168.1.0/24"] with your networks (loopback is always allowed)`},
		{"allow_remote = true\nallow_clients = []\n",
			`config r.toml:1: allow_remote: needs a list of the clients that may ask: add allow_clients = ["192.168.1.0/24"] with your networks (loopback is always allowed)`},
		{"allow_remote = true\nallow_clients = [\"192.168.1.0/33\"]\n",
			`config r.toml:2: allow_clients: "192.168.1.0/33" is not a network: write it like "192.168.1.0/24", "2001:db8::/64" or a single address "192.168.1.20"`},
		{"allow_clients = [\"192.168.1.0/24\"]\n",
			`config r.toml:1: allow_clients: has no effect without allow_remote = true (dnspin listens on loopback only): set allow_remote = true too, or remove allow_clients`},
	} {
		if _, err := Parse("r.toml", []byte(tc.src)); err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml does not exist") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat("."); err != nil {
		t.Fatal(err)
	}
}

func TestStartWarnings(t *testing.T) {
	c, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Unprotected(), `empty.toml protects no names: it has no [platform] domains, so dnspin only forwards DNS; add them under [platform], e.g. domains = ["tickets.example"]`; got != want {
		t.Errorf("Unprotected:\n got %s\nwant %s", got, want)
	}
	if c.Exposure(nil) != "" {
		t.Errorf("loopback only, yet Exposure = %q", c.Exposure(nil))
	}
	c, err = Parse("lan.toml", []byte("listen = [\"127.0.0.1:53\", \"[::]:53\"]\nallow_remote = true\nallow_clients = [\"192.168.1.0/24\", \"2001:db8::/64\"]\n[platform]\ndomains = [\"tickets.example\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Unprotected() != "" {
		t.Errorf("with domains, Unprotected = %q", c.Unprotected())
	}
	if got, want := c.Exposure(nil), "allow_remote is on: other machines can ask dnspin on [::]:53 (UDP and TCP); allowed clients: loopback, 192.168.1.0/24, 2001:db8::/64; everyone else gets REFUSED"; got != want {
		t.Errorf("Exposure:\n got %s\nwant %s", got, want)
	}
}

func TestVerifyCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := "[platform]\nverify_ca = \"" + bad + "\"\n"
	_, err := Parse("x.toml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "x.toml:2: platform.verify_ca: CA file "+bad+" holds no PEM certificate: write") {
		t.Errorf("Parse with a CA file that is not PEM: %v", err)
	}
	c, err := Parse("x.toml", []byte("[platform]\nverify_spki = [\"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"]\nverify_interval = \"0s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := c.PinVerify()
	if err != nil || o.Port != 443 || o.Timeout != 3*time.Second || len(o.SPKI) != 1 || o.Roots != nil || c.Platform.VerifyInterval.Duration != 0 {
		t.Errorf("PinVerify = %+v, %v; want port 443, one SPKI pin, the OS roots (nil: crypto/tls loads them at the first handshake), verification off", o, err)
	}
}

// TestListenAddrs: the listen key and --listen go through the one check;
// what passes reaches the resolver parsed.
func TestListenAddrs(t *testing.T) {
	t.Parallel()
	if got := fmt.Sprint(Default().ListenAddrs()); got != "[127.0.0.1:53 [::1]:53]" {
		t.Errorf("default listen addresses %s", got)
	}
	c, err := Parse("l.toml", []byte("listen = [\"127.0.0.1:5353\", \"[::1]:5353\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.ListenAddrs()); got != "[127.0.0.1:5353 [::1]:5353]" {
		t.Errorf("parsed listen addresses %s", got)
	}
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"0.0.0.0:53"}, "--listen: 0.0.0.0:53 is not a loopback address: dnspin listens on loopback only so it is never an open resolver; set allow_remote = true"},
		{[]string{"127.0.0.1:53", "localhost"}, `--listen: "localhost" is not IP:port (write IPv6 as "[::1]:53")`},
		{[]string{"::1:53"}, `--listen: "::1:53" is not IP:port`},
	} {
		err := c.SetListen(tc.addrs)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("SetListen(%q) = %v, want %q", tc.addrs, err, tc.want)
		}
	}
	if got := fmt.Sprint(c.ListenAddrs()) + " " + strings.Join(c.Listen, ","); got != "[127.0.0.1:5353 [::1]:5353] 127.0.0.1:5353,[::1]:5353" {
		t.Errorf("after refused SetListen calls: %s, want the file's addresses unchanged", got)
	}
	if err := c.SetListen([]string{"127.0.0.2:53"}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.ListenAddrs()) + " " + strings.Join(c.Listen, ","); got != "[127.0.0.2:53] 127.0.0.2:53" {
		t.Errorf("after SetListen: %s", got)
	}
	remote, err := Parse("r.toml", []byte("allow_remote = true\nallow_clients = [\"192.168.1.0/24\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.SetListen([]string{"0.0.0.0:53"}); err != nil {
		t.Errorf("SetListen with allow_remote: %v", err)
	}
}
