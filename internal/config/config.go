// Package config reads dnspin's TOML configuration (docs/configuration.md). Every
// key is optional and defaults to what a user would pick; unknown keys and bad
// values are errors that name the file, the line and the key, and say what
// form is expected.
package config

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/dnspin/dnspin/internal/dnsname"
	"github.com/dnspin/dnspin/internal/mode"
	"github.com/dnspin/dnspin/internal/paths"
	"github.com/dnspin/dnspin/internal/pinverify"
)

// Duration is a Go duration ("300ms", "72h") in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like \"300ms\", \"10s\" or \"72h\"", b)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative: durations must be zero or more", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in Go form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Config is the whole file. Field names follow the TOML keys.
type Config struct {
	Listen      []string `toml:"listen"`
	AllowRemote bool     `toml:"allow_remote"`
	// AllowClients are the networks (CIDR, or a single address) besides
	// loopback that may ask dnspin; required with allow_remote.
	AllowClients []string `toml:"allow_clients"`
	Upstreams    []string `toml:"upstreams"`
	Activation   string   `toml:"activation"`
	Mode         string   `toml:"mode"`
	StateDir     string   `toml:"state_dir"`
	Control      string   `toml:"control"`
	CacheSize    int      `toml:"cache_size"`

	Platform Platform      `toml:"platform"`
	Pins     []dnsname.Pin `toml:"pin"`
	Outage   Outage        `toml:"outage"`
	Bundle   Bundle        `toml:"bundle"`
	Log      Log           `toml:"log"`

	// Path is the file this was read from; "" for built-in defaults.
	Path string `toml:"-"`

	// listen is Listen parsed, by the one check (checkListen).
	listen []netip.AddrPort
}

// Platform names the protected domains and how their pins are verified
// (docs/pin-verification.md).
type Platform struct {
	Name    string   `toml:"name"`
	Domains []string `toml:"domains"`
	// VerifyPort is where pinned addresses are checked by TLS handshake.
	VerifyPort int `toml:"verify_port"`
	// VerifyCA is a PEM file of CA certificates trusted besides the OS's.
	VerifyCA string `toml:"verify_ca"`
	// VerifySPKI, if set, are "sha256/BASE64" keys one of which the
	// verified chain must carry (for platforms that pin their own keys).
	VerifySPKI []string `toml:"verify_spki"`
	// VerifyInterval is how often pins are checked while DNS is healthy
	// (with jitter); 0 turns verification off.
	VerifyInterval Duration `toml:"verify_interval"`
	// VerifyTimeout bounds one address's connection and handshake.
	VerifyTimeout Duration `toml:"verify_timeout"`
}

// Outage tunes the outage behaviour (docs/architecture.md, "How a query is answered").
type Outage struct {
	AnswerBudget  Duration `toml:"answer_budget"`
	ClientTimeout Duration `toml:"client_timeout"`
	StaleTTL      Duration `toml:"stale_ttl"`
	MaxStale      Duration `toml:"max_stale"`
	ProbeInterval Duration `toml:"probe_interval"`
	RecoverAfter  int      `toml:"recover_after"`
}

// Bundle configures signed pin bundles fetched from mirrors.
type Bundle struct {
	URLs      []string `toml:"urls"`
	PublicKey string   `toml:"public_key"`
	Refresh   Duration `toml:"refresh"`
}

// Log bounds the service's log file.
type Log struct {
	MaxSizeMB int `toml:"max_size_mb"`
	MaxFiles  int `toml:"max_files"`
}

// Default returns the configuration used when a key is absent.
func Default() *Config {
	p := paths.Default()
	return &Config{
		Listen:     []string{"127.0.0.1:53", "[::1]:53"},
		Upstreams:  []string{"system"},
		Activation: "scoped",
		Mode:       string(mode.Auto),
		StateDir:   p.StateDir,
		Control:    p.Control,
		CacheSize:  10000,
		Platform:   Platform{VerifyPort: 443, VerifyInterval: Duration{time.Hour}, VerifyTimeout: Duration{3 * time.Second}},
		Outage: Outage{
			AnswerBudget:  Duration{300 * time.Millisecond},
			ClientTimeout: Duration{1800 * time.Millisecond},
			StaleTTL:      Duration{30 * time.Second},
			MaxStale:      Duration{72 * time.Hour},
			ProbeInterval: Duration{time.Second},
			RecoverAfter:  3,
		},
		Bundle: Bundle{Refresh: Duration{15 * time.Minute}},
		Log:    Log{MaxSizeMB: 5, MaxFiles: 3},
		listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53"), netip.MustParseAddrPort("[::1]:53")},
	}
}

