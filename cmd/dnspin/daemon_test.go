package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnspin/dnspin/installer"
	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/control"
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
		done <- runDaemon(ctx, newLogger(&strings.Builder{}), control.NewLogRing(50, nil), cfg, nil, func(r *resolver.Resolver) { ready <- r })
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
	up := startUpstream(t)
	path := writeConfig(t, up)
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

// TestFollowResolverMissesNoChange: a mode or state change that comes while
// the daemon is still passing on the previous one must reach the control
// API's subscribers too (the tray would show a stale state until the next
// change).
func TestFollowResolverMissesNoChange(t *testing.T) {
	cfg, err := config.Load(writeConfig(t, startUpstream(t)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolverSettings(cfg, nil), resolver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{res: res}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.followResolver(ctx)

	modes := []resolver.Mode{resolver.ModeAuto, resolver.ModePinned}
	cur := 0
	toggle := func() { cur = 1 - cur; res.SetMode(modes[cur]) }
	// followResolver subscribes in its own goroutine: change the mode
	// until it passes one change on.
	ch := d.Changed()
	for started := false; !started; {
		toggle()
		select {
		case <-ch:
			started = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	wait := func(ch <-chan struct{}, i int) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: a change close behind another was not passed on to the control API", i)
		}
	}
	for i := range 200 {
		ch := d.Changed()
		toggle()
		wait(ch, i)
		// Right after the daemon passed that change on, while it may still
		// be reading the status: the next one.
		ch = d.Changed()
		toggle()
		wait(ch, i)
	}
}

// gateHandler is a slog handler that holds the first record whose message
// contains msg, once armed, until release is closed: it stops a goroutine
// at a known point of its work.
type gateHandler struct {
	msg      string
	armed    atomic.Bool
	held     chan struct{} // closed when a record is being held
	release  chan struct{}
	holdOnce sync.Once
}

func (g *gateHandler) Enabled(context.Context, slog.Level) bool { return true }
func (g *gateHandler) WithAttrs([]slog.Attr) slog.Handler       { return g }
func (g *gateHandler) WithGroup(string) slog.Handler            { return g }
func (g *gateHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, g.msg) && g.armed.Load() {
		first := false
		g.holdOnce.Do(func() { first = true })
		if first {
			close(g.held)
			<-g.release
		}
	}
	return nil
}

// TestOverlappingReloadsOneFetcher: a reload that starts while another is
// still replacing the bundle fetcher must not leave a fetcher running that
// the daemon no longer knows: it would keep applying bundles of a config
// that is gone (e.g. signed with a key the admin has just replaced).
func TestOverlappingReloadsOneFetcher(t *testing.T) {
	path := writeConfig(t, startUpstream(t))
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback refuses at once: fetchers fail their first round
	// and then wait for their refresh.
	src = bytes.Replace(src, []byte("[platform]\n"), []byte("[platform]\nname = \"Example Tickets\"\n"), 1)
	src = append(src, fmt.Sprintf("[bundle]\nurls = [\"https://127.0.0.1:1/pins.json\"]\npublic_key = %q\n", bundle.FormatPublicKey(pub))...)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// A damaged stored bundle makes every new fetcher log one warning: the
	// gate holds the first reload there, between stopping the old fetcher
	// and installing its own.
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "bundle"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "bundle", "bundle.json"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	gate := &gateHandler{msg: "stored bundle", held: make(chan struct{}), release: make(chan struct{})}
	log := slog.New(gate)
	res, err := resolver.New(resolverSettings(cfg, nil), resolver.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	root, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &daemon{log: log, cfg: cfg, res: res, root: root, inst: installer.Options{StateDir: cfg.StateDir, Logger: log}}
	d.startFetcher(cfg)
	gate.armed.Store(true)

	reload := func() <-chan error {
		done := make(chan error, 1)
		go func() { done <- d.Reload(context.Background()) }()
		return done
	}
	first := reload()
	select { // the first reload has stopped the old fetcher, not yet installed its own
	case <-gate.held:
	case err := <-first:
		t.Fatalf("the first reload did not log about the damaged stored bundle (err %v)", err)
	}
	second := reload()
	select { // without serialised reloads the second one completes now
	case err := <-second:
		second = nil
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
	}
	close(gate.release)
	for _, ch := range []<-chan error{first, second} {
		if ch != nil {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
	}

	d.stopFetcherAndWait()
	done := make(chan struct{})
	go func() { d.fetchers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a bundle fetcher still runs after the daemon stopped the one it knows: overlapping reloads orphaned it")
	}
}
