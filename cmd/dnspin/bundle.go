package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/dnsname"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/resolver"
)

var cmdBundle = command{
	name:    "bundle",
	args:    "keygen --out FILE | sign --key FILE --serial N --expires DURATION [--platform NAME] IN -o OUT | verify [--public-key KEY] [--platform NAME] FILE",
	summary: "signed pin bundles for operators: make a key, sign a pin list, check a bundle",
	run: func(ctx context.Context, e *env, args []string) error {
		if len(args) == 0 {
			return usagef("say what to do: keygen, sign or verify")
		}
		switch args[0] {
		case "keygen":
			return bundleKeygen(e, args[1:])
		case "sign":
			return bundleSign(e, args[1:])
		case "verify":
			return bundleVerify(e, args[1:])
		case "-h", "--help", "help":
			fmt.Fprintf(e.stderr, "usage: dnspin bundle %s\n", e.cmd.args)
			return flag.ErrHelp
		}
		return usagef("unknown bundle command %q: use keygen, sign or verify", args[0])
	},
}

// subFlags is flagSet for "dnspin bundle SUB".
func subFlags(e *env, sub, usage, summary string) (*flag.FlagSet, *string) {
	fs, cfg := flagSet(e)
	fs.Init("dnspin bundle "+sub, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: dnspin bundle %s %s\n\n%s\n\noptions:\n", sub, usage, summary)
		fs.PrintDefaults()
	}
	return fs, cfg
}

func bundleKeygen(e *env, args []string) error {
	fs, _ := subFlags(e, "keygen", "--out FILE", "Write a new ed25519 private key to FILE (mode 0600) and print its public key\nas ed25519:BASE64 for [bundle] public_key.")
	out := fs.String("out", "", "file for the private key (must not exist yet)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) > 0 {
		return usagef("keygen needs --out FILE and nothing else")
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	pemb, err := bundle.MarshalPrivateKey(priv)
	if err != nil {
		return err
	}
	// O_EXCL: never overwrite a key that desktops may already trust.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists: keygen never overwrites a key; choose another --out", *out)
		}
		return fmt.Errorf("writing the private key: %w", err)
	}
	if _, err := f.Write(pemb); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(*out)
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	fmt.Fprintf(e.stderr, "private key written to %s: keep it offline; whoever holds it can publish pins for your platform\npublic key for [bundle] public_key:\n", *out)
	fmt.Fprintln(e.stdout, bundle.FormatPublicKey(pub))
	return nil
}