// Load reads and validates the file at path. Keys absent from the file keep
// their defaults.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config %s does not exist: pass --config with the path of your dnspin.toml", path)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(path, src)
}

// Parse is Load for bytes already read; path is used in messages.
func Parse(path string, src []byte) (*Config, error) {
	return parse(path, src, true)
}

// parse is Parse; fastPins reads plain [[pin]] tables without the TOML
// decoder (see splitPins). Tests compare both ways.
func parse(path string, src []byte, fastPins bool) (*Config, error) {
	c := Default()
	var md toml.MetaData
	var err error
	rest, pins, plain := src, []dnsname.Pin(nil), false
	if fastPins {
		rest, pins, plain = splitPins(src)
	}
	if plain {
		md, err = toml.NewDecoder(bytes.NewReader(rest)).Decode(c)
		if err != nil || md.IsDefined("pin") { // errors and pins written otherwise: as the decoder has it
			plain = false
		} else if pins != nil {
			c.Pins = pins
		}
	}
	if !plain {
		c = Default()
		md, err = toml.NewDecoder(bytes.NewReader(src)).Decode(c)
	}
	if err != nil {
		return nil, decodeError(path, src, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return nil, fmt.Errorf("config %s:%d: unknown key %q: check its spelling against docs/configuration.md", path, lineOf(src, k), k)
	}
	c.Path = path
	d := Default() // "" means the OS default
	if c.StateDir == "" {
		c.StateDir = d.StateDir
	}
	if c.Control == "" {
		c.Control = d.Control
	}
	if err := c.validate(); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			return nil, fmt.Errorf("config %s:%d: %s: %s", path, lineOf(src, ke.key), ke.key, ke.msg)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

type keyError struct{ key, msg string }

func (e *keyError) Error() string { return e.key + ": " + e.msg }

func bad(key, format string, a ...any) error {
	return &keyError{key: key, msg: fmt.Sprintf(format, a...)}
}

// lineOf finds the line that sets key (dotted path as TOML reports it), or 0.
// It is a best effort for messages only: the last path element assigned.
func lineOf(src []byte, key string) int {
	parts := strings.Split(key, ".")
	last := parts[len(parts)-1]
	if _, err := strconv.Atoi(last); err == nil && len(parts) > 1 {
		last = parts[len(parts)-2]
	}
	re := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(last) + `"?\s*=`)
	for i, l := range strings.Split(string(src), "\n") {
		if re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

func (c *Config) validate() error {
	listen, err := checkListen("listen", c.Listen, c.AllowRemote)
	if err != nil {
		return err
	}
	c.listen = listen
	if _, err := c.clientPrefixes(); err != nil {
		return err
	}
	if len(c.Upstreams) == 0 {
		return bad("upstreams", "needs at least one entry: \"system\" or an IP[:port]")
	}
	for _, u := range c.Upstreams {
		if u == "system" {
			continue
		}
		if _, err := ParseUpstream(u); err != nil {
			return bad("upstreams", "%v", err)
		}
	}
	switch c.Activation {
	case "scoped", "full":
	default:
		return bad("activation", "%q is not scoped or full", c.Activation)
	}
	if _, err := mode.Parse(c.Mode); err != nil {
		return bad("mode", "%v", err)
	}
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		return bad("state_dir", "%q must be an absolute path", c.StateDir)
	}
	if c.CacheSize < 0 {
		return bad("cache_size", "must be zero or more")
	}
	for i, d := range c.Platform.Domains {
		n, err := dnsname.Canonical(d)
		if err != nil || strings.HasPrefix(d, "*") {
			return bad("platform.domains", "%q is not a domain name like \"tickets.example\"", d)
		}
		c.Platform.Domains[i] = n
	}
	if err := c.validateVerify(); err != nil {
		return err
	}
	for i := range c.Pins {
		p, err := dnsname.CheckPin(c.Pins[i])
		var pe *dnsname.PinError
		if errors.As(err, &pe) {
			return bad("pin."+pe.Field, "%s", pe.Msg)
		}
		c.Pins[i] = p
		if !dnsname.Covers(c.Platform.Domains, p.Name) {
			return bad("pin.name", "pin %q is not under a platform domain, so it would never be used: add its domain to [platform] domains", p.Name)
		}
	}
	o := c.Outage
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"outage.answer_budget", o.AnswerBudget.Duration},
		{"outage.client_timeout", o.ClientTimeout.Duration},
		{"outage.probe_interval", o.ProbeInterval.Duration},
		{"outage.stale_ttl", o.StaleTTL.Duration},
		{"outage.max_stale", o.MaxStale.Duration},
	} {
		if d.v <= 0 {
			return bad(d.key, "must be more than zero, e.g. \"300ms\"")
		}
	}
	if o.StaleTTL.Duration < time.Second {
		return bad("outage.stale_ttl", "must be at least 1s (DNS TTLs are whole seconds)")
	}
	if o.RecoverAfter < 1 {
		return bad("outage.recover_after", "must be 1 or more")
	}
	if len(c.Bundle.URLs) > 0 || c.Bundle.PublicKey != "" {
		if len(c.Bundle.URLs) == 0 {
			return bad("bundle.urls", "a public_key is set but no urls: add the mirrors' https:// addresses")
		}
		if !strings.HasPrefix(c.Bundle.PublicKey, "ed25519:") {
			return bad("bundle.public_key", "must be \"ed25519:BASE64\" as printed by dnspin bundle keygen")
		}
		for _, u := range c.Bundle.URLs {
			if !strings.HasPrefix(u, "https://") {
				return bad("bundle.urls", "%q must start with https://", u)
			}
		}
		if c.Bundle.Refresh.Duration < time.Minute {
			return bad("bundle.refresh", "must be at least 1m so mirrors are not hammered")
		}
	}
	if c.Log.MaxSizeMB < 1 {
		return bad("log.max_size_mb", "must be 1 or more")
	}
	if c.Log.MaxFiles < 1 {
		return bad("log.max_files", "must be 1 or more")
	}
	return nil
}

