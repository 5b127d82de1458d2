package resolver

import (
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/nstest"
)

// TestAllowClients runs dnspin on a dual-stack wildcard address with
// allow_remote in a fresh network namespace, and asks it from source
// addresses inside and outside allow_clients over UDP and TCP: listed
// networks and loopback are answered, everyone else gets REFUSED and is
// never forwarded. A reload that adds a network lets it in.
func TestAllowClients(t *testing.T) {
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		for _, args := range [][]string{
			{"addr", "add", "198.51.100.7/32", "dev", "dnsv0"},
			{"addr", "add", "198.51.100.8/32", "dev", "dnsv0"},
			{"-6", "addr", "add", "2001:db8:1::7/128", "dev", "dnsv0", "nodad"},
			{"-6", "addr", "add", "2001:db8:1::8/128", "dev", "dnsv0", "nodad"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %v: %v: %s", args, err, out)
			}
		}
		up := startUpstream(t)
		cfg := testConfig(up.addr)
		cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort("[::]:0")}
		cfg.AllowRemote = true
		cfg.AllowClients = []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8:1::7/128")}
		r, addr := startResolver(t, cfg, nil)
		port := netip.MustParseAddrPort(addr).Port()

		ask := func(from, to, network, name string) *dns.Msg {
			t.Helper()
			src := netip.MustParseAddr(from)
			d := &net.Dialer{LocalAddr: &net.UDPAddr{IP: src.AsSlice()}}
			if network == "tcp" {
				d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
			}
			c := &dns.Client{Net: network, Dialer: d, Timeout: 10 * time.Second}
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			resp, _, err := c.Exchange(m, netip.AddrPortFrom(netip.MustParseAddr(to), port).String())
			if err != nil {
				t.Fatalf("%s from %s to %s: %v", network, from, to, err)
			}
			return resp
		}
		// Each client asks the address it is sending from: a wildcard UDP
		// socket answers from the address the route picks, which for a
		// local destination is the destination itself (see docs: list the
		// LAN address in listen on hosts with several addresses).
		for _, tt := range []struct {
			from  string
			rcode int
		}{
			{"127.0.0.1", dns.RcodeSuccess}, // loopback: always
			{"::1", dns.RcodeSuccess},
			{"198.51.100.7", dns.RcodeSuccess}, // listed (as ::ffff:… on the dual-stack socket)
			{"2001:db8:1::7", dns.RcodeSuccess},
			{"198.51.100.8", dns.RcodeRefused}, // not listed
			{"198.18.255.1", dns.RcodeRefused}, // the machine's own LAN address is no exception
			{"2001:db8:1::8", dns.RcodeRefused},
		} {
			for _, network := range []string{"udp", "tcp"} {
				name := "acl-" + network + "-" + netip.MustParseAddr(tt.from).StringExpanded() + ".other.test."
				name = dnsSafe(name)
				m := ask(tt.from, tt.from, network, name)
				if m.Rcode != tt.rcode {
					t.Errorf("%s from %s: %s, want %s", network, tt.from, dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
				}
				asked := up.count(name)
				if tt.rcode == dns.RcodeRefused && (asked != 0 || len(m.Answer) != 0) {
					t.Errorf("%s from %s: refused client's query reached upstream %d times, %d answers", network, tt.from, asked, len(m.Answer))
				}
				if tt.rcode == dns.RcodeSuccess && (asked != 1 || addrsOf(m) == "") {
					t.Errorf("%s from %s: %s, upstream asked %d times", network, tt.from, describe(m), asked)
				}
			}
		}
		// The list can change at reload; allow_remote itself needs a restart.
		cfg.AllowClients = append(cfg.AllowClients, netip.MustParsePrefix("198.51.100.0/28"))
		if err := r.Reconfigure(cfg); err != nil {
			t.Fatal(err)
		}
		if m := ask("198.51.100.8", "198.51.100.8", "udp", "after-reload.other.test."); m.Rcode != dns.RcodeSuccess {
			t.Errorf("after adding 198.51.100.0/28: %s, want NOERROR", dns.RcodeToString[m.Rcode])
		}
	})
}

// dnsSafe turns an address spelled into a name into valid labels.
func dnsSafe(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == ':' {
			out[i] = '-'
		}
	}
	return string(out)
}
