package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// startDnspin runs the real resolver in-process on listen, in pinned mode
// with shop.tickets.example pinned to 127.0.0.1 (so the "platform" is a
// listener in the namespace).
func startDnspin(t *testing.T, listen string) {
	t.Helper()
	r, err := resolver.New(resolver.Config{
		Listen:  []netip.AddrPort{netip.MustParseAddrPort(listen)},
		Domains: []string{"tickets.example"},
		Pins:    []resolver.Pin{{Name: "shop.tickets.example", A: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}},
		Mode:    resolver.ModePinned,
	}, resolver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
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
		startDnspin(t, "127.0.0.1:53")
		pinverifytest.ServeAccept(t, "127.0.0.1:443") // the "platform", reachable
		cfg := writeActivateConfig(t, env.Dir, fmt.Sprintf(`
listen = ["127.0.0.1:53"]
activation = "full"
state_dir = %q
[platform]
name = "Example Tickets"
domains = ["tickets.example"]
verify_interval = "0s" # check only dials the plain TCP listener (TLS checks: pincheck_linux_test.go)
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
		startDnspin(t, "127.0.0.1:53")
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

// runDaemonUntilStopped runs the whole daemon for cfgPath until the returned stop is
// called.
func runDaemonUntilStopped(t *testing.T, cfgPath string) (stop func()) {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Options{Logger: newLogger(io.Discard), Ready: func(*resolver.Resolver) { ready <- struct{}{} }})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("daemon: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestServiceRestartReapplies: the service is stopped while active (journal
// left behind, as after a crash or reboot); the next start restores the
// original, resolves "system" upstreams from it (not from dnspin's own
// file) and activates again; deactivate is still exact.
func TestServiceRestartReapplies(t *testing.T) {
	orig := "nameserver 127.0.0.2\noptions edns0\n"
	nstest.Run(t, nstest.Options{ResolvConf: orig, ResolvConfMode: 0o644}, func(t *testing.T, env *nstest.Env) {
		resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{Listen: "127.0.0.2:53", Default: "198.51.100.2"})
		cfg := writeActivateConfig(t, env.Dir, fmt.Sprintf(`
listen = ["127.0.0.1:53"]
activation = "full"
state_dir = %q
control = %q
[platform]
domains = ["tickets.example"]
[[pin]]
name = "shop.tickets.example"
a = ["192.0.2.10"]
`, filepath.Join(env.Dir, "state"), filepath.Join(env.Dir, "control.sock")))
		stop := runDaemonUntilStopped(t, cfg)
		if code, out, errs := runCmd(t, "activate", "--config", cfg); code != 0 {
			t.Fatalf("activate: exit %d\n%s\n%s", code, out, errs)
		}
		if got := nstest.MustGetent(t, "ahostsv4", "www.other.example"); len(got) != 1 || got[0].String() != "198.51.100.2" {
			t.Fatalf("through dnspin to the system upstream: %v", got)
		}
		stop()
		if got := nstest.MustGetent(t, "ahostsv4", "www.other.example"); len(got) != 1 || got[0].String() != "198.51.100.2" {
			t.Fatalf("service stopped, original server after dnspin: %v", got)
		}

		runDaemonUntilStopped(t, cfg)
		if got := string(nstest.ReadResolvConf(t)); !strings.HasPrefix(got, activation.Marker) || !strings.Contains(got, "nameserver 127.0.0.1\nnameserver 127.0.0.2\n") {
			t.Fatalf("after the restart resolv.conf is %q", got)
		}
		j, err := activation.ReadJournal(activation.OSFS{}, filepath.Join(env.Dir, "state"))
		if err != nil || j == nil || !j.Active || string(j.Records[0].Data) != orig || strings.Join(j.Nameservers, ",") != "127.0.0.2" {
			t.Fatalf("journal after the restart: %+v %v", j, err)
		}
		// The live answer; the pin only while a loaded machine makes the
		// live one miss answer_budget (the spec's fallback), so ask again.
		for stop := time.Now().Add(20 * time.Second); ; {
			got := nstest.MustGetent(t, "ahostsv4", "shop.tickets.example")
			if len(got) == 1 && got[0].String() == "192.0.2.10" && time.Now().Before(stop) {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if len(got) != 1 || got[0].String() != "198.51.100.2" {
				t.Fatalf("after the restart: %v", got)
			}
			break
		}
		if code, out, errs := runCmd(t, "deactivate", "--config", cfg); code != 0 {
			t.Fatalf("deactivate: exit %d\n%s\n%s", code, out, errs)
		}
		if got := string(nstest.ReadResolvConf(t)); got != orig {
			t.Fatalf("deactivate: %q", got)
		}
	})
}