// validateVerify refuses pin verification settings that would fail at
// run time: a CA file or SPKI pin that does not parse.
func (c *Config) validateVerify() error {
	p := c.Platform
	if p.VerifyPort < 1 || p.VerifyPort > 65535 {
		return bad("platform.verify_port", "%d is not a TCP port: write the port the platform serves HTTPS on, e.g. 443", p.VerifyPort)
	}
	if p.VerifyCA != "" {
		if !filepath.IsAbs(p.VerifyCA) {
			return bad("platform.verify_ca", "%q must be an absolute path to a PEM file", p.VerifyCA)
		}
		if _, err := pinverify.LoadCA(p.VerifyCA); err != nil {
			return bad("platform.verify_ca", "%v", err)
		}
	}
	if _, err := pinverify.ParseSPKI(p.VerifySPKI); err != nil {
		return bad("platform.verify_spki", "%v", err)
	}
	if d := p.VerifyTimeout.Duration; d < 100*time.Millisecond || d > time.Minute {
		return bad("platform.verify_timeout", "must be between 100ms and 1m, e.g. \"3s\"")
	}
	if d := p.VerifyInterval.Duration; d != 0 && d < time.Minute {
		return bad("platform.verify_interval", "must be at least 1m so a fleet does not hammer the platform, or \"0s\" to turn verification off")
	}
	return nil
}

// PinVerify builds the verifier's settings: the OS trust store plus
// verify_ca, and the SPKI pins. A trust store that cannot be read is not
// fatal (only verify_ca is trusted then): warn says so, for the log.
func (c *Config) PinVerify() (o pinverify.Options, warn, err error) {
	o.Port, o.Timeout = c.Platform.VerifyPort, c.Platform.VerifyTimeout.Duration
	var extra []*x509.Certificate
	if c.Platform.VerifyCA != "" {
		cs, err := pinverify.LoadCA(c.Platform.VerifyCA)
		if err != nil {
			return o, nil, fmt.Errorf("config %s: platform.verify_ca: %w", c.Path, err)
		}
		extra = cs
	}
	spki, err := pinverify.ParseSPKI(c.Platform.VerifySPKI)
	if err != nil {
		return o, nil, fmt.Errorf("config %s: platform.verify_spki: %w", c.Path, err)
	}
	o.SPKI = spki
	o.Roots, warn = pinverify.Roots(extra)
	return o, warn, nil
}

