package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/internal/daemon/daemontest"
	"github.com/dnspin/dnspin/resolver"
)

// startDaemon runs the whole daemon (resolver, control API, watcher) for
// the config at path and returns its resolver once it answers.
func startDaemon(t *testing.T, path string) *resolver.Resolver {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *resolver.Resolver, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Options{Logger: newLogger(&strings.Builder{}), Ring: control.NewLogRing(50, nil), Ready: func(r *resolver.Resolver) { ready <- r }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon stopped with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	select {
	case r := <-ready:
		return r
	case err := <-done:
		done <- nil // it has stopped: the cleanup must not wait for it again
		t.Fatalf("daemon: %v", err)
	}
	return nil
}

// TestDaemonControlAPI drives the running daemon the way support and the
// tray do: status, mode and reload over the real control socket, answers
// over real DNS.
func TestDaemonControlAPI(t *testing.T) {
	up := daemontest.StartUpstream(t)
	path := daemontest.WriteConfig(t, up)
	r := startDaemon(t, path)
	addr := r.Addrs()[0]

	if code, out, errs := runCmd(t, "query", "shop.tickets.test", "--server", addr); code != 0 || !strings.Contains(out, "198.18.0.1") {
		t.Fatalf("live query: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runCmd(t, "mode", "pinned", "--config", path); code != 0 {
		t.Fatalf("mode pinned: exit %d\n%s%s", code, out, errs)
	}
	if r.Mode() != resolver.ModePinned {
		t.Fatalf("mode after `dnspin mode pinned` = %s", r.Mode())
	}
	if code, out, errs := runCmd(t, "query", "shop.tickets.test", "--server", addr); code != 0 || !strings.Contains(out, "192.0.2.10") {
		t.Fatalf("pinned query: exit %d\n%s%s", code, out, errs)
	}

	code, out, errs := runCmd(t, "status", "--json", "--config", path)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out, errs)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	if st.Mode != "pinned" || st.State != "normal" || st.Answers.Pinned < 1 || st.Answers.Upstream < 1 ||
		st.Platform.Pins != 1 || len(st.Upstreams) != 1 || st.Upstreams[0].Address != up || st.Activated {
		t.Fatalf("status = %+v", st)
	}

	// Reload: a pin added to the file answers without a restart, and the
	// mode chosen at run time stays.
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src = append(src, []byte("[[pin]]\nname = \"box.tickets.test\"\na = [\"192.0.2.77\"]\n")...)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := control.NewClient(cfg.Control).Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if code, out, errs := runCmd(t, "query", "box.tickets.test", "--server", addr); code != 0 || !strings.Contains(out, "192.0.2.77") {
		t.Fatalf("query of the reloaded pin: exit %d\n%s%s", code, out, errs)
	}
	if r.Mode() != resolver.ModePinned {
		t.Errorf("mode after reload = %s, want pinned (chosen at run time, the file did not change it)", r.Mode())
	}
}