func bundleSign(e *env, args []string) error {
	fs, cfgPath := subFlags(e, "sign", "--key FILE --serial N --expires DURATION [--platform NAME] IN -o OUT",
		"Sign the pins in IN (TOML [[pin]] tables like the config, or JSON) into a bundle file.\nThe platform name comes from --platform, else IN's [platform] name, else --config's.\nIN's [platform] verify_ca (a PEM file, relative to IN) and verify_spki, as in the\nconfig, are signed into the bundle too: desktops then check addresses with them.")
	keyFile := fs.String("key", "", "private key file from dnspin bundle keygen")
	serialS := fs.String("serial", "", "bundle serial, higher than every earlier one and at most 2^53-1 (e.g. 2026112601)")
	expiresS := fs.String("expires", "", "validity from now, e.g. 720h or 30d; desktops drop the pins after it")
	platformF := fs.String("platform", "", "platform name, as in the desktops' [platform] name")
	var out string
	fs.StringVar(&out, "o", "", "output bundle file")
	fs.StringVar(&out, "out", "", "output bundle file (same as -o)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usagef("sign needs exactly one input file IN")
	case *keyFile == "":
		return usagef("sign needs --key FILE")
	case *serialS == "":
		return usagef("sign needs --serial N")
	case *expiresS == "":
		return usagef("sign needs --expires DURATION, e.g. 720h or 30d")
	case out == "":
		return usagef("sign needs -o OUT")
	}
	serial, err := strconv.ParseUint(*serialS, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("--serial %s is above the maximum %d (2^53-1): use a smaller serial, e.g. the date as YYYYMMDDNN", *serialS, bundle.MaxSerial)
	}
	if err != nil || serial == 0 {
		return usagef("--serial %q must be a whole number of 1 or more", *serialS)
	}
	if serial > bundle.MaxSerial {
		// Desktops would reject it; say so before the key is even read.
		return fmt.Errorf("--%v", bundle.SerialTooLarge(serial))
	}
	validity, err := parseValidity(*expiresS)
	if err != nil {
		return usagef("--expires %v", err)
	}
	kb, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("reading the private key: %w", err)
	}
	priv, err := bundle.ParsePrivateKey(kb)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	in, err := readPinList(pos[0])
	if err != nil {
		return err
	}
	name, domains := in.name, in.domains
	if *cfgPath != "" {
		c, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		if name == "" {
			name = c.Platform.Name
		}
		if domains == nil {
			domains = c.Platform.Domains
		}
	}
	if *platformF != "" {
		name = *platformF
	}
	if name == "" {
		return usagef("which platform is this bundle for? pass --platform NAME (the desktops' [platform] name)")
	}
	if domains != nil {
		var outside []string
		for _, p := range in.pins {
			if !dnsname.Covers(domains, p.Name) {
				outside = append(outside, p.Name)
			}
		}
		if len(outside) > 0 {
			return fmt.Errorf("%s: %s not under the platform's domains (%s): desktops would reject them; fix the names or the domains", pos[0], strings.Join(outside, ", "), strings.Join(domains, ", "))
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	data, err := bundle.Sign(priv, bundle.Payload{Platform: name, Serial: serial, Issued: now, Expires: now.Add(validity), Pins: in.pins,
		VerifyCA: in.verifyCA, VerifySPKI: in.verifySPKI})
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if err := writeFileReplace(out, data); err != nil {
		return err
	}
	trust := ""
	if n := len(in.verifyCA) + len(in.verifySPKI); n > 0 {
		trust = fmt.Sprintf(", %d CA certificates, %d SPKI pins", len(in.verifyCA), len(in.verifySPKI))
	}
	fmt.Fprintf(e.stdout, "signed %s: platform %q, serial %d, %d pins%s, expires %s, key %s\n",
		out, name, serial, len(in.pins), trust, now.Add(validity).Format(time.RFC3339), bundle.FormatPublicKey(priv.Public().(ed25519.PublicKey)))
	return nil
}

// pinList is a sign input: the pins and, when the file says so, the
// platform and its CA and SPKI pins.
type pinList struct {
	name       string
	domains    []string
	pins       []resolver.Pin
	verifyCA   []string // one PEM certificate each, read from the file verify_ca names
	verifySPKI []string
}

// platformKeys are the [platform] keys a sign input may hold: a desktop's
// whole dnspin.toml is a valid input. verify_port, verify_interval and
// verify_timeout are the desktops' own settings and are not signed.
var platformKeys = []string{"name", "domains", "verify_ca", "verify_spki", "verify_port", "verify_interval", "verify_timeout"}

// readVerifyCA reads the PEM file a sign input's verify_ca names (relative
// to the input file) into one PEM certificate per entry.
func (l *pinList) readVerifyCA(input, caPath string) error {
	if caPath == "" {
		return nil
	}
	if !filepath.IsAbs(caPath) {
		caPath = filepath.Join(filepath.Dir(input), caPath)
	}
	cs, err := pinverify.LoadCA(caPath)
	if err != nil {
		return fmt.Errorf("%s: verify_ca: %w", input, err)
	}
	for _, c := range cs {
		l.verifyCA = append(l.verifyCA, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return nil
}

// readPinList reads a TOML file with [[pin]] tables (a dnspin.toml works,
// its [platform] is used too) or JSON: a list of pins, or an object with
// "platform", optional "domains" and "pins".
func readPinList(path string) (pinList, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return pinList{}, fmt.Errorf("reading the pin list: %w", err)
	}
	var l pinList
	trim := bytes.TrimSpace(src)
	if strings.EqualFold(filepath.Ext(path), ".json") || bytes.HasPrefix(trim, []byte("[{")) || bytes.HasPrefix(trim, []byte("{")) || bytes.Equal(trim, []byte("[]")) {
		if bytes.HasPrefix(trim, []byte("[")) {
			err = strictJSON(src, &l.pins)
		} else {
			var j struct {
				Platform   string         `json:"platform"`
				Domains    []string       `json:"domains"`
				Pins       []resolver.Pin `json:"pins"`
				VerifyCA   string         `json:"verify_ca"`
				VerifySPKI []string       `json:"verify_spki"`
			}
			err = strictJSON(src, &j)
			l = pinList{name: j.Platform, domains: j.Domains, pins: j.Pins, verifySPKI: j.VerifySPKI}
			if err == nil {
				if err := l.readVerifyCA(path, j.VerifyCA); err != nil {
					return l, err
				}
			}
		}
		if err != nil {
			return l, fmt.Errorf("%s: %v: write a JSON list of {\"name\":…,\"a\":[…],\"aaaa\":[…]}", path, err)
		}
	} else {
		var t struct {
			Platform struct {
				Name       string   `toml:"name"`
				Domains    []string `toml:"domains"`
				VerifyCA   string   `toml:"verify_ca"`
				VerifySPKI []string `toml:"verify_spki"`
			} `toml:"platform"`
			Pins []resolver.Pin `toml:"pin"`
		}
		md, err := toml.Decode(string(src), &t)
		if err != nil {
			return l, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
		}
		for _, k := range md.Undecoded() {
			// Other keys of a full dnspin.toml are fine; a typo inside a pin is not.
			if k[0] == "pin" {
				return l, fmt.Errorf("%s: unknown key %q: a pin has name, a and aaaa", path, k.String())
			}
			if k[0] == "platform" && (len(k) != 2 || !slices.Contains(platformKeys, k[1])) {
				return l, fmt.Errorf("%s: unknown key %q: [platform] has %s", path, k.String(), strings.Join(platformKeys, ", "))
			}
		}
		l = pinList{name: t.Platform.Name, domains: t.Platform.Domains, pins: t.Pins, verifySPKI: t.Platform.VerifySPKI}
		if err := l.readVerifyCA(path, t.Platform.VerifyCA); err != nil {
			return l, err
		}
	}
	if len(l.pins) == 0 {
		return l, fmt.Errorf("%s has no pins: add [[pin]] tables with name, a and aaaa (or a JSON list)", path)
	}
	return l, nil
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// parseValidity is time.ParseDuration plus whole days ("30d").
func parseValidity(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 3650 {
			return 0, fmt.Errorf("%q is not a number of days like 30d", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration like 720h or 30d", s)
		}
		d = v
	}
	if d < time.Minute {
		return 0, fmt.Errorf("%q is too short: a bundle must be valid for at least 1m", s)
	}
	return d, nil
}

// writeFileReplace writes a file through a temporary one so a failed write
// never leaves a half bundle where a mirror upload script would pick it up.
func writeFileReplace(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func bundleVerify(e *env, args []string) error {
	fs, cfgPath := subFlags(e, "verify", "[--public-key KEY] [--platform NAME] FILE",
		"Check a bundle file: signature, platform, expiry and pins. Without --public-key the\nconfig's [bundle] public_key, [platform] name and domains are used.\nExit 0: valid; 1: invalid, with the reason.")
	keyS := fs.String("public-key", "", "ed25519:BASE64 public key (default: the config's [bundle] public_key)")
	platformF := fs.String("platform", "", "platform name the bundle must name (default: the config's, when the config is used)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("verify needs exactly one bundle FILE")
	}
	exp := bundle.Expect{Now: time.Now()}
	keyText := *keyS
	if keyText == "" || *cfgPath != "" {
		c, err := loadConfig(*cfgPath)
		if err != nil {
			if keyText == "" {
				return usagef("no --public-key and no config to take it from (%v)", err)
			}
			return err
		}
		if keyText == "" {
			keyText = c.Bundle.PublicKey
			if keyText == "" {
				return usagef("%s has no [bundle] public_key: pass --public-key ed25519:BASE64", c.Path)
			}
		}
		exp.Platform, exp.Domains = c.Platform.Name, c.Platform.Domains
	}
	if *platformF != "" {
		exp.Platform = *platformF
	}
	pub, err := bundle.ParsePublicKey(keyText)
	if err != nil {
		return usagef("%v", err)
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("reading the bundle: %w", err)
	}
	p, err := bundle.Verify(pub, data, exp)
	if err != nil {
		return fmt.Errorf("%s is NOT valid: %w", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "%s is valid: platform %q, serial %d, issued %s, expires %s (in %s), %d pins\n",
		pos[0], p.Platform, p.Serial, p.Issued.Format(time.RFC3339), p.Expires.Format(time.RFC3339), roughDuration(p.Expires.Sub(exp.Now)), len(p.Pins))
	for _, pin := range p.Pins {
		var parts []string
		if len(pin.A) > 0 {
			parts = append(parts, "A "+joinAddrs(pin.A))
		}
		if len(pin.AAAA) > 0 {
			parts = append(parts, "AAAA "+joinAddrs(pin.AAAA))
		}
		fmt.Fprintf(e.stdout, "  %s  %s\n", pin.Name, strings.Join(parts, "  "))
	}
	tr := p.Trust()
	for _, c := range tr.CA {
		fmt.Fprintf(e.stdout, "  verify_ca    %s (%s), valid until %s\n", c.Subject, pinverify.SPKIPin(c), c.NotAfter.UTC().Format(time.RFC3339))
	}
	for _, s := range p.VerifySPKI {
		fmt.Fprintf(e.stdout, "  verify_spki  %s\n", s)
	}
	if !tr.Empty() {
		fmt.Fprintln(e.stdout, "note: desktops check addresses with the bundle's verify_ca and verify_spki instead of their config's while this bundle is in use")
	}
	if exp.Platform == "" {
		fmt.Fprintln(e.stdout, "note: the platform was not checked (no --platform and no config)")
	}
	for _, n := range p.Dropped {
		fmt.Fprintf(e.stdout, "warning: pin %s is outside the platform's domains (%s): desktops ignore it\n", n, strings.Join(exp.Domains, ", "))
	}
	return nil
}

func joinAddrs[T fmt.Stringer](as []T) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// roughDuration says "29d 23h" or "5h 3m".
func roughDuration(d time.Duration) string {
	d = d.Truncate(time.Minute)
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	}
	return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
}
