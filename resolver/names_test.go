package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/dnsname"
)

// TestFQDNMatchesMiekg: the resolver's name form comes from internal/dnsname
// (which must not link miekg/dns, as the tray links it); it must stay what
// miekg/dns calls fully qualified, escaped dots included.
func TestFQDNMatchesMiekg(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", ".", "a", "a.", "A.B.", `a\.`, `a\\.`, `a\\\.`, `a\\\\.`, `\.`, "..", "Shop.Tickets.Test", "x\\065.test"} {
		if got, want := dnsname.FQDN(s), strings.ToLower(dns.Fqdn(s)); got != want {
			t.Errorf("dnsname.FQDN(%q) = %q, miekg/dns says %q", s, got, want)
		}
	}
}
