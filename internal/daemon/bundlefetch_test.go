package daemon

import (
	"crypto/ed25519"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/dnsname"
	"github.com/dnspin/dnspin/resolver"
)

func TestNewBundleFetcher(t *testing.T) {
	dir := t.TempDir()
	pk, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := bundle.FormatPublicKey(pk)
	base := "state_dir = \"" + filepath.ToSlash(dir) + "\"\n[platform]\nname = \"Example Tickets\"\ndomains = [\"tickets.example\"]\n"

	// No [bundle]: no fetcher.
	c, err := config.Parse("a.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := newBundleFetcher(c, nil, func([]resolver.Pin) {}, nil, slog.New(slog.DiscardHandler)); f != nil || err != nil {
		t.Fatalf("without [bundle]: %v, %v", f, err)
	}

	// A stored bundle is applied as soon as the fetcher exists.
	signed, err := bundle.Sign(priv, bundle.Payload{
		Platform: "Example Tickets", Serial: 3, Issued: time.Now(), Expires: time.Now().Add(time.Hour),
		Pins: []dnsname.Pin{{Name: "shop.tickets.example", A: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bundle"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle", "bundle.json"), signed, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = config.Parse("b.toml", []byte(base+"[bundle]\nurls = [\"https://pins.example-mirror.net/pins.json\"]\npublic_key = \""+pub+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []resolver.Pin
	f, err := newBundleFetcher(c, nil, func(p []resolver.Pin) { got = p }, nil, slog.New(slog.DiscardHandler))
	if err != nil || f == nil {
		t.Fatalf("newBundleFetcher: %v", err)
	}
	if len(got) != 1 || got[0].Name != "shop.tickets.example" || f.Status().Serial != 3 {
		t.Errorf("applied %v, status %+v", got, f.Status())
	}

	// A key that is not 32 bytes names the config key.
	c.Bundle.PublicKey = "ed25519:AAAA"
	if _, err := newBundleFetcher(c, nil, func([]resolver.Pin) {}, nil, nil); err == nil || !strings.Contains(err.Error(), "bundle.public_key") {
		t.Errorf("bad key: %v", err)
	}
}
