package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/daemon/daemontest"
	"github.com/dnspin/dnspin/resolver"
)

// TestFollowResolverMissesNoChange: a mode or state change that comes while
// the daemon is still passing on the previous one must reach the control
// API's subscribers too (the tray would show a stale state until the next
// change).
func TestFollowResolverMissesNoChange(t *testing.T) {
	cfg, err := config.Load(daemontest.WriteConfig(t, daemontest.StartUpstream(t)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(ResolverSettings(cfg, nil), resolver.Options{})
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
	path := daemontest.WriteConfig(t, daemontest.StartUpstream(t))
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
	res, err := resolver.New(ResolverSettings(cfg, nil), resolver.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	root, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &daemon{log: log, cfg: cfg, res: res, root: root, act: activation.Options{StateDir: cfg.StateDir, Logger: log}}
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
