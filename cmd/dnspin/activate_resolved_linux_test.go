package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// TestActivateOnRealResolved runs the commands a support person runs
// against the real systemd-resolved: the dry run shows the drop-in, activate
// routes the platform's domain to dnspin, check passes, deactivate puts
// resolved back as it was.
func TestActivateOnRealResolved(t *testing.T) {
	nstest.Run(t, nstest.Options{PIDNamespace: true}, func(t *testing.T, env *nstest.Env) {
		rd := nstest.StartResolved(t, env)
		// The network's server, set on dnsv0 as DHCP would.
		resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{Listen: nstest.PeerAddr.String() + ":53", Default: "198.51.100.2"})
		rd.Resolvectl(t, "dns", "dnsv0", nstest.PeerAddr.String())
		startDnspin(t, "127.0.0.1:53")
		if got := nstest.MustGetent(t, "ahostsv4", "shop.tickets.example"); len(got) != 1 || got[0].String() != "198.51.100.2" {
			t.Fatalf("before activation: %v", got)
		}
		before := rd.Resolvectl(t, "status")
		cfg := writeActivateConfig(t, env.Dir, fmt.Sprintf(`
listen = ["127.0.0.1:53"]
activation = "scoped"
state_dir = %q
control = %q
[platform]
name = "Example Tickets"
domains = ["tickets.example"]
[[pin]]
name = "shop.tickets.example"
a = ["127.0.0.1"]
`, filepath.Join(env.Dir, "state"), filepath.Join(env.Dir, "dnspin.sock")))

		code, out, errs := runCmd(t, "activate", "--dry-run", "--config", cfg)
		if code != 0 || !strings.Contains(out, "backend: systemd-resolved") ||
			!strings.Contains(out, "  | DNS=127.0.0.1 "+nstest.PeerAddr.String()+"\n") || !strings.Contains(out, "  | Domains=~tickets.example\n") {
			t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
		}
		code, out, errs = runCmd(t, "activate", "--config", cfg)
		if code != 0 || !strings.Contains(out, "(scoped, via systemd-resolved)") {
			t.Fatalf("activate: exit %d\n%s\n%s", code, out, errs)
		}
		t.Logf("dnspin activate:\n%s", out)
		if got := nstest.MustGetent(t, "ahostsv4", "shop.tickets.example"); len(got) != 1 || got[0].String() != "127.0.0.1" {
			t.Fatalf("after activate: %v, want dnspin's pin 127.0.0.1", got)
		}
		code, out, errs = runCmd(t, "deactivate", "--config", cfg)
		if code != 0 || !strings.Contains(out, "(systemd-resolved)") {
			t.Fatalf("deactivate: exit %d\n%s\n%s", code, out, errs)
		}
		getAfter := nstest.MustGetent(t, "ahostsv4", "shop.tickets.example")
		if len(getAfter) != 1 || getAfter[0].String() != "198.51.100.2" {
			t.Fatalf("after deactivate: %v", getAfter)
		}
		if after := rd.Resolvectl(t, "status"); after != before {
			t.Fatalf("resolvectl status after deactivate:\n%s\nbefore:\n%s", after, before)
		}
	})
}