// clientPrefixes checks allow_remote and allow_clients together and
// returns the client networks: with allow_remote, one key must not be
// enough to turn a desktop into an open resolver.
func (c *Config) clientPrefixes() ([]netip.Prefix, error) {
	if !c.AllowRemote {
		if len(c.AllowClients) > 0 {
			return nil, bad("allow_clients", "has no effect without allow_remote = true (dnspin listens on loopback only): set allow_remote = true too, or remove allow_clients")
		}
		return nil, nil
	}
	if len(c.AllowClients) == 0 {
		return nil, bad("allow_remote", "needs a list of the clients that may ask: add allow_clients = [\"192.168.1.0/24\"] with your networks (loopback is always allowed)")
	}
	var ps []netip.Prefix
	for _, s := range c.AllowClients {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, bad("allow_clients", "%q is not a network: write it like \"192.168.1.0/24\", \"2001:db8::/64\" or a single address \"192.168.1.20\"", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// Unprotected says, in one line, that the config protects no names ("" if
// it does): such a dnspin only forwards DNS, which the service warns about
// at start and `dnspin check` reports as a failure.
func (c *Config) Unprotected() string {
	if len(c.Platform.Domains) > 0 {
		return ""
	}
	name := c.Path
	if name == "" {
		name = "the config"
	}
	return fmt.Sprintf("%s protects no names: it has no [platform] domains, so dnspin only forwards DNS; add them under [platform], e.g. domains = [\"tickets.example\"]", name)
}

// checkListen is the one check of listen addresses, for the listen key
// and for `dnspin run --listen` (key names which in messages): each must be
// IP:port, on loopback unless allow_remote is on. The resolver takes the
// parsed addresses and does not parse them again.
func checkListen(key string, addrs []string, allowRemote bool) ([]netip.AddrPort, error) {
	if len(addrs) == 0 {
		return nil, bad(key, "needs at least one address, e.g. [\"127.0.0.1:53\"]")
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, l := range addrs {
		ap, err := netip.ParseAddrPort(l)
		if err != nil {
			return nil, bad(key, "%q is not IP:port (write IPv6 as \"[::1]:53\")", l)
		}
		if !ap.Addr().IsLoopback() && !allowRemote {
			return nil, bad(key, "%s is not a loopback address: dnspin listens on loopback only so it is never an open resolver; set allow_remote = true only if you really mean to serve other machines", l)
		}
		out = append(out, ap)
	}
	return out, nil
}

// SetListen replaces the listen addresses (`dnspin run --listen`), with the
// same check as the listen key; on error c is unchanged and the message
// starts with "--listen: ".
func (c *Config) SetListen(addrs []string) error {
	listen, err := checkListen("--listen", addrs, c.AllowRemote)
	if err != nil {
		return err
	}
	c.Listen, c.listen = slices.Clone(addrs), listen
	return nil
}

// ListenAddrs are the listen addresses as checked by Parse or SetListen
// (nil for a Config that went through neither).
func (c *Config) ListenAddrs() []netip.AddrPort { return slices.Clone(c.listen) }

// Exposure says, in one line, what allow_remote opens to other machines
// ("" when nothing is): the service logs it as a warning at start, with
// the addresses actually bound (bound; nil: the listen key's).
func (c *Config) Exposure(bound []string) string {
	if !c.AllowRemote {
		return ""
	}
	if bound == nil {
		bound = c.Listen
	}
	var exposed []string
	for _, l := range bound {
		if ap, err := netip.ParseAddrPort(l); err == nil && !ap.Addr().IsLoopback() {
			exposed = append(exposed, l)
		}
	}
	if len(exposed) == 0 {
		return ""
	}
	return fmt.Sprintf("allow_remote is on: other machines can ask dnspin on %s (UDP and TCP); allowed clients: loopback, %s; everyone else gets REFUSED",
		strings.Join(exposed, ", "), strings.Join(c.AllowClients, ", "))
}

// ParseUpstream turns "IP" or "IP:port" (IPv6 as "[::1]:53" or bare "::1")
// into "IP:port" with port 53 by default.
func ParseUpstream(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	return "", fmt.Errorf("%q is not \"system\", an IP or IP:port", s)
}

// UpstreamAddrs returns the upstreams as "IP:port", in order and without
// repeats, with "system" expanded to system (the OS's own resolvers, as the
// installer recorded them; entries that are not IP[:port] are skipped).
func (c *Config) UpstreamAddrs(system []string) []string {
	var ups []string
	seen := map[string]bool{}
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			ups = append(ups, u)
		}
	}
	for _, u := range c.Upstreams {
		if u == "system" {
			for _, s := range system {
				if p, err := ParseUpstream(s); err == nil {
					add(p)
				}
			}
			continue
		}
		p, _ := ParseUpstream(u) // validated
		add(p)
	}
	return ups
}

// ClientNetworks returns allow_clients as networks (a single address as
// its /32 or /128); nil without allow_remote.
func (c *Config) ClientNetworks() []netip.Prefix {
	ps, _ := c.clientPrefixes() // validated
	return ps
}
