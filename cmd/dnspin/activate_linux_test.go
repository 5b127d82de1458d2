package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/nstest"
)

// standIn answers every A question with 127.0.0.1 on UDP at listen, like a
// dnspin whose pins point at this machine.
func standIn(t *testing.T, listen string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA && q.Name != "use-application-dns.net." {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP("127.0.0.1")})
		} else if q.Qtype == dns.TypeA {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
}

func writeActivateConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "dnspin.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestActivateCheckDeactivateInNamespace runs the three commands against the
// namespace's /etc/resolv.conf.
func TestActivateCheckDeactivateInNamespace(t *testing.T) {
	orig := "nameserver 127.0.0.2\nsearch lan\n"
	nstest.Run(t, nstest.Options{ResolvConf: orig, ResolvConfMode: 0o644}, func(t *testing.T, env *nstest.Env) {
		standIn(t, "127.0.0.1:53")
		l, err := net.Listen("tcp", "127.0.0.1:443") // the "platform", reachable
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		cfg := writeActivateConfig(t, env.Dir, fmt.Sprintf(`
listen = ["127.0.0.1:53"]
activation = "full"
state_dir = %q
[platform]
name = "Example Tickets"
domains = ["tickets.example"]
[[pin]]
name = "shop.tickets.example"
a = ["127.0.0.1"]
`, filepath.Join(env.Dir, "state")))

		code, out, errs := runCmd(t, "activate", "--dry-run", "--config", cfg)
		if code != 0 || !strings.Contains(out, "backend: resolv.conf") || !strings.Contains(out, "  | nameserver 127.0.0.1\n  | nameserver 127.0.0.2\n") || !strings.Contains(out, "preflight: dnspin answers on 127.0.0.1:53") {
			t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
		}
		t.Logf("activate --dry-run:\n%s", out)
		if got := string(nstest.ReadResolvConf(t)); got != orig {
			t.Fatalf("dry run changed resolv.conf: %q", got)
		}

		code, out, errs = runCmd(t, "activate", "--config", cfg)
		if code != 0 || !strings.Contains(out, "Activated: all DNS now goes to dnspin (full, via resolv.conf)") {
			t.Fatalf("activate: exit %d\n%s\n%s", code, out, errs)
		}
		if got := nstest.MustGetent(t, "ahostsv4", "shop.tickets.example"); len(got) != 1 || got[0].String() != "127.0.0.1" {
			t.Fatalf("getent after activate: %v", got)
		}

		code, out, errs = runCmd(t, "check", "--json", "--config", cfg)
		var rep control.CheckReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("check --json: %v\n%s\n%s", err, out, errs)
		}
		if code != 0 || !rep.OK || len(rep.Results) != 4 {
			t.Fatalf("check: exit %d, %+v\n%s", code, rep, errs)
		}
		code, out, _ = runCmd(t, "check", "--config", cfg)
		if code != 0 || !strings.Contains(out, "ok   The pinned address 127.0.0.1 of shop.tickets.example accepts connections on port 443.") {
			t.Fatalf("check: exit %d\n%s", code, out)
		}

		code, out, errs = runCmd(t, "deactivate", "--config", cfg)
		if code != 0 || !strings.Contains(out, "Restored the DNS settings dnspin found before activation (resolv.conf)") {
			t.Fatalf("deactivate: exit %d\n%s\n%s", code, out, errs)
		}
		if got := string(nstest.ReadResolvConf(t)); got != orig {
			t.Fatalf("deactivate: resolv.conf %q, want %q", got, orig)
		}
		code, out, _ = runCmd(t, "deactivate", "--config", cfg)
		if code != 0 || !strings.Contains(out, "nothing to restore") {
			t.Fatalf("second deactivate: exit %d %s", code, out)
		}
		l.Close()
		code, out, _ = runCmd(t, "check", "--config", cfg)
		if code != 1 || !strings.Contains(out, "FAIL This computer's DNS settings (resolv.conf) do not send Example Tickets's names to dnspin") {
			t.Fatalf("check after deactivate: exit %d\n%s", code, out)
		}
	})
}

// TestActivatePreflightNamesHolder: a program that holds the port but does
// not answer like dnspin is named, and nothing changes.
func TestActivatePreflightNamesHolder(t *testing.T) {
	orig := "nameserver 127.0.0.2\n"
	nstest.Run(t, nstest.Options{ResolvConf: orig}, func(t *testing.T, env *nstest.Env) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:53") // holds the port, never answers
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		cfg := writeActivateConfig(t, env.Dir, fmt.Sprintf("listen = [\"127.0.0.1:53\", \"127.0.0.1:5353\"]\nactivation = \"full\"\nstate_dir = %q\n", filepath.Join(env.Dir, "state")))
		start := time.Now()
		code, _, errs := runCmd(t, "activate", "--config", cfg)
		comm, _ := os.ReadFile("/proc/self/comm")
		holder := fmt.Sprintf("127.0.0.1:53 is held by %s (pid %d), not dnspin", strings.TrimSpace(string(comm)), os.Getpid())
		if code != 1 || !strings.Contains(errs, holder) || !strings.Contains(errs, "nothing was changed") {
			t.Fatalf("activate with the port held: exit %d\n%s\nwant %q", code, errs, holder)
		}
		t.Logf("preflight took %v: %s", time.Since(start), errs)
		pc.Close()
		standIn(t, "127.0.0.1:53")
		code, _, errs = runCmd(t, "activate", "--config", cfg)
		if code != 1 || !strings.Contains(errs, "nothing answers DNS on 127.0.0.1:5353: start the dnspin service first") {
			t.Fatalf("activate with the second address silent: exit %d\n%s", code, errs)
		}
		if got := string(nstest.ReadResolvConf(t)); got != orig {
			t.Fatalf("a failed preflight changed resolv.conf: %q", got)
		}
		if _, err := os.Stat(filepath.Join(env.Dir, "state")); !os.IsNotExist(err) {
			t.Fatalf("a failed preflight created state: %v", err)
		}
	})
}
