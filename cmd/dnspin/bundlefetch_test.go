package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/resolver"
)

func TestNewBundleFetcher(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	_, pub, _ := runCmd(t, "bundle", "keygen", "--out", key)
	pub = strings.TrimSpace(pub)
	base := "state_dir = \"" + filepath.ToSlash(dir) + "\"\n[platform]\nname = \"Example Tickets\"\ndomains = [\"tickets.example\"]\n"

	// No [bundle]: no fetcher.
	c, err := config.Parse("a.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := newBundleFetcher(c, nil, func([]resolver.Pin) {}, slog.New(slog.DiscardHandler)); f != nil || err != nil {
		t.Fatalf("without [bundle]: %v, %v", f, err)
	}

	// A stored bundle is applied as soon as the fetcher exists.
	in := writeFile(t, dir, "pins.toml", "[[pin]]\nname = \"shop.tickets.example\"\na = [\"192.0.2.10\"]\n")
	if err := os.MkdirAll(filepath.Join(dir, "bundle"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runCmd(t, "bundle", "sign", "--key", key, "--serial", "3", "--expires", "1h", "--platform", "Example Tickets", in, "-o", filepath.Join(dir, "bundle", "bundle.json")); code != 0 {
		t.Fatal(e)
	}
	c, err = config.Parse("b.toml", []byte(base+"[bundle]\nurls = [\"https://pins.example-mirror.net/pins.json\"]\npublic_key = \""+pub+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []resolver.Pin
	f, err := newBundleFetcher(c, nil, func(p []resolver.Pin) { got = p }, slog.New(slog.DiscardHandler))
	if err != nil || f == nil {
		t.Fatalf("newBundleFetcher: %v", err)
	}
	if len(got) != 1 || got[0].Name != "shop.tickets.example" || f.Status().Serial != 3 {
		t.Errorf("applied %v, status %+v", got, f.Status())
	}

	// A key that is not 32 bytes names the config key.
	c.Bundle.PublicKey = "ed25519:AAAA"
	if _, err := newBundleFetcher(c, nil, func([]resolver.Pin) {}, nil); err == nil || !strings.Contains(err.Error(), "bundle.public_key") {
		t.Errorf("bad key: %v", err)
	}
}
