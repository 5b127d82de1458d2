package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/resolver"
)

// pinsTOML is a config with n pins (one IPv4 and one IPv6 address each, a
// tenth of them wildcards) under one platform domain.
func pinsTOML(n int) []byte {
	var b strings.Builder
	b.WriteString("listen = [\"127.0.0.1:0\"]\nupstreams = [\"127.0.0.1:1\"]\n\n[platform]\nname = \"bench\"\ndomains = [\"tickets.example\"]\nverify_interval = \"0s\"\n")
	for i := range n {
		name := fmt.Sprintf("h%d.tickets.example", i)
		if i%10 == 0 {
			name = "*." + name
		}
		fmt.Fprintf(&b, "\n[[pin]]\nname = %q\na = [\"198.18.%d.%d\"]\naaaa = [\"2001:db8::%x:%x\"]\n", name, i>>8&0xFF, i&0xFF, i>>16, i&0xFFFF)
	}
	return []byte(b.String())
}

// BenchmarkStartPins is the start-up work that grows with the pins: the
// config read and checked, the resolver built (no sockets).
func BenchmarkStartPins(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		src := pinsTOML(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := config.Parse("/etc/dnspin/dnspin.toml", src)
				if err != nil {
					b.Fatal(err)
				}
				rc := ResolverSettings(c, nil)
				rc.StateDir = ""
				r, err := resolver.New(rc, resolver.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if got := r.Status().Pins; got != n {
					b.Fatalf("%d pins in effect, want %d", got, n)
				}
				r.Shutdown(context.Background())
			}
		})
	}
}
