package tray

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

type harness struct {
	t      *testing.T
	client *fakeClient
	clock  *fakeClock
	ctrl   *Controller
	views  chan View
	done   chan error
	cancel context.CancelFunc
}

func newHarness(t *testing.T, client *fakeClient, tweak func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, client: client, clock: newFakeClock(), views: make(chan View, 1000), done: make(chan error, 1)}
	cfg := Config{
		Client:  client,
		Lang:    English,
		Version: "1.4.1",
		Render:  func(v View) { h.views <- v },
		Now:     h.clock.Now,
		After:   h.clock.After,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h.ctrl = NewController(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.ctrl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

// wait returns the first rendered view that satisfies ok.
func (h *harness) wait(what string, ok func(View) bool) View {
	h.t.Helper()
	stop := time.After(deadline)
	var last View
	for {
		select {
		case v := <-h.views:
			if ok(v) {
				return v
			}
			last = v
		case <-stop:
			h.t.Fatalf("never saw a view with %s; last: %s %q notice %q", what, last.Icon, last.Status, last.Item(ItemNotice).Label)
		}
	}
}

func iconIs(i Icon) func(View) bool { return func(v View) bool { return v.Icon == i } }

func noticeHas(s string) func(View) bool {
	return func(v View) bool { n := v.Item(ItemNotice); return n.Visible && strings.Contains(n.Label, s) }
}

func upClient() *fakeClient {
	return &fakeClient{up: true, st: *status("normal", "auto", true)}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	for n := 0; n < 8; n++ {
		got = append(got, Backoff(n, 30*time.Second))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
}

// TestReconnects: grey while the service is away, retries with growing
// waits, green when it comes back, and the same after a restart.
func TestReconnects(t *testing.T) {
	t.Parallel()
	c := upClient()
	c.up = false
	h := newHarness(t, c, nil)
	h.wait("grey", iconIs(IconGrey))
	h.clock.Fire(t, 1*time.Second)
	h.clock.Fire(t, 2*time.Second)
	h.clock.WaitPending(t, 4*time.Second) // the third attempt failed
	c.start()
	h.clock.Fire(t, 4*time.Second)
	v := h.wait("green after the service started", iconIs(IconGreen))
	if !v.Item(ItemMode).Enabled {
		t.Errorf("mode item disabled while connected")
	}

	// Restart: the event stream closes, the service is briefly away.
	c.stop()
	h.clock.Fire(t, 1*time.Second) // reconnect after the stream ended
	h.wait("grey while restarting", iconIs(IconGrey))
	c.start()
	h.clock.Fire(t, 2*time.Second)
	h.wait("green after the restart", iconIs(IconGreen))

	// Live updates reach the view without polling.
	c.set(func(s *control.Status) { s.State = "outage"; s.Unprotected = []string{"pay.tickets.example"} })
	h.wait("red in an outage with a gap", iconIs(IconRed))
	c.set(func(s *control.Status) { s.State = "recovering"; s.Unprotected = nil })
	h.wait("amber while recovering", iconIs(IconAmber))
}

// TestPollsWithoutEvents: a service without live updates is polled.
func TestPollsWithoutEvents(t *testing.T) {
	t.Parallel()
	c := upClient()
	c.noEvents = true
	h := newHarness(t, c, nil)
	h.wait("green", iconIs(IconGreen))
	c.set(func(s *control.Status) { s.State = "degraded" })
	h.clock.Fire(t, 5*time.Second)
	h.wait("amber after a poll", iconIs(IconAmber))
}

// TestStatusClickRefreshes: the status sentence is an enabled item; a
// click re-reads the status at once, and while the service is away it
// reconnects at once instead of waiting for the next retry.
func TestStatusClickRefreshes(t *testing.T) {
	t.Parallel()
	c := upClient()
	c.noEvents = true // only a poll or the click can bring the change
	h := newHarness(t, c, nil)
	h.wait("green", iconIs(IconGreen))
	c.set(func(s *control.Status) { s.State = "degraded" })
	h.ctrl.Click(ItemStatus)
	h.wait("amber right after the click, no poll", iconIs(IconAmber))

	c.stop()
	h.clock.Fire(t, 5*time.Second) // the poll finds the service gone
	h.wait("grey while the service is away", iconIs(IconGrey))
	c.start()
	h.ctrl.Click(ItemStatus)
	v := h.wait("amber again right after the click, no retry timer fired", iconIs(IconAmber))
	if !v.Item(ItemStatus).Enabled {
		t.Error("status item disabled")
	}
}

// TestModeSwitch: the click reaches the service, the menu shows progress,
// clicks never block, and only one action runs at a time.
func TestModeSwitch(t *testing.T) {
	t.Parallel()
	c := upClient()
	gate := make(chan struct{})
	c.modeGate = gate
	h := newHarness(t, c, nil)
	h.wait("green", iconIs(IconGreen))

	h.ctrl.Click(ItemMode)
	v := h.wait("switching", noticeHas("Switching"))
	if v.Item(ItemMode).Enabled || v.Item(ItemCheck).Enabled {
		t.Errorf("action items enabled while switching")
	}
	// The service is slow; the UI keeps clicking and must never wait.
	for i := 0; i < 100; i++ {
		h.ctrl.Click(ItemCheck)
		h.ctrl.Click(ItemMode)
	}
	// Let the loop take every queued click while the switch is still
	// running, so none of them can count as a click after it.
	stop := time.After(deadline)
	for len(h.ctrl.clicks) > 0 {
		select {
		case <-stop:
			t.Fatal("clicks not taken")
		default:
			runtime.Gosched()
		}
	}
	close(gate)
	v = h.wait("pinned", func(v View) bool { return v.Item(ItemMode).Label == "Return to automatic" })
	if v.Icon != IconAmber || v.Item(ItemNotice).Visible {
		t.Errorf("after switching: %s, notice %+v", v.Icon, v.Item(ItemNotice))
	}
	if got := c.modeCalls(); !slices.Equal(got, []string{"pinned"}) {
		t.Fatalf("SetMode calls %q, want one \"pinned\" (clicks while busy are ignored)", got)
	}
	c.mu.Lock()
	checks := c.checks
	c.mu.Unlock()
	if checks != 0 {
		t.Errorf("%d checks ran while switching", checks)
	}

	h.ctrl.Click(ItemMode)
	h.wait("automatic again", func(v View) bool { return v.Item(ItemMode).Label == "Use backup addresses now" && v.Icon == IconGreen })
	if got := c.modeCalls(); len(got) < 2 || got[len(got)-1] != "auto" {
		t.Fatalf("SetMode calls %q, want the last one \"auto\"", got)
	}
}

func TestModeSwitchFails(t *testing.T) {
	t.Parallel()
	c := upClient()
	c.modeErr = errors.New("403 forbidden")
	h := newHarness(t, c, nil)
	h.wait("green", iconIs(IconGreen))
	h.ctrl.Click(ItemMode)
	h.wait("failure notice", noticeHas("Could not switch"))
	h.clock.Fire(t, 2*time.Minute)
	h.wait("notice cleared", func(v View) bool { return !v.Item(ItemNotice).Visible })
}

func TestCheck(t *testing.T) {
	t.Parallel()
	c := upClient()
	c.check = control.CheckReport{OK: false, Results: []control.CheckResult{
		{Name: "system-uses-dnspin", OK: true}, {Name: "resolve:shop.tickets.example", OK: false}, {Name: "reach:192.0.2.10:443", OK: false},
	}}
	h := newHarness(t, c, func(cfg *Config) { cfg.Lang = German })
	h.wait("green", iconIs(IconGreen))
	h.ctrl.Click(ItemCheck)
	h.wait("two problems", noticeHas("2 Probleme"))
	c.mu.Lock()
	c.check = control.CheckReport{OK: true}
	c.mu.Unlock()
	h.ctrl.Click(ItemCheck)
	h.wait("all fine", noticeHas("alles in Ordnung"))
	c.mu.Lock()
	c.checkErr = context.DeadlineExceeded
	c.mu.Unlock()
	h.ctrl.Click(ItemCheck)
	h.wait("check failed", noticeHas("konnte nicht"))
}

// TestFrozenService: a call that never answers is cut off by its timeout,
// the user is told, and the menu works again.
func TestFrozenService(t *testing.T) {
	t.Parallel()
	c := upClient()
	c.hang = true
	h := newHarness(t, c, func(cfg *Config) { cfg.CheckTime = 50 * time.Millisecond })
	h.wait("green", iconIs(IconGreen))
	h.ctrl.Click(ItemCheck)
	h.wait("checking", noticeHas("Checking"))
	v := h.wait("check failed", noticeHas("could not run"))
	if !v.Item(ItemCheck).Enabled || !v.Item(ItemMode).Enabled {
		t.Errorf("menu still busy after the timeout")
	}
}

// TestSaveReport writes a real file into a temporary desktop.
func TestSaveReportAction(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	desktop := filepath.Join(home, "Bureau")
	if err := os.Mkdir(desktop, 0o755); err != nil {
		t.Fatal(err)
	}
	c := upClient()
	c.report = []byte(`{"status":{"state":"normal"}}`)
	h := newHarness(t, c, func(cfg *Config) {
		cfg.Lang = French
		cfg.SaveReport = func(data []byte, now time.Time) (Place, string, error) {
			return SaveReport([]ReportDir{{PlaceDesktop, desktop}, {PlaceOther, home}}, data, now)
		}
	})
	h.wait("green", iconIs(IconGreen))
	h.ctrl.Click(ItemReport)
	v := h.wait("saved", noticeHas("sur le Bureau"))
	name := "dnspin-report-20261126-003000.txt"
	if !strings.HasSuffix(v.Item(ItemNotice).Label, name) {
		t.Errorf("notice %q does not name %s", v.Item(ItemNotice).Label, name)
	}
	got, err := os.ReadFile(filepath.Join(desktop, name))
	if err != nil || string(got) != string(c.report) {
		t.Fatalf("report file: %q, %v", got, err)
	}

	// Service gone before the tray noticed: a plain failure message.
	c.stop()
	h.ctrl.Click(ItemReport)
	h.wait("failure", noticeHas("n’a pas pu"))
}

func TestRecentBackupFades(t *testing.T) {
	t.Parallel()
	c := upClient()
	c.st.Answers.Pinned = 10
	h := newHarness(t, c, nil)
	h.wait("green", iconIs(IconGreen))
	c.set(func(s *control.Status) { s.Answers.Pinned = 12 })
	v := h.wait("amber", iconIs(IconAmber))
	if !strings.Contains(v.Status, "just now") {
		t.Errorf("status %q", v.Status)
	}
	// Periodic refreshes; after five minutes without new backup answers
	// the icon is green again.
	for i := 0; i < 10; i++ {
		h.clock.Fire(t, 30*time.Second)
	}
	h.wait("green again", iconIs(IconGreen))
}

func TestQuit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, upClient(), nil)
	h.wait("green", iconIs(IconGreen))
	h.ctrl.Click(ItemQuit)
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(deadline):
		t.Fatal("Run did not return after Quit")
	}
}
