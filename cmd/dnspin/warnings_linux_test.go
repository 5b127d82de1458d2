package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver"
)

// TestStartWarningsLogged runs the daemon with allow_remote on a
// non-loopback address (in a fresh network namespace) and a config without
// platform domains: its log says, once each, what is exposed (the address
// and port actually bound, the client list) and that nothing is protected.
func TestStartWarningsLogged(t *testing.T) {
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		path := filepath.Join(env.Dir, "dnspin.toml")
		src := fmt.Sprintf("listen = [\"127.0.0.1:0\", \"%s:0\"]\nallow_remote = true\nallow_clients = [\"198.51.100.0/24\"]\nupstreams = [\"127.0.0.1:9\"]\nstate_dir = %q\ncontrol = %q\n",
			nstest.VethAddr, env.Dir, filepath.Join(env.Dir, "dnspin.sock"))
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		var log nstest.SyncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan *resolver.Resolver, 1)
		done := make(chan error, 1)
		go func() {
			done <- daemon.Run(ctx, cfg, daemon.Options{Logger: newLogger(&log), Ready: func(r *resolver.Resolver) { ready <- r }})
		}()
		var r *resolver.Resolver
		select {
		case r = <-ready:
		case err := <-done:
			t.Fatalf("daemon: %v\n%s", err, log.String())
		case <-time.After(30 * time.Second): // a safety net, not a timing assertion
			t.Fatal("daemon never answered")
		}
		remote := r.Addrs()[1]
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
		for _, want := range []string{
			"allow_remote is on: other machines can ask dnspin on " + remote + " (UDP and TCP); allowed clients: loopback, 198.51.100.0/24; everyone else gets REFUSED",
			path + " protects no names: it has no [platform] domains, so dnspin only forwards DNS; add them under [platform], e.g. domains = [\"tickets.example\"]",
		} {
			line := "level=WARN msg=" + strconv.Quote(want)
			if n := strings.Count(log.String(), line); n != 1 {
				t.Errorf("log has %d lines\n%s\nwant one; log:\n%s", n, line, log.String())
			}
		}
		if strings.HasSuffix(remote, ":0") {
			t.Errorf("bound address %s: the warning must name the real port", remote)
		}
	})
}
