package nstest_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/nstest"
)

func TestMain(m *testing.M) {
	nstest.Main(m, map[string]func(args []string) int{
		"dns-server": func(args []string) int {
			srv, err := serve(args[0], "198.51.100.7")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer srv.Shutdown()
			fmt.Println(nstest.Ready)
			select {} // until killed
		},
	})
}

// serve answers every A question with addr, on UDP at listen.
func serve(listen, addr string) (*dns.Server, error) {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return nil, err
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.ParseIP(addr)})
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	return srv, nil
}

func TestNamespaceResolvesThroughLibc(t *testing.T) {
	host, hostErr := os.ReadFile(nstest.ResolvConfPath)
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		if got := string(nstest.ReadResolvConf(t)); got != "nameserver 127.0.0.2\n" {
			t.Fatalf("resolv.conf in the namespace = %q", got)
		}
		srv, err := serve("127.0.0.2:53", "198.51.100.1")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		got := nstest.MustGetent(t, "ahostsv4", "hello.test")
		if want := []netip.Addr{netip.MustParseAddr("198.51.100.1")}; len(got) != 1 || got[0] != want[0] {
			t.Fatalf("getent = %v, want %v", got, want)
		}
		// The overlay lets code replace resolv.conf by rename.
		nstest.WriteResolvConfBehindBack(t, "nameserver 127.0.0.3\n", 0o600)
		if st, err := os.Stat(nstest.ResolvConfPath); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("rewritten resolv.conf: %v %v", st, err)
		}
		if _, err := os.Stat(env.Dir); err != nil {
			t.Fatal(err)
		}
	})
	if nstest.InNamespace() {
		return // the comparison below is about the host
	}
	after, afterErr := os.ReadFile(nstest.ResolvConfPath)
	if !bytes.Equal(host, after) || (hostErr == nil) != (afterErr == nil) {
		t.Fatalf("the host's resolv.conf changed: %q -> %q", host, after)
	}
}

func TestBindMountedResolvConfIsBusy(t *testing.T) {
	nstest.Run(t, nstest.Options{BindMountResolvConf: true, ResolvConf: "nameserver 127.0.0.9\n", ResolvConfMode: 0o640}, func(t *testing.T, env *nstest.Env) {
		if err := os.WriteFile("/etc/x", []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename("/etc/x", nstest.ResolvConfPath); !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("rename over a bind-mounted resolv.conf: %v, want EBUSY", err)
		}
		st, err := os.Stat(nstest.ResolvConfPath)
		if err != nil || st.Mode().Perm() != 0o640 {
			t.Fatalf("stat: %v %v", st, err)
		}
	})
}

func TestSymlinkedResolvConf(t *testing.T) {
	const target = "/run/systemd/resolve/stub-resolv.conf"
	nstest.Run(t, nstest.Options{Symlink: target, ResolvConf: "nameserver 127.0.0.53\n"}, func(t *testing.T, env *nstest.Env) {
		l, err := os.Readlink(nstest.ResolvConfPath)
		if err != nil || l != target {
			t.Fatalf("readlink = %q, %v", l, err)
		}
		if got := string(nstest.ReadResolvConf(t)); got != "nameserver 127.0.0.53\n" {
			t.Fatalf("content %q", got)
		}
	})
}

func TestSpawnAndKill(t *testing.T) {
	nstest.Run(t, nstest.Options{ResolvConf: "nameserver 127.0.0.1\nnameserver 127.0.0.2\n"}, func(t *testing.T, env *nstest.Env) {
		p := env.Spawn(t, "dns-server", "127.0.0.1:53")
		if got := nstest.MustGetent(t, "ahostsv4", "a.test"); len(got) != 1 || got[0].String() != "198.51.100.7" {
			t.Fatalf("through the helper: %v", got)
		}
		srv, err := serve("127.0.0.2:53", "198.51.100.2")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		// With the first server gone (ICMP port unreachable), glibc asks the
		// second at once.
		if got := nstest.MustGetent(t, "ahostsv4", "a.test"); len(got) != 1 || got[0].String() != "198.51.100.2" {
			t.Fatalf("after kill -9: %v", got)
		}
	})
}
